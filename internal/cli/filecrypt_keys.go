package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/filecrypt"
)

// fileFlags are the flags encrypt, decrypt, edit, rotate and updatekeys
// share.
type fileFlags struct {
	conn      connFlags
	inputType string
	// token, when set, is used for transit instead of the usual sources
	// (keyward run has already taken the token out of the environment).
	token string
}

func (f *fileFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.inputType, "input-type", "", "file type: yaml, json, dotenv, ini or binary (default: from the file name)")
}

// options returns the filecrypt options: the format and the keys, age
// identities from $KEYWARD_AGE_KEY, $KEYWARD_AGE_KEY_FILE or
// ~/.config/keyward/age/keys.txt, transit through the usual address and
// token sources with the address each key group names.
func (f *fileFlags) options(e *env) (filecrypt.Options, error) {
	var o filecrypt.Options
	if f.inputType != "" {
		ft, err := filecrypt.ParseFormat(f.inputType)
		if err != nil {
			return o, usagef("%v", err)
		}
		o.Format = ft
	}
	ids, err := ageIdentities(e)
	if err != nil {
		return o, err
	}
	o.Keys.Age = ids
	clients := map[string]filecrypt.TransitClient{}
	trusted := api.ConfigFromEnv(e.getenv).Address
	if f.conn.address != "" {
		trusted = f.conn.address
	}
	o.Keys.Transit = func(address string) (filecrypt.TransitClient, error) {
		if c, ok := clients[address]; ok {
			return c, nil
		}
		// The address comes from the file or the creation rules, which
		// whoever can push to the repository writes; the token goes only
		// to the server the user named (a textconv run by git diff would
		// otherwise hand it to any server a branch names).
		if !sameServer(address, trusted) {
			return nil, fmt.Errorf("the key group's server %s is not the one the token is for (%s): set KEYWARD_ADDR or --address to %s to use it", address, trusted, address)
		}
		var c *api.Client
		var err error
		if f.token != "" {
			cfg := api.ConfigFromEnv(e.getenv)
			cfg.Address, cfg.Token = address, api.NewToken(f.token)
			c, err = api.New(cfg)
		} else {
			conn := f.conn
			conn.address = address
			c, err = conn.client(e)
		}
		if err != nil {
			return nil, err
		}
		clients[address] = c
		return c, nil
	}
	return o, nil
}

// ageIdentities reads the age identities the environment points to; none
// is not an error (transit may do).
func ageIdentities(e *env) ([]age.Identity, error) {
	if v := e.getenv("KEYWARD_AGE_KEY"); v != "" {
		ids, err := age.ParseIdentities(strings.NewReader(v))
		if err != nil {
			return nil, errors.New("KEYWARD_AGE_KEY: not age identities")
		}
		return ids, nil
	}
	path := e.getenv("KEYWARD_AGE_KEY_FILE")
	explicit := path != ""
	if !explicit {
		dir := e.getenv("XDG_CONFIG_HOME")
		if dir == "" {
			home := e.getenv("HOME")
			if home == "" {
				return nil, nil
			}
			dir = filepath.Join(home, ".config")
		}
		path = filepath.Join(dir, "keyward", "age", "keys.txt")
	}
	fh, err := os.Open(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("age identities: %w", err)
	}
	defer fh.Close()
	ids, err := age.ParseIdentities(fh)
	if err != nil {
		return nil, fmt.Errorf("age identities in %s: not an identity file", path)
	}
	return ids, nil
}

// keyFlags choose key groups on the command line instead of the rules.
type keyFlags struct {
	age               []string
	transit           []string
	threshold         int
	encryptedRegex    string
	unencryptedSuffix string
}

