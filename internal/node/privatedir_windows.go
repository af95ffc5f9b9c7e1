package node

// privateDir reports false on Windows: there is no owner uid or mode to
// check (access is an ACL), so the shared keyward-audit-<uid> directory is
// never reused there and each server makes a fresh one with os.MkdirTemp
// in the user's own %TEMP%.
func privateDir(string) bool { return false }
