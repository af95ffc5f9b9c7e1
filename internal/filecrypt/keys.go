package filecrypt

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/barrier/shamir"
)

// MetadataKey is the top-level key (YAML, JSON) holding a file's metadata;
// dotenv and INI files carry it on a "# keyward: {...}" comment line.
const MetadataKey = "keyward"

// Metadata is stored in every encrypted file. It holds the data key wrapped
// for each key group and the MAC; nothing in it is secret.
type Metadata struct {
	Version           int     `json:"version" yaml:"version"`
	EncryptedRegex    string  `json:"encrypted_regex,omitempty" yaml:"encrypted_regex,omitempty"`
	UnencryptedSuffix string  `json:"unencrypted_suffix,omitempty" yaml:"unencrypted_suffix,omitempty"`
	Threshold         int     `json:"threshold,omitempty" yaml:"threshold,omitempty"`
	Groups            []Group `json:"groups" yaml:"groups"`
	MAC               string  `json:"mac" yaml:"mac"`
}

// Group is one key group: any one of its keys recovers the group's share
// of the data key (the data key itself when there is no threshold).
type Group struct {
	Transit []TransitKey `json:"transit,omitempty" yaml:"transit,omitempty"`
	Age     []AgeKey     `json:"age,omitempty" yaml:"age,omitempty"`
}

// TransitKey is a share wrapped by a Keyward (or Vault) transit key.
type TransitKey struct {
	Address    string `json:"address" yaml:"address"`
	Mount      string `json:"mount,omitempty" yaml:"mount,omitempty"`
	Key        string `json:"key" yaml:"key"`
	Ciphertext string `json:"ciphertext,omitempty" yaml:"ciphertext,omitempty"`
}

// AgeKey is a share encrypted to one age recipient (ASCII-armored).
type AgeKey struct {
	Recipient string `json:"recipient" yaml:"recipient"`
	Enc       string `json:"enc,omitempty" yaml:"enc,omitempty"`
}

func (k TransitKey) mount() string {
	if k.Mount == "" {
		return "transit"
	}
	return strings.Trim(k.Mount, "/")
}

func (k TransitKey) name() string { return "transit " + k.Address + " " + k.mount() + "/keys/" + k.Key }

// TransitClient is what filecrypt needs of a server: *api.Client.
type TransitClient interface {
	Write(ctx context.Context, path string, data map[string]any) (*api.Secret, error)
}

// Keys are the means to unwrap or wrap data keys.
type Keys struct {
	// Age are the identities tried on age-wrapped shares.
	Age []age.Identity
	// Transit returns a client for the server at address (nil: transit
	// key groups cannot be used).
	Transit func(address string) (TransitClient, error)
}

// groupSpec returns g without wrapped material: the keys only.
func (g Group) spec() Group {
	var s Group
	for _, t := range g.Transit {
		t.Ciphertext = ""
		s.Transit = append(s.Transit, t)
	}
	for _, a := range g.Age {
		a.Enc = ""
		s.Age = append(s.Age, a)
	}
	return s
}

// wrapGroups splits dataKey across groups (threshold of them needed; 0 or
// 1, or a single group: each group holds the whole key) and wraps each
// group's share for each of its keys.
func wrapGroups(ctx context.Context, dataKey []byte, specs []Group, threshold int, keys Keys) ([]Group, int, error) {
	if len(specs) == 0 {
		return nil, 0, errors.New("no key groups: give --age or --transit, or a creation rule in .keyward-encrypt.yaml")
	}
	if threshold > len(specs) {
		return nil, 0, fmt.Errorf("threshold %d is above the number of key groups (%d)", threshold, len(specs))
	}
	if threshold < 0 {
		return nil, 0, fmt.Errorf("threshold %d is negative", threshold)
	}
	shares := make([][]byte, len(specs))
	if threshold <= 1 || len(specs) == 1 {
		threshold = 0
		for i := range shares {
			shares[i] = dataKey
		}
	} else {
		var err error
		shares, err = shamir.Split(dataKey, len(specs), threshold)
		if err != nil {
			return nil, 0, err
		}
	}
	out := make([]Group, len(specs))
	for i, spec := range specs {
		if len(spec.Transit)+len(spec.Age) == 0 {
			return nil, 0, fmt.Errorf("key group %d has no keys", i+1)
		}
		for _, t := range spec.Transit {
			ct, err := transitEncrypt(ctx, keys, t, shares[i])
			if err != nil {
				return nil, 0, fmt.Errorf("key group %d: %w", i+1, err)
			}
			t.Ciphertext = ct
			out[i].Transit = append(out[i].Transit, t)
		}
		for _, a := range spec.Age {
			enc, err := ageEncrypt(a.Recipient, shares[i])
			if err != nil {
				return nil, 0, fmt.Errorf("key group %d: %w", i+1, err)
			}
			a.Enc = enc
			out[i].Age = append(out[i].Age, a)
		}
	}
	return out, threshold, nil
}

