package cert

// GlobMatch exposes the name-constraint matcher to tests.
var GlobMatch = globMatch
