package transit

import (
	"context"
	"fmt"

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
	if err := logical.NotSupported(req.Data, "derived", "convergent_encryption", "auto_rotate_period"); err != nil {
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
	exportable, _, err := logical.Bool(req.Data, "exportable")
	if err != nil {
		return nil, err
	}
	backup, _, err := logical.Bool(req.Data, "allow_plaintext_backup")
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
		if k, err = newKey(name, typ, b.now()); err != nil {
			return nil, err
		}
		k.Exportable, k.AllowPlaintextBackup = exportable, backup
		if err := storeKey(ctx, req.Storage, k); err != nil {
			return nil, err
		}
	}
	return &logical.Response{Data: k.info()}, nil
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
	if err := logical.NotSupported(req.Data, "auto_rotate_period"); err != nil {
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
	if err := storeKey(ctx, req.Storage, k); err != nil {
		return nil, err
	}
	return &logical.Response{Data: k.info(), Warnings: warnings}, nil
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
