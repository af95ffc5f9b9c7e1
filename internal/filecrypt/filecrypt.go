package filecrypt

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Format is a file syntax filecrypt understands.
type Format string

// The formats. Binary is any other file, encrypted whole.
const (
	YAML   Format = "yaml"
	JSON   Format = "json"
	Dotenv Format = "dotenv"
	INI    Format = "ini"
	Binary Format = "binary"
)

// ParseFormat parses a --input-type value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case YAML, JSON, Dotenv, INI, Binary:
		return f, nil
	case "yml":
		return YAML, nil
	case "env":
		return Dotenv, nil
	}
	return "", fmt.Errorf("unknown file type %q: want yaml, json, dotenv, ini or binary", s)
}

// FormatFor picks the format from a file name: .yaml/.yml, .json, .env
// (and names starting with .env), .ini; anything else is Binary.
func FormatFor(name string) Format {
	base := strings.ToLower(filepath.Base(name))
	switch filepath.Ext(base) {
	case ".yaml", ".yml":
		return YAML
	case ".json":
		return JSON
	case ".env":
		return Dotenv
	case ".ini":
		return INI
	}
	if base == ".env" || strings.HasPrefix(base, ".env.") {
		return Dotenv
	}
	return Binary
}

func parse(f Format, data []byte) (document, error) {
	switch f {
	case YAML:
		return parseYAML(data)
	case JSON:
		return parseJSON(data)
	case Dotenv:
		return parseDotenv(data)
	case INI:
		return parseINI(data)
	case Binary:
		return parseBlob(data)
	}
	return nil, fmt.Errorf("unknown format %q", f)
}

// ErrNotEncrypted is returned for a file without keyward metadata.
var ErrNotEncrypted = errors.New("not encrypted by keyward (no metadata)")

// Settings say whom a file is encrypted for and which values.
type Settings struct {
	// Groups are the key groups (their keys; wrapped material is ignored).
	Groups []Group
	// Threshold is how many groups are needed to decrypt when there are
	// several; 0 or 1: any one group (each holds the whole data key).
	Threshold int
	// EncryptedRegex, when set, encrypts only values below a key that
	// matches it. For a Kubernetes Secret it defaults to ^(data|stringData)$.
	EncryptedRegex string
	// UnencryptedSuffix leaves values below keys with this suffix in clear
	// (default "_unencrypted").
	UnencryptedSuffix string
}

// DefaultUnencryptedSuffix is the suffix of keys whose values stay in clear.
const DefaultUnencryptedSuffix = "_unencrypted"

// kubernetesSecretRegex is what a Kubernetes Secret manifest encrypts.
const kubernetesSecretRegex = "^(data|stringData)$"

// Options are what each operation needs besides the file.
type Options struct {
	// Format overrides the format chosen from the file name.
	Format Format
	// Keys unwrap (and, for transit, wrap) data keys.
	Keys Keys
	// DataKey, when set, is used instead of a fresh random data key by
	// Encrypt and Rotate (tests use it for golden files).
	DataKey []byte
}

func (o Options) format(name string) Format {
	if o.Format != "" {
		return o.Format
	}
	return FormatFor(name)
}

