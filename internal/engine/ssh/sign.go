package ssh

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/keyward/keyward/internal/logical"
)

var certFields = logical.Fields{
	{Name: "role", InPath: true, Description: "The role to sign under."},
	{Name: "valid_principals", Type: logical.TypeString, Description: "Comma-separated principals (users or host names); default: the role's default_user."},
	{Name: "cert_type", Type: logical.TypeString, Default: "user", Description: "user or host."},
	{Name: "key_id", Type: logical.TypeString, Description: "The certificate's key ID (only when the role sets allow_user_key_ids)."},
	{Name: "ttl", Type: logical.TypeDuration, Description: "Lifetime; default the role's ttl, at most its max_ttl."},
	{Name: "extensions", Type: logical.TypeMap, Description: "Extensions (user certificates); default the role's default_extensions."},
	{Name: "critical_options", Type: logical.TypeMap, Description: "Critical options (user certificates); default the role's default_critical_options."},
}

var signFields = certFields.With(
	logical.Field{Name: "public_key", Type: logical.TypeString, Description: "The OpenSSH public key to sign (one authorized_keys line)."},
)

var issueFields = certFields.With(
	logical.Field{Name: "key_type", Type: logical.TypeString, Default: "rsa", Description: "Key to generate: rsa, ec or ed25519."},
	logical.Field{Name: "key_bits", Type: logical.TypeInt, Description: "rsa 2048, 3072 or 4096 (default); ec 256 (default), 384 or 521."},
)

func (b *backend) sign(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := signFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	s, _, err := logical.Str(req.Data, "public_key")
	if err != nil {
		return nil, err
	}
	pub, err := parsePublicKey(s)
	if err != nil {
		return nil, err
	}
	cert, err := b.certify(ctx, req, p["role"], pub)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: certData(cert)}, nil
}

func (b *backend) issue(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := issueFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	typ, _, err := logical.Str(req.Data, "key_type")
	if err != nil {
		return nil, err
	}
	if typ == "" {
		typ = familyRSA
	}
	bits, _, err := logical.Int(req.Data, "key_bits")
	if err != nil {
		return nil, err
	}
	family, ok := keyFamily(typ)
	if !ok {
		return nil, logical.BadRequest("key_type must be rsa, ec or ed25519")
	}
	// Refuse before the (slow) key generation what certify would refuse.
	if _, err := b.roleAndCA(ctx, req, p["role"]); err != nil {
		return nil, err
	}
	key, err := generateKey(family, bits)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromSigner(key)
	if err != nil {
		return nil, fmt.Errorf("ssh: new key: %w", err)
	}
	cert, err := b.certify(ctx, req, p["role"], signer.PublicKey())
	if err != nil {
		return nil, err
	}
	priv, err := encodePrivateKey(key)
	if err != nil {
		return nil, err
	}
	data := certData(cert)
	data["private_key"] = priv
	data["private_key_type"] = family
	return &logical.Response{Data: data}, nil
}

// certData is sign's response: the certificate as one authorized_keys
// line and its serial in hex, as Vault returns them.
func certData(cert *ssh.Certificate) map[string]any {
	return map[string]any{
		"serial_number": strconv.FormatUint(cert.Serial, 16),
		"signed_key":    authorizedKey(cert),
	}
}

type roleCA struct {
	role *role
	ca   *ca
}

func (b *backend) roleAndCA(ctx context.Context, req *logical.Request, name string) (roleCA, error) {
	r, err := loadRole(ctx, req.Storage, name)
	if err != nil {
		return roleCA{}, err
	}
	if r == nil {
		return roleCA{}, logical.BadRequest("unknown role: %s", quoteSafe(name))
	}
	c, err := b.loadCA(ctx, req.Storage)
	if err != nil {
		return roleCA{}, err
	}
	if c == nil {
		return roleCA{}, logical.BadRequest("backend not configured with a CA key: write config/ca first")
	}
	return roleCA{role: r, ca: c}, nil
}

// certify builds and signs the certificate for pub that the request asks
// for and the role allows; it refuses anything else.
func (b *backend) certify(ctx context.Context, req *logical.Request, roleName string, pub ssh.PublicKey) (*ssh.Certificate, error) {
	rc, err := b.roleAndCA(ctx, req, roleName)
	if err != nil {
		return nil, err
	}
	r := rc.role
	if err := checkKey(r, pub); err != nil {
		return nil, err
	}
	d := req.Data
	certType, _, err := logical.Str(d, "cert_type")
	if err != nil {
		return nil, err
	}
	requested, _, err := logical.Strings(d, "valid_principals")
	if err != nil {
		return nil, err
	}
	var typ uint32
	var pp principalPolicy
	switch certType {
	case "", "user":
		if !r.AllowUserCertificates {
			return nil, logical.BadRequest("cert_type user is not allowed by role")
		}
		typ, pp = ssh.UserCert, userPolicy(r)
	case "host":
		if !r.AllowHostCertificates {
			return nil, logical.BadRequest("cert_type host is not allowed by role")
		}
		typ, pp = ssh.HostCert, hostPolicy(r)
	default:
		return nil, logical.BadRequest("cert_type must be user or host")
	}
	principals, err := pp.principals(requested)
	if err != nil {
		return nil, err
	}
	ttl, err := certTTL(req, r)
	if err != nil {
		return nil, err
	}
	perms, err := certPermissions(d, r, typ)
	if err != nil {
		return nil, err
	}
	keyID, err := certKeyID(req, r, roleName, pub)
	if err != nil {
		return nil, err
	}
	signer, err := rc.ca.signerFor(r.AlgorithmSigner)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := b.now()
	cert := &ssh.Certificate{
		Key:             pub,
		Serial:          serial,
		CertType:        typ,
		KeyId:           keyID,
		ValidPrincipals: principals,
		ValidAfter:      uint64(now.Add(-time.Duration(r.NotBeforeDuration) * time.Second).Unix()),
		ValidBefore:     uint64(now.Add(ttl).Unix()),
		Permissions:     perms,
	}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		return nil, fmt.Errorf("ssh: sign certificate: %w", err)
	}
	return cert, nil
}

