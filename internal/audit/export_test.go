package audit

// MaxEntry is maxEntry, for the black-box tests.
const MaxEntry = maxEntry
