package inject

// limitCore does nothing on Windows: there is no core limit. A crash
// dump there is written by Windows Error Reporting or a debugger of the
// same user, which this process cannot refuse; docs/install.md says so.
func limitCore() error { return nil }

// nonDumpable does nothing on Windows: there is no dumpable flag, and a
// process of the same user may open this one (OpenProcess) as it may on
// Unix without PR_SET_DUMPABLE.
func nonDumpable() error { return nil }