// checkKey refuses keys the role's allowed_user_key_lengths leaves out,
// and RSA keys shorter than minRSABits whatever the role says.
func checkKey(r *role, pub ssh.PublicKey) error {
	family, bits, err := keyInfo(pub)
	if err != nil {
		return err
	}
	if family == familyRSA && bits < minRSABits {
		return logical.BadRequest("public_key: rsa keys must have at least %d bits", minRSABits)
	}
	if len(r.AllowedUserKeyLengths) == 0 {
		return nil
	}
	sizes, ok := r.AllowedUserKeyLengths[family]
	if !ok {
		return logical.BadRequest("key type %s is not allowed by role", family)
	}
	if !slices.Contains(sizes, bits) {
		return logical.BadRequest("key of %d bits is not allowed by role for key type %s", bits, family)
	}
	return nil
}

// certTTL is the certificate's lifetime: the request's ttl (refused past
// the maximum), else the role's, else the mount's default (cut to the
// maximum). The maximum is the role's max_ttl, else the mount's.
func certTTL(req *logical.Request, r *role) (time.Duration, error) {
	maxTTL := time.Duration(r.MaxTTL) * time.Second
	if maxTTL <= 0 {
		maxTTL = req.MountConfig.MaxLeaseTTL
	}
	ttl, ok, err := logical.Duration(req.Data, "ttl")
	if err != nil {
		return 0, err
	}
	if ok && ttl > 0 {
		if maxTTL > 0 && ttl > maxTTL {
			return 0, logical.BadRequest("ttl is larger than the maximum allowed (%v)", maxTTL)
		}
		return ttl, nil
	}
	ttl = time.Duration(r.TTL) * time.Second
	if ttl <= 0 {
		ttl = req.MountConfig.DefaultLeaseTTL
	}
	if maxTTL > 0 && (ttl <= 0 || ttl > maxTTL) {
		ttl = maxTTL
	}
	if ttl <= 0 {
		return 0, logical.BadRequest("role has no ttl and the mount gives none")
	}
	return ttl, nil
}

// certPermissions picks the extensions and critical options. Host
// certificates carry none: OpenSSH defines none for them, and a request
// for some is refused rather than ignored.
func certPermissions(d map[string]any, r *role, typ uint32) (ssh.Permissions, error) {
	ext, _, err := logical.StringMap(d, "extensions")
	if err != nil {
		return ssh.Permissions{}, err
	}
	crit, _, err := logical.StringMap(d, "critical_options")
	if err != nil {
		return ssh.Permissions{}, err
	}
	if typ == ssh.HostCert {
		if len(ext) > 0 || len(crit) > 0 {
			return ssh.Permissions{}, logical.BadRequest("extensions and critical_options are for user certificates only")
		}
		return ssh.Permissions{}, nil
	}
	var perms ssh.Permissions
	if perms.Extensions, err = options("extensions", ext, r.DefaultExtensions, r.AllowedExtensions, false, false); err != nil {
		return perms, err
	}
	if perms.CriticalOptions, err = options("critical options", crit, r.DefaultCriticalOptions, r.AllowedCriticalOptions, true, true); err != nil {
		return perms, err
	}
	return perms, nil
}

// certKeyID is the request's key_id where the role allows one, else the
// role's key_id_format rendered.
func certKeyID(req *logical.Request, r *role, roleName string, pub ssh.PublicKey) (string, error) {
	id, _, err := logical.Str(req.Data, "key_id")
	if err != nil {
		return "", err
	}
	if id != "" {
		if !r.AllowUserKeyIDs {
			return "", logical.BadRequest("key_id is not allowed by role (allow_user_key_ids is off)")
		}
		return id, nil
	}
	display := ""
	if req.Token != nil {
		display = req.Token.DisplayName
	}
	sum := sha256.Sum256(pub.Marshal())
	return renderKeyID(r.KeyIDFormat, keyIDVars{DisplayName: display, RoleName: roleName, PublicKeyHash: hex.EncodeToString(sum[:])})
}

// randomSerial is a non-zero serial from crypto/rand.
func randomSerial() (uint64, error) {
	var buf [8]byte
	for {
		if _, err := rand.Read(buf[:]); err != nil {
			return 0, fmt.Errorf("ssh: serial: %w", err)
		}
		if s := binary.BigEndian.Uint64(buf[:]); s != 0 {
			return s, nil
		}
	}
}
