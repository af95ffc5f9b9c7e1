package report

import (
	"context"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/watch"
)

// Source is what the reports read: the node supplies it over the core
// (core.Inspector), the lease manager and the watch hub.
type Source interface {
	// Mounts lists the secrets engines and auth methods.
	Mounts() []Mount
	// Read sends a read or list request to the backend mounted at mount,
	// without a token.
	Read(ctx context.Context, mount string, op logical.Operation, path string) (*logical.Response, error)
	// Policies returns the stored ACL policies' text by name.
	Policies() map[string]string
	// Leases describes every lease (nil when there is no lease manager).
	Leases() []Lease
	// Access is the access index, nil when access events are off.
	Access() *watch.AccessIndex
}

// Mount is one mount table entry, as the reports see it.
type Mount struct {
	// Path is the full mount path ("secret/", "auth/jwt/").
	Path string
	Type string
	// Auth is true for an auth method.
	Auth    bool
	Options map[string]string
}

// Lease is one lease, without its internal data.
type Lease struct {
	ID         string
	MountPath  string
	Path       string
	IssueTime  time.Time
	ExpireTime time.Time
	MaxExpire  time.Time
	State      string
}