func (o Options) newDataKey() ([]byte, error) {
	if o.DataKey != nil {
		if len(o.DataKey) != DataKeySize {
			return nil, fmt.Errorf("data key is %d bytes, want %d", len(o.DataKey), DataKeySize)
		}
		return append([]byte(nil), o.DataKey...), nil
	}
	k := make([]byte, DataKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

// selector decides which values are encrypted.
type selector struct {
	re     *regexp.Regexp
	suffix string
}

func newSelector(m *Metadata) (*selector, error) {
	s := &selector{suffix: m.UnencryptedSuffix}
	if m.EncryptedRegex != "" {
		re, err := regexp.Compile(m.EncryptedRegex)
		if err != nil {
			return nil, fmt.Errorf("encrypted_regex: %w", err)
		}
		s.re = re
	}
	return s, nil
}

func (s *selector) encrypts(p Path) bool {
	matched := s.re == nil
	for _, seg := range p {
		k, ok := seg.(string)
		if !ok {
			continue
		}
		if s.suffix != "" && strings.HasSuffix(k, s.suffix) {
			return false
		}
		if s.re != nil && s.re.MatchString(k) {
			matched = true
		}
	}
	return matched
}

// isKubernetesSecret reports whether the document is a Secret manifest.
func isKubernetesSecret(d document) bool {
	var kind, api bool
	for _, l := range d.leaves() {
		if len(l.path) == 1 && l.path[0] == "kind" && l.value == "Secret" {
			kind = true
		}
		if len(l.path) == 1 && l.path[0] == "apiVersion" && l.value == "v1" {
			api = true
		}
	}
	return kind && api
}

// seal encrypts every selected value of d that is still in clear, then
// computes the MAC and stores m in d.
func seal(d document, m *Metadata, fk *fileKey) error {
	sel, err := newSelector(m)
	if err != nil {
		return err
	}
	for _, l := range d.leaves() {
		if l.typ == typeTagged || !sel.encrypts(l.path) {
			continue
		}
		env := fk.encrypt(l.path, l.typ, []byte(l.value))
		if err := d.set(l.path, env.String(), TypeStr); err != nil {
			return err
		}
	}
	m.MAC = base64.StdEncoding.EncodeToString(fk.mac(d.leaves(), m))
	return d.setMeta(m)
}

// opened is a decrypted document with what it was encrypted with.
type opened struct {
	doc       document
	encrypted map[string]bool // paths whose values were encrypted
	meta      *Metadata
	dataKey   []byte
	fk        *fileKey
}

// open parses an encrypted file, recovers its data key, checks its MAC and
// decrypts its values in memory.
func open(ctx context.Context, name string, data []byte, o Options) (*opened, error) {
	return openAs(ctx, name, name, data, o)
}

// openAs is open with label naming the file in errors.
func openAs(ctx context.Context, name, label string, data []byte, o Options) (*opened, error) {
	d, err := parse(o.format(name), data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	m, err := d.meta()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%s: %w", label, ErrNotEncrypted)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("%s: metadata version %d is not supported", label, m.Version)
	}
	key, err := unwrap(ctx, m, o.Keys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	fk, err := newFileKey(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	want, err := base64.StdEncoding.DecodeString(m.MAC)
	if err != nil || !hmac.Equal(want, fk.mac(d.leaves(), m)) {
		return nil, fmt.Errorf("%s: MAC mismatch: the file was altered or damaged (merge it with the keyward merge driver; see keyward encrypt --git-setup)", label)
	}
	encrypted := map[string]bool{}
	for _, l := range d.leaves() {
		if !IsEnvelope(l.value) {
			continue
		}
		encrypted[l.path.String()] = true
		env, err := ParseEnvelope(l.value)
		if err != nil {
			return nil, fmt.Errorf("%s: value at %s: %w", label, l.path.Display(), err)
		}
		pt, err := fk.decrypt(l.path, env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		if err := d.set(l.path, string(pt), env.Type); err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
	}
	if err := d.setMeta(nil); err != nil {
		return nil, err
	}
	return &opened{doc: d, encrypted: encrypted, meta: m, dataKey: key, fk: fk}, nil
}

// reseal encrypts the plaintext document d with op's data key and
// settings and returns the file. Unchanged values get their old ciphertext.
func (op *opened) reseal(name string, d document) ([]byte, error) {
	m := *op.meta
	if err := seal(d, &m, op.fk); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return d.marshal()
}

// Encrypt encrypts the plaintext file name under a fresh data key wrapped
// for s's key groups.
func Encrypt(ctx context.Context, name string, plaintext []byte, s Settings, o Options) ([]byte, error) {
	d, err := parse(o.format(name), plaintext)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if m, err := d.meta(); err != nil || m != nil {
		return nil, fmt.Errorf("%s: already encrypted (it has a top-level %s key or metadata line)", name, MetadataKey)
	}
	key, err := o.newDataKey()
	if err != nil {
		return nil, err
	}
	groups, threshold, err := wrapGroups(ctx, key, specs(s.Groups), s.Threshold, o.Keys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	m := &Metadata{Version: 1, EncryptedRegex: s.EncryptedRegex, UnencryptedSuffix: s.UnencryptedSuffix, Threshold: threshold, Groups: groups}
	if m.UnencryptedSuffix == "" {
		m.UnencryptedSuffix = DefaultUnencryptedSuffix
	}
	if m.EncryptedRegex == "" && isKubernetesSecret(d) {
		m.EncryptedRegex = kubernetesSecretRegex
	}
	fk, err := newFileKey(key)
	if err != nil {
		return nil, err
	}
	if err := seal(d, m, fk); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return d.marshal()
}

func specs(gs []Group) []Group {
	out := make([]Group, len(gs))
	for i, g := range gs {
		out[i] = g.spec()
	}
	return out
}

// Decrypt returns the plaintext of an encrypted file. It fails, naming the
// file, when no key group can be unwrapped, the MAC does not match, or a
// value does not decrypt.
func Decrypt(ctx context.Context, name string, data []byte, o Options) ([]byte, error) {
	op, err := open(ctx, name, data, o)
	if err != nil {
		return nil, err
	}
	return op.doc.marshal()
}

// Reencrypt encrypts plaintext (an edited version of the file previous)
// with previous's data key and settings: values that did not change keep
// their ciphertext.
func Reencrypt(ctx context.Context, name string, plaintext, previous []byte, o Options) ([]byte, error) {
	op, err := open(ctx, name, previous, o)
	if err != nil {
		return nil, err
	}
	d, err := parse(o.format(name), plaintext)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if m, err := d.meta(); err != nil || m != nil {
		return nil, fmt.Errorf("%s: the edited file has a top-level %s key or metadata line", name, MetadataKey)
	}
	return op.reseal(name, d)
}

// Rotate re-encrypts every value under a new data key, wrapped for the
// same key groups.
func Rotate(ctx context.Context, name string, data []byte, o Options) ([]byte, error) {
	op, err := open(ctx, name, data, o)
	if err != nil {
		return nil, err
	}
	key, err := o.newDataKey()
	if err != nil {
		return nil, err
	}
	groups, threshold, err := wrapGroups(ctx, key, specs(op.meta.Groups), op.meta.Threshold, o.Keys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	fk, err := newFileKey(key)
	if err != nil {
		return nil, err
	}
	m := *op.meta
	m.Groups, m.Threshold = groups, threshold
	if err := seal(op.doc, &m, fk); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return op.doc.marshal()
}

// UpdateKeys wraps the file's data key for s's key groups instead of its
// current ones; values are untouched. changed is false (and out is data)
// when the groups are already s's.
func UpdateKeys(ctx context.Context, name string, data []byte, s Settings, o Options) (out []byte, changed bool, err error) {
	op, err := open(ctx, name, data, o)
	if err != nil {
		return nil, false, err
	}
	want := &Metadata{Threshold: s.Threshold, Groups: specs(s.Groups)}
	if want.Threshold <= 1 || len(want.Groups) == 1 {
		want.Threshold = 0
	}
	if sameGroups(op.meta, want) {
		return data, false, nil
	}
	groups, threshold, err := wrapGroups(ctx, op.dataKey, want.Groups, s.Threshold, o.Keys)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", name, err)
	}
	m := *op.meta
	m.Groups, m.Threshold = groups, threshold
	if err := seal(op.doc, &m, op.fk); err != nil {
		return nil, false, fmt.Errorf("%s: %w", name, err)
	}
	out, err = op.doc.marshal()
	return out, true, err
}

// Value is one decrypted value of a file.
type Value struct {
	Path  Path
	Value string
	Type  string
	// Encrypted is false for values the file keeps in clear.
	Encrypted bool
}

// Values decrypts a file and returns its values in document order.
func Values(ctx context.Context, name string, data []byte, o Options) ([]Value, error) {
	op, err := open(ctx, name, data, o)
	if err != nil {
		return nil, err
	}
	var out []Value
	for _, l := range op.doc.leaves() {
		if l.typ == typeTagged {
			continue
		}
		out = append(out, Value{Path: l.path, Value: l.value, Type: l.typ, Encrypted: op.encrypted[l.path.String()]})
	}
	return out, nil
}

// IsEncrypted reports whether data parses as a keyward-encrypted file.
func IsEncrypted(name string, data []byte, f Format) bool {
	if f == "" {
		f = FormatFor(name)
	}
	d, err := parse(f, data)
	if err != nil {
		return false
	}
	m, err := d.meta()
	return err == nil && m != nil
}
