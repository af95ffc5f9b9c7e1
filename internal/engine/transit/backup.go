package transit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

// backupFormat names the one backup layout: base64 of the JSON object
// {"keyward_transit_backup": 1, "key": <the stored key record>}. It holds
// every version's material in plaintext, which is why backup needs both
// exportable and allow_plaintext_backup. Vault's backups are not read.
const backupFormat = 1

// maxBackupLen bounds a backup blob (base64): room for thousands of RSA-4096
// versions, far short of a request body that could exhaust memory.
const maxBackupLen = 16 << 20

// maxVersion bounds the version numbers a restored key may claim.
const maxVersion = 1 << 24

type backupBlob struct {
	Format int  `json:"keyward_transit_backup"`
	Key    *key `json:"key"`
}

func backupRoutes(b *backend) []logical.Route {
	restoreFields := logical.Fields{
		{Name: "backup", Type: logical.TypeString, Description: "The backup string backup/:name returned."},
		{Name: "force", Type: logical.TypeBool, Description: "Replace a key of the same name."},
	}
	return []logical.Route{
		{
			Pattern:     "backup/{name}",
			Ops:         map[logical.Operation]logical.Handler{logical.ReadOperation: b.backup},
			Fields:      logical.Fields{nameField},
			Synopsis:    "Back up a key with all its versions, in plaintext.",
			Description: "Needs exportable and allow_plaintext_backup on the key. The backup holds the key material: keep it as you would the key.",
		},
		{
			Pattern:  "restore",
			Ops:      map[logical.Operation]logical.Handler{logical.UpdateOperation: b.restore},
			Fields:   restoreFields,
			Synopsis: "Restore a backup under the name it was taken from.",
		},
		{
			Pattern:  "restore/{name}",
			Ops:      map[logical.Operation]logical.Handler{logical.UpdateOperation: b.restore},
			Fields:   append(logical.Fields{nameField}, restoreFields...),
			Synopsis: "Restore a backup under a new name.",
		},
	}
}

func (b *backend) backup(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	name := p["name"]
	k, err := loadKey(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.BadRequest("key %q not found", name)
	}
	if !k.Exportable || !k.AllowPlaintextBackup {
		return nil, logical.BadRequest("key %q cannot be backed up: it needs exportable and allow_plaintext_backup", name)
	}
	s, err := formatBackup(k)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"backup": s}}, nil
}

func (b *backend) restore(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := b.fieldsOf("restore").Unknown(req.Data); err != nil {
		return nil, err
	}
	s, _, err := logical.Str(req.Data, "backup")
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, logical.BadRequest("missing backup")
	}
	force, _, err := logical.Bool(req.Data, "force")
	if err != nil {
		return nil, err
	}
	k, err := parseBackup(s)
	if err != nil {
		return nil, logical.BadRequest("invalid backup: %v", err)
	}
	if name := p["name"]; name != "" {
		k.Name = name
	}
	defer b.lock(k.Name)()
	old, err := loadKey(ctx, req.Storage, k.Name)
	if err != nil {
		return nil, err
	}
	if old != nil && !force {
		return nil, logical.BadRequest("key %q already exists: restore with force=true to replace it", k.Name)
	}
	if err := storeKey(ctx, req.Storage, k); err != nil {
		return nil, err
	}
	b.poke()
	return nil, nil
}