func (k *keyFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&k.age, "age", nil, "encrypt the data key to this age `RECIPIENT` (repeatable)")
	fl.StringArrayVar(&k.transit, "transit", nil, "encrypt the data key with the transit key at `URL`, e.g. https://keyward:8200/v1/transit/keys/gitops (repeatable)")
	fl.StringVar(&k.encryptedRegex, "encrypted-regex", "", "encrypt only values below keys matching `REGEX`")
	fl.StringVar(&k.unencryptedSuffix, "unencrypted-suffix", "", "leave values below keys with this `SUFFIX` in clear (default _unencrypted)")
}

func (k *keyFlags) given() bool { return len(k.age)+len(k.transit) > 0 }

// parseTransitURL splits https://host:8200/v1/MOUNT/keys/NAME.
func parseTransitURL(s string) (filecrypt.TransitKey, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return filecrypt.TransitKey{}, usagef("--transit %q: want a URL like https://keyward:8200/v1/transit/keys/NAME", s)
	}
	p := strings.TrimPrefix(u.Path, "/v1/")
	i := strings.LastIndex(p, "/keys/")
	if p == u.Path || i <= 0 || strings.Contains(p[i+len("/keys/"):], "/") || p[i+len("/keys/"):] == "" {
		return filecrypt.TransitKey{}, usagef("--transit %q: want a URL like https://keyward:8200/v1/transit/keys/NAME", s)
	}
	return filecrypt.TransitKey{Address: u.Scheme + "://" + u.Host, Mount: p[:i], Key: p[i+len("/keys/"):]}, nil
}

// settings returns the key groups for file: from the flags when given,
// else from the first matching creation rule in .keyward-encrypt.yaml.
func (k *keyFlags) settings(file string) (filecrypt.Settings, error) {
	if k.given() {
		var g filecrypt.Group
		for _, t := range k.transit {
			tk, err := parseTransitURL(t)
			if err != nil {
				return filecrypt.Settings{}, err
			}
			g.Transit = append(g.Transit, tk)
		}
		for _, a := range k.age {
			g.Age = append(g.Age, filecrypt.AgeKey{Recipient: a})
		}
		return filecrypt.Settings{Groups: []filecrypt.Group{g}, EncryptedRegex: k.encryptedRegex, UnencryptedSuffix: k.unencryptedSuffix}, nil
	}
	s, err := ruleSettings(file)
	if err != nil {
		return s, err
	}
	if k.encryptedRegex != "" {
		s.EncryptedRegex = k.encryptedRegex
	}
	if k.unencryptedSuffix != "" {
		s.UnencryptedSuffix = k.unencryptedSuffix
	}
	return s, nil
}

func ruleSettings(file string) (filecrypt.Settings, error) {
	rules, err := filecrypt.FindRules(filepath.Dir(file))
	if err != nil {
		return filecrypt.Settings{}, err
	}
	if rules == nil {
		return filecrypt.Settings{}, withHint(fmt.Errorf("%s: no key groups", file),
			"give --age RECIPIENT or --transit URL, or write creation rules in "+filecrypt.RulesFile)
	}
	r, ok := rules.For(file)
	if !ok {
		return filecrypt.Settings{}, withHint(fmt.Errorf("%s: no creation rule in %s matches", file, filepath.Join(rules.Dir, filecrypt.RulesFile)),
			"add a rule whose path_regex matches the file's path relative to that directory")
	}
	return r.Settings(), nil
}

// replaceFile replaces path with data atomically (writeFileAtomic),
// keeping path's mode (0644 for a new file; encrypted files are meant to be
// committed).
func replaceFile(path string, data []byte) error {
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	return writeFileAtomic(path, data, mode)
}

// writePlaintextAtomic replaces path with plaintext, mode 0600.
func writePlaintextAtomic(path string, data []byte) error { return writeFileAtomic(path, data, 0o600) }

// sameServer reports whether two addresses name one server: the same
// scheme and host (case-insensitive), whatever path or trailing slash
// follows.
func sameServer(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	return errA == nil && errB == nil && ua.Host != "" &&
		strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host)
}