// unwrap recovers the data key from m's groups with keys. The error lists
// why each group failed, naming keys, never material.
func unwrap(ctx context.Context, m *Metadata, keys Keys) ([]byte, error) {
	need := 1
	if m.Threshold > 1 {
		need = m.Threshold
	}
	var shares [][]byte
	var errs []error
	for i, g := range m.Groups {
		share, err := unwrapGroup(ctx, g, keys)
		if err != nil {
			errs = append(errs, fmt.Errorf("key group %d: %w", i+1, err))
			continue
		}
		shares = append(shares, share)
		if len(shares) == need {
			break
		}
	}
	if len(shares) < need {
		if len(errs) == 0 {
			errs = append(errs, fmt.Errorf("the file lists %d key groups", len(m.Groups)))
		}
		return nil, fmt.Errorf("cannot recover the data key (%d of %d key groups needed): %w", len(shares), need, errors.Join(errs...))
	}
	if need == 1 {
		if len(shares[0]) != DataKeySize {
			return nil, errors.New("cannot recover the data key: a key group holds a share of the wrong size")
		}
		return shares[0], nil
	}
	key, err := shamir.Combine(shares)
	if err != nil {
		return nil, fmt.Errorf("cannot recover the data key: %w", err)
	}
	if len(key) != DataKeySize {
		return nil, errors.New("cannot recover the data key: combined shares have the wrong size")
	}
	return key, nil
}

func unwrapGroup(ctx context.Context, g Group, keys Keys) ([]byte, error) {
	var errs []error
	if len(keys.Age) > 0 {
		for _, a := range g.Age {
			share, err := ageDecrypt(a.Enc, keys.Age)
			if err == nil {
				return share, nil
			}
			errs = append(errs, fmt.Errorf("age %s: %w", a.Recipient, err))
		}
	} else if len(g.Age) > 0 {
		errs = append(errs, errors.New("age: no identity given (set KEYWARD_AGE_KEY_FILE)"))
	}
	for _, t := range g.Transit {
		share, err := transitDecrypt(ctx, keys, t)
		if err == nil {
			return share, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("no keys")
	}
	return nil, errors.Join(errs...)
}

func ageEncrypt(recipient string, share []byte) (string, error) {
	rs, err := age.ParseRecipients(strings.NewReader(recipient))
	if err != nil || len(rs) != 1 {
		return "", fmt.Errorf("age recipient %q is not valid", recipient)
	}
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, rs[0])
	if err != nil {
		return "", fmt.Errorf("age %s: %w", recipient, err)
	}
	if _, err := w.Write(share); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	if err := aw.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func ageDecrypt(enc string, ids []age.Identity) ([]byte, error) {
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(enc)), ids...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(r, 1024))
}

func transitClient(keys Keys, t TransitKey) (TransitClient, error) {
	if keys.Transit == nil {
		return nil, fmt.Errorf("%s: no server client", t.name())
	}
	c, err := keys.Transit(t.Address)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name(), err)
	}
	return c, nil
}

func transitEncrypt(ctx context.Context, keys Keys, t TransitKey, share []byte) (string, error) {
	c, err := transitClient(keys, t)
	if err != nil {
		return "", err
	}
	s, err := c.Write(ctx, t.mount()+"/encrypt/"+t.Key, map[string]any{"plaintext": base64.StdEncoding.EncodeToString(share)})
	if err != nil {
		return "", fmt.Errorf("%s: encrypt: %w", t.name(), err)
	}
	if s == nil {
		return "", fmt.Errorf("%s: encrypt: empty response", t.name())
	}
	ct, _ := s.Data["ciphertext"].(string)
	if ct == "" {
		return "", fmt.Errorf("%s: encrypt: no ciphertext in the response", t.name())
	}
	return ct, nil
}

func transitDecrypt(ctx context.Context, keys Keys, t TransitKey) ([]byte, error) {
	c, err := transitClient(keys, t)
	if err != nil {
		return nil, err
	}
	s, err := c.Write(ctx, t.mount()+"/decrypt/"+t.Key, map[string]any{"ciphertext": t.Ciphertext})
	if err != nil {
		return nil, fmt.Errorf("%s: decrypt: %w", t.name(), err)
	}
	if s == nil {
		return nil, fmt.Errorf("%s: decrypt: empty response", t.name())
	}
	p, _ := s.Data["plaintext"].(string)
	b, err := base64.StdEncoding.DecodeString(p)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%s: decrypt: the response holds no plaintext", t.name())
	}
	return b, nil
}

// sameGroups reports whether two metadata blocks name the same keys in the
// same groups with the same threshold (wrapped material aside).
func sameGroups(a, b *Metadata) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Threshold != b.Threshold || len(a.Groups) != len(b.Groups) {
		return false
	}
	for i := range a.Groups {
		x, y := a.Groups[i].spec(), b.Groups[i].spec()
		if len(x.Transit) != len(y.Transit) || len(x.Age) != len(y.Age) {
			return false
		}
		for j := range x.Transit {
			if x.Transit[j] != y.Transit[j] {
				return false
			}
		}
		for j := range x.Age {
			if x.Age[j] != y.Age[j] {
				return false
			}
		}
	}
	return true
}
