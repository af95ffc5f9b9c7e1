package transit

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

const help = `The transit engine encrypts and decrypts data with named keys that never
leave the server, so applications hold no key material.`

// backend serves one transit mount.
type backend struct {
	*logical.Router
	now    func() time.Time
	fields map[string]logical.Fields // by route pattern
	locks  [64]sync.Mutex
	wrapMu sync.Mutex // serialises the wrapping key's creation

	// view is the mount's storage for the rotation loop (nil without a
	// BackendConfig, then nothing rotates in the background).
	view   logical.Storage
	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var (
	_ logical.Backend          = (*backend)(nil)
	_ logical.ExistenceChecker = (*backend)(nil)
	_ logical.Cleaner          = (*backend)(nil)
)

// Factory builds a transit backend for a new mount and starts its
// auto-rotation loop.
func Factory(_ context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := newBackend(time.Now)
	if conf != nil && conf.Storage != nil {
		b.view = conf.Storage
		b.kick = make(chan struct{}, 1)
		b.wg.Add(1)
		go b.rotationLoop()
	}
	return b, nil
}

// newBackend returns a backend reading the clock now, without the loop.
func newBackend(now func() time.Time) *backend {
	b := &backend{now: now, fields: map[string]logical.Fields{}}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	routes := b.routes()
	for _, rt := range routes {
		b.fields[rt.Pattern] = rt.Fields
	}
	b.Router = logical.NewRouter(help, routes...)
	return b
}

// Cleanup stops the rotation loop (the mount is gone, sealed, or this node
// is no longer active).
func (b *backend) Cleanup(context.Context) {
	b.cancel()
	b.wg.Wait()
}

// lock serialises changes to key name; the table is striped by name.
func (b *backend) lock(name string) func() {
	h := fnv.New32a()
	h.Write([]byte(name))
	m := &b.locks[h.Sum32()%uint32(len(b.locks))]
	m.Lock()
	return m.Unlock
}

var nameField = logical.Field{Name: "name", InPath: true, Description: "The key's name."}

func (b *backend) routes() []logical.Route {
	return append([]logical.Route{
		{
			Pattern:  "keys",
			Ops:      map[logical.Operation]logical.Handler{logical.ListOperation: b.listKeys},
			Synopsis: "List the names of the keys.",
		},
		{
			Pattern: "keys/{name}/config",
			Ops:     map[logical.Operation]logical.Handler{logical.UpdateOperation: b.configKey},
			Fields: logical.Fields{nameField,
				{Name: "min_decryption_version", Type: logical.TypeInt, Description: "The oldest version that decrypts."},
				{Name: "min_encryption_version", Type: logical.TypeInt, Description: "The oldest version that encrypts; 0 means the latest."},
				{Name: "deletion_allowed", Type: logical.TypeBool, Description: "Whether the key may be deleted."},
				{Name: "exportable", Type: logical.TypeBool, Description: "Allow export of the key material; cannot be turned off once on."},
				{Name: "allow_plaintext_backup", Type: logical.TypeBool, Description: "Allow backup (with exportable); cannot be turned off once on."},
				{Name: "auto_rotate_period", Type: logical.TypeDuration, Description: "Rotate the key when its latest version is this old (0 disables; at least 1h)."},
			},
			Synopsis: "Configure a key.",
		},
		{
			Pattern:  "keys/{name}/rotate",
			Ops:      map[logical.Operation]logical.Handler{logical.UpdateOperation: b.rotateKey},
			Fields:   logical.Fields{nameField},
			Synopsis: "Add a new version of a key; new encryptions use it.",
		},
		{
			Pattern: "keys/{name}/trim",
			Ops:     map[logical.Operation]logical.Handler{logical.UpdateOperation: b.trimKey},
			Fields: logical.Fields{nameField,
				{Name: "min_available_version", Type: logical.TypeInt, Description: "Versions below this are deleted for good."},
			},
			Synopsis: "Delete old key versions from storage.",
		},
		{
			Pattern: "keys/{name}",
			Ops: map[logical.Operation]logical.Handler{
				logical.UpdateOperation: b.createKey,
				logical.ReadOperation:   b.readKey,
				logical.DeleteOperation: b.deleteKey,
			},
			Fields: logical.Fields{nameField,
				{Name: "type", Type: logical.TypeString, Default: typeAES256GCM96, Description: "aes256-gcm96, chacha20-poly1305, ed25519, ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096 or hmac."},
				{Name: "exportable", Type: logical.TypeBool, Description: "Allow export of the key material (cannot be turned off)."},
				{Name: "allow_plaintext_backup", Type: logical.TypeBool, Description: "Allow backup of the key material (cannot be turned off)."},
				{Name: "derived", Type: logical.TypeBool, Description: "Derive a key per context (aes256-gcm96, chacha20-poly1305)."},
				{Name: "convergent_encryption", Type: logical.TypeBool, Description: "The same plaintext and context give the same ciphertext (needs derived)."},
				{Name: "auto_rotate_period", Type: logical.TypeDuration, Description: "Rotate when the latest version is this old (0 disables; at least 1h)."},
				{Name: "key_size", Type: logical.TypeInt, Default: defaultHMACKeySize, Description: "hmac keys: bytes, 32 to 512."},
			},
			Synopsis: "Create, read or delete a key.",
		},
		{
			Pattern: "encrypt/{name}",
			Ops:     map[logical.Operation]logical.Handler{logical.UpdateOperation: b.encrypt},
			Exists:  b.keyExists,
			Fields: logical.Fields{nameField,
				{Name: "plaintext", Type: logical.TypeString, Description: "Base64 of the data to encrypt."},
				{Name: "key_version", Type: logical.TypeInt, Description: "The version to encrypt with; 0 means the latest."},
				{Name: "associated_data", Type: logical.TypeString, Description: "Base64 of data authenticated but not encrypted."},
				{Name: "type", Type: logical.TypeString, Default: typeAES256GCM96, Description: "The type of a key created on first use."},
				{Name: "reference", Type: logical.TypeString, Description: "Echoed in the batch result."},
				{Name: "batch_input", Type: logical.TypeSlice, Description: "Items to encrypt, each with the fields above."},
				{Name: "partial_failure_response_code", Type: logical.TypeInt, Description: "Status when some batch items fail and others succeed (default 400)."},
				{Name: "context", Type: logical.TypeString, Description: "Base64 key derivation context (required for derived keys; on the first encrypt it makes the key derived)."},
				{Name: "nonce", Type: logical.TypeString, Description: "Refused: convergent encryption derives its nonce."},
			},
			Synopsis:    "Encrypt with a key, creating an aes256-gcm96 key on first use.",
			Description: "A write to a key that does not exist is a create: a policy granting create on the path lets it make the key.",
		},
		{
			Pattern: "decrypt/{name}",
			Ops:     map[logical.Operation]logical.Handler{logical.UpdateOperation: b.decrypt},
			Fields: logical.Fields{nameField,
				{Name: "ciphertext", Type: logical.TypeString, Description: "A vault:vN: ciphertext."},
				{Name: "associated_data", Type: logical.TypeString, Description: "Base64 of the data given at encryption."},
				{Name: "reference", Type: logical.TypeString, Description: "Echoed in the batch result."},
				{Name: "batch_input", Type: logical.TypeSlice, Description: "Items to decrypt."},
				{Name: "partial_failure_response_code", Type: logical.TypeInt, Description: "Status when some batch items fail and others succeed (default 400)."},
				{Name: "context", Type: logical.TypeString, Description: "Base64 key derivation context (required for derived keys; on the first encrypt it makes the key derived)."},
				{Name: "nonce", Type: logical.TypeString, Description: "Refused: convergent encryption derives its nonce."},
			},
			Synopsis: "Decrypt a ciphertext.",
		},
		{
			Pattern: "rewrap/{name}",
			Ops:     map[logical.Operation]logical.Handler{logical.UpdateOperation: b.rewrap},
			Fields: logical.Fields{nameField,
				{Name: "ciphertext", Type: logical.TypeString, Description: "A vault:vN: ciphertext."},
				{Name: "key_version", Type: logical.TypeInt, Description: "The version to re-encrypt with; 0 means the latest."},
				{Name: "associated_data", Type: logical.TypeString, Description: "Base64 of the data given at encryption."},
				{Name: "reference", Type: logical.TypeString, Description: "Echoed in the batch result."},
				{Name: "batch_input", Type: logical.TypeSlice, Description: "Items to rewrap."},
				{Name: "partial_failure_response_code", Type: logical.TypeInt, Description: "Status when some batch items fail and others succeed (default 400)."},
				{Name: "context", Type: logical.TypeString, Description: "Base64 key derivation context (required for derived keys; on the first encrypt it makes the key derived)."},
				{Name: "nonce", Type: logical.TypeString, Description: "Refused: convergent encryption derives its nonce."},
			},
			Synopsis: "Decrypt and re-encrypt under a newer version, never returning the plaintext.",
		},
		randomRoute("random"),
		randomRoute("random/{urlbytes}"),
		hashRoute("hash"),
		hashRoute("hash/{urlalgorithm}"),
		hmacRoute("hmac/{name}", b),
		hmacRoute("hmac/{name}/{urlalgorithm}", b),
		verifyRoute("verify/{name}", b),
		verifyRoute("verify/{name}/{urlalgorithm}", b),
		datakeyRoute(b),
		signRoute("sign/{name}", b),
		signRoute("sign/{name}/{urlalgorithm}", b),
		exportRoute("export/{kind}/{name}", b),
		exportRoute("export/{kind}/{name}/{version}", b),
	}, append(backupRoutes(b), importRoutes(b)...)...)
}

// keyExists is the existence check of encrypt: a missing key makes the
// write a create.
func (b *backend) keyExists(ctx context.Context, req *logical.Request, p logical.Params) (bool, error) {
	k, err := loadKey(ctx, req.Storage, p["name"])
	return k != nil, err
}
