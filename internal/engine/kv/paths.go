package kv

import (
	"context"

	"github.com/keyward/keyward/internal/logical"
)

const v1Help = `The kv secrets engine, version 1, stores one unversioned JSON object
at each path: a write replaces it, a delete removes it.`

const v2Help = `The kv secrets engine, version 2, keeps versions of each secret with
their metadata: writes add a version (check-and-set with options.cas), old
versions can be read, soft-deleted, undeleted or destroyed, and the
metadata sets how many versions are kept and when they are deleted.`

// ops is shorthand for a route's operation table.
type ops = map[logical.Operation]logical.Handler

var pathDoc = logical.Field{Name: "path", InPath: true, Description: "The secret's path within the mount."}

var (
	maxVersionsDoc = logical.Field{Name: "max_versions", Type: logical.TypeInt, Description: "Versions kept per secret; the oldest is removed beyond it (0: the default of 10)."}
	casRequiredDoc = logical.Field{Name: "cas_required", Type: logical.TypeBool, Description: "Require options.cas on every write."}
	deleteAfterDoc = logical.Field{Name: "delete_version_after", Type: logical.TypeDuration, Description: "Soft-delete each version this long after it is written (0: never)."}
)

var configDocs = logical.Fields{maxVersionsDoc, casRequiredDoc, deleteAfterDoc}

var metadataDocs = logical.Fields{
	pathDoc, maxVersionsDoc, casRequiredDoc, deleteAfterDoc,
	{Name: "custom_metadata", Type: logical.TypeKVPairs, Description: "Metadata of your own: at most 64 keys of up to 128 bytes, values of up to 512 bytes."},
}

var dataDocs = logical.Fields{
	pathDoc,
	{Name: "data", Type: logical.TypeMap, Description: "The secret: a JSON object of key-value pairs (write, patch)."},
	{Name: "options", Type: logical.TypeMap, Description: "Write options: cas, the current version the write must follow (0: only if the secret does not exist)."},
	{Name: "version", Type: logical.TypeInt, Description: "The version to read (query parameter; default: the current one)."},
}

var versionsDocs = logical.Fields{
	pathDoc,
	{Name: "versions", Type: logical.TypeSlice, Description: "The version numbers to act on."},
}

var subkeysDocs = logical.Fields{
	pathDoc,
	{Name: "version", Type: logical.TypeInt, Description: "The version to read (default: the current one)."},
	{Name: "depth", Type: logical.TypeInt, Description: "How deep to descend into nested objects (0: all the way)."},
}

func (b *v2Backend) routes() []logical.Route {
	return []logical.Route{
		{Pattern: "config", Ops: ops{logical.ReadOperation: b.readConfig, logical.UpdateOperation: b.writeConfig},
			Synopsis: "Read or set the defaults of every secret of the mount.", Fields: configDocs},
		{Pattern: "data/{path*}",
			Ops: ops{
				logical.ReadOperation:   named(b.readData),
				logical.UpdateOperation: named(b.writeData),
				logical.PatchOperation:  named(b.patchData),
				logical.DeleteOperation: named(b.deleteLatest),
			},
			Exists:      b.secretExists,
			Synopsis:    "Read, write, patch or soft-delete the current version of a secret.",
			Description: "A write adds a version; a patch merges into the current one (JSON merge patch); a delete soft-deletes the current version. A read of a deleted or destroyed version answers 404 with its metadata.",
			Fields:      dataDocs},
		{Pattern: "metadata/{path*}",
			Ops: ops{
				logical.ReadOperation: named(b.readMetadata),
				logical.UpdateOperation: named(func(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
					return b.writeMetadata(ctx, req, name, false)
				}),
				logical.PatchOperation: named(func(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
					return b.writeMetadata(ctx, req, name, true)
				}),
				logical.DeleteOperation: named(b.deleteMetadata),
				logical.ListOperation:   b.list,
			},
			Exists:      b.secretExists,
			Synopsis:    "Read, write, patch or delete a secret's metadata and settings, or list secrets.",
			Description: "A delete removes the secret with every version. A LIST of a folder names the secrets and folders below it.",
			Fields:      metadataDocs},
		{Pattern: "delete/{path*}", Ops: ops{logical.UpdateOperation: named(b.versionsOp("delete"))},
			Synopsis: "Soft-delete versions of a secret.", Fields: versionsDocs},
		{Pattern: "undelete/{path*}", Ops: ops{logical.UpdateOperation: named(b.versionsOp("undelete"))},
			Synopsis: "Restore soft-deleted versions of a secret.", Fields: versionsDocs},
		{Pattern: "destroy/{path*}", Ops: ops{logical.UpdateOperation: named(b.versionsOp("destroy"))},
			Synopsis: "Destroy versions of a secret for good.", Fields: versionsDocs},
		{Pattern: "subkeys/{path*}", Ops: ops{logical.ReadOperation: named(b.readSubkeys)},
			Synopsis: "Read the keys of a secret's version without its values.", Fields: subkeysDocs},
	}
}

// named wraps fn for a route over one secret: the path checked.
func named(fn func(ctx context.Context, req *logical.Request, name string) (*logical.Response, error)) logical.Handler {
	return func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		if err := checkName(p["path"]); err != nil {
			return nil, err
		}
		return fn(ctx, req, p["path"])
	}
}

func (b *v2Backend) list(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.listMetadata(ctx, req, p["path"])
}

func (b *v2Backend) versionsOp(kind string) func(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	return func(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
		return b.changeVersions(ctx, req, kind, name)
	}
}

// secretExists is the existence check of data/ and metadata/ writes.
func (b *v2Backend) secretExists(ctx context.Context, req *logical.Request, p logical.Params) (bool, error) {
	if checkName(p["path"]) != nil {
		return false, logical.ErrNoExistenceCheck
	}
	m, err := loadMeta(ctx, req.Storage, p["path"])
	return m != nil, err
}
