//go:build !linux

package inject

// nonDumpable does nothing where there is no PR_SET_DUMPABLE: there the
// core limit is the only protection (see ProtectProcess).
func nonDumpable() error { return nil }
