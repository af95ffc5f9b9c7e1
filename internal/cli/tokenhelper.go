package cli

import (
	"time"

	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

// tokenFileName is where `keyward login` keeps the token, in $HOME.
const tokenFileName = ".keyward-token"

// tokenFilePath returns the token file's path, or "" when HOME is unset.
func tokenFilePath(e *env) string {
	home := e.getenv("HOME")
	if home == "" {
		return ""
	}
	return filepath.Join(home, tokenFileName)
}

// readTokenFile returns the stored token, or "" when there is none.
func readTokenFile(e *env) (string, error) {
	p := tokenFilePath(e)
	if p == "" {
		return "", nil
	}
	raw, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	return strings.TrimSpace(string(raw)), nil
}

// writeTokenFile stores token with mode 0600, replacing the file atomically
// so no reader ever sees a partial token or a wider mode.
func writeTokenFile(e *env, token string) (string, error) {
	p := tokenFilePath(e)
	if p == "" {
		return "", errors.New("cannot store the token: HOME is not set")
	}
	f, err := os.CreateTemp(filepath.Dir(p), tokenFileName+".tmp*")
	if err != nil {
		return "", fmt.Errorf("store token: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return "", fmt.Errorf("store token: %w", err)
	}
	if _, err := f.WriteString(token); err != nil {
		f.Close()
		return "", fmt.Errorf("store token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("store token: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("store token: %w", err)
	}
	return p, nil
}

// connFlags are the connection settings every server command takes. There
// is deliberately no -token flag: argv is visible to other processes, so the
// token comes from KEYWARD_TOKEN (or VAULT_TOKEN) or the token file.
type connFlags struct {
	address string
	wrapTTL string
	// timeout, when non-zero, replaces the client's default request
	// timeout (negative: none); only commands that set it use it.
	timeout time.Duration
}

func (c *connFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.address, "address", "", "server address (default $KEYWARD_ADDR, then $VAULT_ADDR, then "+api.DefaultAddress+")")
	cmd.Flags().StringVar(&c.wrapTTL, "wrap-ttl", "", "wrap the response in a single-use token that lives this long, e.g. 5m (default $KEYWARD_WRAP_TTL)")
}

// clientFor checks the output flags, then builds the client: the start of
// every command that talks to the server and prints a result.
func (c *connFlags) clientFor(e *env, out *outFlags) (*api.Client, error) {
	if err := out.resolve(e); err != nil {
		return nil, err
	}
	return c.client(e)
}

// client builds an API client from the flags, the environment and, when no
// token is in the environment, the token file.
func (c *connFlags) client(e *env) (*api.Client, error) {
	cfg := api.ConfigFromEnv(e.getenv)
	if c.address != "" {
		cfg.Address = c.address
	}
	if c.wrapTTL != "" {
		cfg.WrapTTL = c.wrapTTL
	}
	if c.timeout != 0 {
		cfg.Timeout = c.timeout
	}
	if cfg.Token.Empty() {
		tok, err := readTokenFile(e)
		if err != nil {
			return nil, err
		}
		cfg.Token = api.NewToken(tok)
	}
	cl, err := api.New(cfg)
	if err != nil {
		return nil, withHint(usagef("%v", err), "set KEYWARD_ADDR, e.g. http://127.0.0.1:8200 for a dev server")
	}
	return cl, nil
}
