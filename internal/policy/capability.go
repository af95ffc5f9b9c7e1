package policy

import "strings"

// Capability is a set of ACL capabilities, one bit each.
type Capability uint16

// The capabilities of Vault's ACL policies. CapDeny overrides every other
// capability on the same path pattern.
const (
	CapDeny Capability = 1 << iota
	CapCreate
	CapRead
	CapUpdate
	CapPatch
	CapDelete
	CapList
	CapSudo
)

// capNames lists capabilities in alphabetical order, the order Vault uses
// when it reports capabilities.
var capNames = [...]struct {
	c    Capability
	name string
}{
	{CapCreate, "create"},
	{CapDelete, "delete"},
	{CapDeny, "deny"},
	{CapList, "list"},
	{CapPatch, "patch"},
	{CapRead, "read"},
	{CapSudo, "sudo"},
	{CapUpdate, "update"},
}

// capFromName returns the capability named s, if s names one exactly.
func capFromName(s string) (Capability, bool) {
	for _, cn := range capNames {
		if cn.name == s {
			return cn.c, true
		}
	}
	return 0, false
}

// Strings returns the names of the capabilities in c in alphabetical order.
func (c Capability) Strings() []string {
	var out []string
	for _, cn := range capNames {
		if c&cn.c != 0 {
			out = append(out, cn.name)
		}
	}
	return out
}

// String returns the capability names joined by commas.
func (c Capability) String() string { return strings.Join(c.Strings(), ",") }

// Operation is the kind of request being authorised.
type Operation string

// The operations a request can perform. Each needs the capability of the
// same name.
const (
	OpCreate Operation = "create"
	OpRead   Operation = "read"
	OpUpdate Operation = "update"
	OpPatch  Operation = "patch"
	OpDelete Operation = "delete"
	OpList   Operation = "list"
)

// capability returns the capability op requires, or 0 for an unknown op.
func (op Operation) capability() Capability {
	switch op {
	case OpCreate:
		return CapCreate
	case OpRead:
		return CapRead
	case OpUpdate:
		return CapUpdate
	case OpPatch:
		return CapPatch
	case OpDelete:
		return CapDelete
	case OpList:
		return CapList
	}
	return 0
}
