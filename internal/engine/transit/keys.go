package transit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

func (b *backend) listKeys(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, keyPrefix)
	if err != nil {
		return nil, fmt.Errorf("transit: list keys: %w", err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	return &logical.Response{Data: map[string]any{"keys": names}}, nil
}

func (b *backend) createKey(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	route := b.fieldsOf("keys/{name}")
	if err := route.Unknown(req.Data); err != nil {
		return nil, err
	}
	typ, _, err := logical.Str(req.Data, "type")
	if err != nil {
		return nil, err
	}
	if typ == "" {
		typ = typeAES256GCM96
	}
	if err := validType(typ); err != nil {
		return nil, err
	}
	f, err := readKeyFlags(req.Data, typ)
	if err != nil {
		return nil, err
	}
	name := p["name"]
	defer b.lock(name)()
	k, err := loadKey(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		k = &key{Name: name, Type: typ, MinDecryptionVersion: 1, Versions: map[string]keyVersion{}}
		f.apply(k)
		if err := k.rotate(b.now()); err != nil {
			return nil, err
		}
		if err := storeKey(ctx, req.Storage, k); err != nil {
			return nil, err
		}
		b.poke()
	}
	return &logical.Response{Data: k.info()}, nil
}

// keyFlags are the settings fixed when a key is created (or imported).
type keyFlags struct {
	exportable, backup, derived, convergent bool
	autoRotate                              int64
	keySize                                 int
}

// readKeyFlags reads and checks a create's or import's settings for a key
// of type typ, with Vault's rules: convergent encryption needs derived,
// derivation needs a symmetric encryption type, key_size is for hmac keys.
func readKeyFlags(data map[string]any, typ string) (keyFlags, error) {
	var f keyFlags
	var err error
	if f.exportable, _, err = logical.Bool(data, "exportable"); err != nil {
		return f, err
	}
	if f.backup, _, err = logical.Bool(data, "allow_plaintext_backup"); err != nil {
		return f, err
	}
	if f.derived, _, err = logical.Bool(data, "derived"); err != nil {
		return f, err
	}
	if f.convergent, _, err = logical.Bool(data, "convergent_encryption"); err != nil {
		return f, err
	}
	if f.convergent && !f.derived {
		return f, logical.BadRequest("convergent encryption requires derivation to be enabled, so context is required")
	}
	if f.derived && !aeadType(typ) {
		return f, logical.BadRequest("key derivation is supported only for aes256-gcm96 and chacha20-poly1305 keys")
	}
	if f.autoRotate, err = autoRotateField(data); err != nil {
		return f, err
	}
	size, ok, err := logical.Int(data, "key_size")
	if err != nil {
		return f, err
	}
	switch {
	case ok && size != 0 && typ != typeHMAC:
		return f, logical.BadRequest("key_size is only used with key type hmac")
	case typ != typeHMAC:
	case size == 0:
		f.keySize = defaultHMACKeySize
	case size < minHMACKeySize || size > maxHMACKeySize:
		return f, logical.BadRequest("key_size must be between %d and %d bytes", minHMACKeySize, maxHMACKeySize)
	default:
		f.keySize = size
	}
	return f, nil
}

func (f keyFlags) apply(k *key) {
	k.Exportable, k.AllowPlaintextBackup = f.exportable, f.backup
	k.Derived, k.Convergent = f.derived, f.convergent
	k.AutoRotatePeriod, k.KeySize = f.autoRotate, f.keySize
}

// minAutoRotate is the shortest auto_rotate_period, as in Vault.
const minAutoRotate = time.Hour

// autoRotateField reads auto_rotate_period in seconds: 0 disables, else
// at least an hour.
func autoRotateField(data map[string]any) (int64, error) {
	d, ok, err := logical.Duration(data, "auto_rotate_period")
	if err != nil || !ok {
		return 0, err
	}
	if d != 0 && d < minAutoRotate {
		return 0, logical.BadRequest("auto_rotate_period must be 0 to disable or at least an hour")
	}
	return int64(d / time.Second), nil
}

func (b *backend) readKey(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	k, err := loadKey(ctx, req.Storage, p["name"])
	if err != nil || k == nil {
		return nil, err
	}
	return &logical.Response{Data: k.info()}, nil
}

func (b *backend) deleteKey(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	name := p["name"]
	defer b.lock(name)()
	k, err := loadKey(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.BadRequest("could not delete key %q: not found", name)
	}
	if !k.DeletionAllowed {
		return nil, logical.BadRequest("deletion is not allowed for key %q: set deletion_allowed in its config first", name)
	}
	if err := req.Storage.Delete(ctx, keyPrefix+name); err != nil {
		return nil, fmt.Errorf("transit: delete key %q: %w", name, err)
	}
	return nil, nil
}

func (b *backend) rotateKey(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	name := p["name"]
	defer b.lock(name)()
	k, err := loadKey(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.BadRequest("key %q not found", name)
	}
	if k.Imported && !k.AllowRotation {
		return nil, logical.BadRequest("key %q was imported without allow_rotation: add versions with keys/%s/import_version", name, name)
	}
	if err := k.rotate(b.now()); err != nil {
		return nil, err
	}
	if err := storeKey(ctx, req.Storage, k); err != nil {
		return nil, err
	}
	return &logical.Response{Data: k.info()}, nil
}

func (b *backend) configKey(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := b.fieldsOf("keys/{name}/config").Unknown(req.Data); err != nil {
		return nil, err
	}
	name := p["name"]
	defer b.lock(name)()
	k, err := loadKey(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.BadRequest("key %q not found", name)
	}
	var warnings []string
	if v, ok, err := logical.Int(req.Data, "min_decryption_version"); err != nil {
		return nil, err
	} else if ok {
		switch {
		case v < 0:
			return nil, logical.BadRequest("min_decryption_version cannot be negative")
		case v == 0:
			v = 1
			warnings = append(warnings, "key versions start at 1: min_decryption_version set to 1")
		case v > k.LatestVersion:
			return nil, logical.BadRequest("cannot set min_decryption_version to %d: the latest key version is %d", v, k.LatestVersion)
		case v < k.MinAvailableVersion:
			return nil, logical.BadRequest("cannot set min_decryption_version to %d: versions below min_available_version %d were trimmed", v, k.MinAvailableVersion)
		}
		k.MinDecryptionVersion = v
	}
	if v, ok, err := logical.Int(req.Data, "min_encryption_version"); err != nil {
		return nil, err
	} else if ok {
		switch {
		case v < 0:
			return nil, logical.BadRequest("min_encryption_version cannot be negative")
		case v > k.LatestVersion:
			return nil, logical.BadRequest("cannot set min_encryption_version to %d: the latest key version is %d", v, k.LatestVersion)
		case v > 0 && v < k.MinAvailableVersion:
			return nil, logical.BadRequest("cannot set min_encryption_version to %d: versions below min_available_version %d were trimmed", v, k.MinAvailableVersion)
		}
		k.MinEncryptionVersion = v
	}
	if k.MinEncryptionVersion > 0 && k.MinEncryptionVersion < k.MinDecryptionVersion {
		return nil, logical.BadRequest("min_encryption_version (%d) cannot be below min_decryption_version (%d)", k.MinEncryptionVersion, k.MinDecryptionVersion)
	}
	if v, ok, err := logical.Bool(req.Data, "deletion_allowed"); err != nil {
		return nil, err
	} else if ok {
		k.DeletionAllowed = v
	}
	if v, ok, err := logical.Bool(req.Data, "exportable"); err != nil {
		return nil, err
	} else if ok {
		if k.Exportable && !v {
			return nil, logical.BadRequest("exportability cannot be turned off once enabled")
		}
		k.Exportable = v
	}
	if v, ok, err := logical.Bool(req.Data, "allow_plaintext_backup"); err != nil {
		return nil, err
	} else if ok {
		if k.AllowPlaintextBackup && !v {
			return nil, logical.BadRequest("allow_plaintext_backup cannot be turned off once enabled")
		}
		k.AllowPlaintextBackup = v
	}
	if _, ok := req.Data["auto_rotate_period"]; ok {
		if k.AutoRotatePeriod, err = autoRotateField(req.Data); err != nil {
			return nil, err
		}
		if k.AutoRotatePeriod != 0 && k.Imported && !k.AllowRotation {
			return nil, logical.BadRequest("key %q was imported without allow_rotation and cannot auto-rotate", name)
		}
	}
	if err := storeKey(ctx, req.Storage, k); err != nil {
		return nil, err
	}
	b.poke()
	return &logical.Response{Data: k.info(), Warnings: warnings}, nil
}

// trimKey deletes the versions below min_available_version from storage,
// for good. Vault's rules: it cannot go down, nor above
// min_decryption_version, nor above min_encryption_version when set.
func (b *backend) trimKey(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := b.fieldsOf("keys/{name}/trim").Unknown(req.Data); err != nil {
		return nil, err
	}
	minAvail, ok, err := logical.Int(req.Data, "min_available_version")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, logical.BadRequest("missing min_available_version")
	}
	name := p["name"]
	defer b.lock(name)()
	k, err := loadKey(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.BadRequest("key %q not found", name)
	}
	switch {
	case minAvail < 1:
		return nil, logical.BadRequest("min_available_version must be positive")
	case minAvail < k.MinAvailableVersion:
		return nil, logical.BadRequest("min_available_version cannot go down (it is %d): trimmed versions are gone", k.MinAvailableVersion)
	case minAvail > k.MinDecryptionVersion:
		return nil, logical.BadRequest("min_available_version (%d) cannot be above min_decryption_version (%d)", minAvail, k.MinDecryptionVersion)
	case k.MinEncryptionVersion > 0 && minAvail > k.MinEncryptionVersion:
		return nil, logical.BadRequest("min_available_version (%d) cannot be above min_encryption_version (%d)", minAvail, k.MinEncryptionVersion)
	}
	for v := range k.Versions {
		if n, _ := strconv.Atoi(v); n < minAvail {
			delete(k.Versions, v)
		}
	}
	k.MinAvailableVersion = minAvail
	if err := storeKey(ctx, req.Storage, k); err != nil {
		return nil, err
	}
	return &logical.Response{Data: k.info()}, nil
}

// fieldsOf returns the declared fields of the route with pattern, so a
// handler accepts exactly the names its help documents.
func (b *backend) fieldsOf(pattern string) logical.Fields {
	fs, ok := b.fields[pattern]
	if !ok {
		panic("transit: no route " + pattern)
	}
	return fs
}