// formatBackup renders k as a backup string.
func formatBackup(k *key) (string, error) {
	raw, err := json.Marshal(backupBlob{Format: backupFormat, Key: k})
	if err != nil {
		return "", fmt.Errorf("transit: encode backup of %q", k.Name)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// parseBackup reads a backup string and checks the key it holds is one
// this engine could have stored (validate). Errors describe the shape,
// never the content.
func parseBackup(s string) (*key, error) {
	if len(s) > maxBackupLen {
		return nil, errors.New("too long")
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var blob backupBlob
	if err := dec.Decode(&blob); err != nil {
		return nil, errors.New("not a Keyward transit backup")
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	if blob.Format != backupFormat || blob.Key == nil {
		return nil, errors.New("not a Keyward transit backup (format 1)")
	}
	if err := blob.Key.validate(); err != nil {
		return nil, err
	}
	return blob.Key, nil
}

// validName reports whether name can be a key's name: one non-empty path
// segment.
func validName(name string) bool {
	return name != "" && len(name) <= 256 && !strings.ContainsAny(name, "/\x00") && name != "." && name != ".."
}

// validate checks k's invariants, as create, config, rotate and trim keep
// them: a served type, versions 1..latest with min_available <=
// min_decryption <= latest and min_encryption 0 or in [min_decryption,
// latest], every version from max(1, min_available) to latest present with
// well-formed material, and flags only where they apply.
func (k *key) validate() error {
	switch {
	case !validName(k.Name):
		return errors.New("bad key name")
	case validType(k.Type) != nil:
		return errors.New("unknown key type")
	case k.LatestVersion < 1 || k.LatestVersion > maxVersion:
		return errors.New("bad latest_version")
	case k.MinDecryptionVersion < 1 || k.MinDecryptionVersion > k.LatestVersion:
		return errors.New("bad min_decryption_version")
	case k.MinEncryptionVersion != 0 && (k.MinEncryptionVersion < k.MinDecryptionVersion || k.MinEncryptionVersion > k.LatestVersion):
		return errors.New("bad min_encryption_version")
	case k.MinAvailableVersion < 0 || k.MinAvailableVersion > k.MinDecryptionVersion:
		return errors.New("bad min_available_version")
	case k.Convergent && !k.Derived, k.Derived && !aeadType(k.Type):
		return errors.New("derived or convergent_encryption on a key that cannot have it")
	case k.AutoRotatePeriod != 0 && k.AutoRotatePeriod < int64(minAutoRotate.Seconds()):
		return errors.New("bad auto_rotate_period")
	case k.Type == typeHMAC && (k.KeySize < minHMACKeySize || k.KeySize > maxHMACKeySize), k.Type != typeHMAC && k.KeySize != 0:
		return errors.New("bad key_size")
	case k.AllowRotation && !k.Imported:
		return errors.New("allow_rotation on a key that was not imported")
	}
	first := max(1, k.MinAvailableVersion)
	if len(k.Versions) != k.LatestVersion-first+1 {
		return errors.New("versions missing or out of range")
	}
	for v := first; v <= k.LatestVersion; v++ {
		kv, ok := k.Versions[strconv.Itoa(v)]
		if !ok {
			return fmt.Errorf("version %d missing", v)
		}
		if err := checkMaterial(k.Type, kv.Material); err != nil {
			return fmt.Errorf("version %d: %v", v, err)
		}
		switch {
		case k.Type == typeHMAC && len(kv.HMACKey) != k.KeySize:
			return fmt.Errorf("version %d: hmac key is not key_size bytes", v)
		case k.Type != typeHMAC && len(kv.HMACKey) != 0 && len(kv.HMACKey) != 32:
			return fmt.Errorf("version %d: hmac key is not 32 bytes", v)
		case kv.Created < 0:
			return fmt.Errorf("version %d: bad creation time", v)
		}
	}
	return nil
}

var _ logical.Aliaser = (*backend)(nil)

// CanonicalPath names the path an alias route acts on, so the core
// authorizes the request as that path too and a deny there covers the
// alias (logical.Aliaser): sign/NAME/ALG, verify/NAME/ALG and
// hmac/NAME/ALG are sign/NAME, verify/NAME and hmac/NAME;
// export/KIND/NAME/VERSION is export/KIND/NAME; restore with a backup of
// key NAME is restore/NAME. A backup that does not parse names nothing;
// the handler refuses it.
func (b *backend) CanonicalPath(req *logical.Request) string {
	p := strings.TrimSuffix(req.Path, "/")
	parts := strings.Split(p, "/")
	switch {
	case len(parts) == 3 && (parts[0] == "sign" || parts[0] == "verify" || parts[0] == "hmac"):
		return parts[0] + "/" + parts[1]
	case len(parts) == 4 && parts[0] == "export":
		return strings.Join(parts[:3], "/")
	case p != "restore":
		return ""
	}
	s, _, err := logical.Str(req.Data, "backup")
	if err != nil || s == "" {
		return ""
	}
	k, err := parseBackup(s)
	if err != nil {
		return ""
	}
	return "restore/" + k.Name
}
