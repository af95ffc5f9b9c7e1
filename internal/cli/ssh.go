package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/keyward/keyward/api"
)

func init() { register(newSSHCmd) }

// sshFlags are the flags both ssh commands share.
type sshFlags struct {
	conn  connFlags
	mount string
	role  string
	ttl   string
}

func (f *sshFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.conn.address, "address", "", "server address (default $KEYWARD_ADDR, then $VAULT_ADDR, then "+api.DefaultAddress+")")
	cmd.Flags().StringVar(&f.mount, "mount", "ssh", "where the ssh engine is mounted")
	cmd.Flags().StringVar(&f.role, "role", "", "the role to sign under (required)")
	cmd.Flags().StringVar(&f.ttl, "ttl", "", "certificate lifetime, e.g. 10m (default: the role's ttl)")
}

// sign asks the server to sign pub and returns the certificate line.
func (f *sshFlags) sign(cmd *cobra.Command, c *api.Client, data map[string]any) (string, error) {
	if f.ttl != "" {
		data["ttl"] = f.ttl
	}
	mount := strings.Trim(f.mount, "/")
	s, err := c.Write(cmd.Context(), mount+"/sign/"+f.role, data)
	if err != nil {
		return "", explain(fmt.Errorf("sign: %w", err), c)
	}
	if s == nil {
		return "", fmt.Errorf("sign with %s/sign/%s: empty response", mount, f.role)
	}
	signed, _ := s.Data["signed_key"].(string)
	if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(signed)); err != nil {
		return "", fmt.Errorf("sign with %s/sign/%s: the response holds no certificate", mount, f.role)
	} else if _, ok := k.(*ssh.Certificate); !ok {
		return "", fmt.Errorf("sign with %s/sign/%s: the response holds no certificate", mount, f.role)
	}
	return signed, nil
}

func newSSHCmd(e *env) *cobra.Command {
	var (
		f         sshFlags
		principal string
	)
	cmd := &cobra.Command{
		Use:   "ssh --role ROLE [user@]host [ssh arguments]",
		Short: "Log in over SSH with a certificate signed for this connection",
		Long: `Log in with the system ssh client using a key made for this one connection.
keyward makes a fresh ed25519 key in memory, has the server's SSH engine sign
it under --role for the login user (or --principal), writes key and
certificate into a private directory (0700, files 0600), runs ssh with -i and
-o CertificateFile, and removes the directory when ssh exits. Nothing is
added to ~/.ssh, and the certificate lives as long as the role's ttl (or
--ttl).

Everything after the destination goes to ssh unchanged: its options (-p 22,
-vvv, -o Name=value), then the remote command.

The exit code is ssh's. "keyward ssh sign" signs an existing key instead.`,
		Example: `  keyward ssh --role ops alice@db1.example.com
  keyward ssh --role ops --ttl 5m root@10.0.0.7 -p 2222 uptime`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.role == "" {
				return usagef("--role is required")
			}
			dest, rest := args[0], args[1:]
			if len(rest) > 0 && rest[0] == "--" {
				rest = rest[1:]
			}
			if strings.HasPrefix(dest, "-") {
				return usagef("the destination %q comes before ssh's options", dest)
			}
			if principal == "" {
				principal = loginUser(dest)
			}
			if principal == "" {
				return usagef("cannot tell the login user: give user@host or --principal")
			}
			sshPath, err := exec.LookPath("ssh")
			if err != nil {
				return withHint(errors.New("no ssh client found in PATH"), "install OpenSSH's client (apt-get install openssh-client)")
			}
			c, err := f.conn.client(e)
			if err != nil {
				return err
			}
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			sp, err := ssh.NewPublicKey(pub)
			if err != nil {
				return err
			}
			signed, err := f.sign(cmd, c, map[string]any{
				"public_key":       string(ssh.MarshalAuthorizedKey(sp)),
				"valid_principals": principal,
				"cert_type":        "user",
			})
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "keyward-ssh-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			keyPath := filepath.Join(dir, "id_ed25519")
			blk, err := ssh.MarshalPrivateKey(priv, "")
			if err != nil {
				return err
			}
			if err := os.WriteFile(keyPath, pem.EncodeToMemory(blk), 0o600); err != nil {
				return err
			}
			certPath := keyPath + "-cert.pub"
			if err := os.WriteFile(certPath, []byte(signed), 0o600); err != nil {
				return err
			}
			sshArgs := append([]string{"-i", keyPath, "-o", "CertificateFile=" + certPath, "-o", "IdentitiesOnly=yes", dest}, rest...)
			return runSSH(e, sshPath, sshArgs)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&principal, "principal", "", "the certificate's principal (default: the user of user@host, else the local user)")
	// Flags after the destination belong to ssh.
	cmd.Flags().SetInterspersed(false)
	cmd.AddCommand(newSSHSignCmd(e))
	return cmd
}

// sshValueFlags are the flags of `keyward ssh` that take a value.
var sshValueFlags = map[string]bool{"address": true, "mount": true, "role": true, "ttl": true, "principal": true}

// sshVerbatimFrom returns the index of args (a whole command line) from
// which `keyward ssh` hands arguments to ssh unchanged: everything after
// the destination, which normalizeArgs must not rewrite (ssh's -vvv is not
// keyward's --vvv). It is len(args) for any other command line.
func sshVerbatimFrom(args []string) int {
	if len(args) < 2 || args[0] != "ssh" {
		return len(args)
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return len(args) // normalizeArgs leaves what follows alone
		case !strings.HasPrefix(a, "-") || a == "-":
			if i == 1 && a == "sign" {
				return len(args)
			}
			return i + 1
		case !strings.Contains(a, "=") && sshValueFlags[strings.TrimLeft(a, "-")]:
			i++ // the flag's value
		}
	}
	return len(args)
}

// loginUser is the user ssh will log in as for dest: the part before the
// last "@", else the local user.
func loginUser(dest string) string {
	if i := strings.LastIndex(dest, "@"); i >= 0 {
		return dest[:i]
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// runSSH runs ssh on our streams, forwarding the signals we receive, and
// returns its exit code as an exitError (nil for 0).
func runSSH(e *env, path string, args []string) error {
	sshCmd := exec.Command(path, args...)
	sshCmd.Stdin, sshCmd.Stdout, sshCmd.Stderr = e.stdin, e.stdout, e.stderr
	// ssh needs no token, and what it starts (ProxyCommand, LocalCommand,
	// SendEnv to the remote) must not get one.
	sshCmd.Env = environWithoutToken()
	// Our signals go to ssh, so that the key directory is removed after it
	// exits instead of left behind by an interrupted keyward.
	sigs := make(chan os.Signal, 4)
	if take := forwardedSignals(); len(take) > 0 {
		signal.Notify(sigs, take...)
	}
	defer signal.Stop(sigs)
	if err := sshCmd.Start(); err != nil {
		return fmt.Errorf("start ssh: %w", err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				sshCmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := sshCmd.Wait()
	close(done)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return &exitError{code: ee.ExitCode()}
	}
	return fmt.Errorf("ssh: %w", err)
}

func newSSHSignCmd(e *env) *cobra.Command {
	var (
		f          sshFlags
		pubPath    string
		principals string
		certType   string
	)
	cmd := &cobra.Command{
		Use:   "sign --role ROLE [--public-key FILE] [--principals a,b]",
		Short: "Sign an SSH public key and write its certificate beside it",
		Long: `Sign an OpenSSH public key with the server's SSH engine and write the
certificate next to it as ssh expects it: ~/.ssh/id_ed25519.pub gives
~/.ssh/id_ed25519-cert.pub (mode 0644), which ssh then offers with the key.
The certificate's path is printed.

--principals are the users (or, with --cert-type host, host names) the
certificate is for; the role decides which it allows, and its default_user
applies when none are given. Only the public key is read.`,
		Example: `  keyward ssh sign --role ops
  keyward ssh sign --role ops --principals alice,deploy --ttl 8h
  keyward ssh sign --role hosts --cert-type host --principals db1.example.com \
      --public-key /etc/ssh/ssh_host_ed25519_key.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.role == "" {
				return usagef("--role is required")
			}
			if pubPath == "" {
				home := e.getenv("HOME")
				if home == "" {
					return usagef("HOME is not set: give --public-key")
				}
				pubPath = filepath.Join(home, ".ssh", "id_ed25519.pub")
			}
			raw, err := os.ReadFile(pubPath)
			if err != nil {
				return fmt.Errorf("read public key: %w", err)
			}
			k, _, _, _, err := ssh.ParseAuthorizedKey(raw)
			if err != nil {
				return fmt.Errorf("%s: not an OpenSSH public key", pubPath)
			}
			if _, isCert := k.(*ssh.Certificate); isCert {
				return fmt.Errorf("%s: is a certificate, not a public key", pubPath)
			}
			c, err := f.conn.client(e)
			if err != nil {
				return err
			}
			data := map[string]any{"public_key": string(ssh.MarshalAuthorizedKey(k)), "cert_type": certType}
			if principals != "" {
				data["valid_principals"] = principals
			}
			signed, err := f.sign(cmd, c, data)
			if err != nil {
				return err
			}
			out := strings.TrimSuffix(pubPath, ".pub") + "-cert.pub"
			if err := writeFileAtomic(out, []byte(signed), 0o644); err != nil {
				return err
			}
			cert, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(signed))
			until := time.Unix(int64(cert.(*ssh.Certificate).ValidBefore), 0).UTC().Format(time.RFC3339)
			fmt.Fprintf(e.stderr, "keyward: certificate valid until %s\n", until)
			fmt.Fprintln(cmd.OutOrStdout(), out)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&pubPath, "public-key", "", "the public key to sign (default ~/.ssh/id_ed25519.pub)")
	cmd.Flags().StringVar(&principals, "principals", "", "comma-separated principals (default: the role's default_user)")
	cmd.Flags().StringVar(&certType, "cert-type", "user", "user or host")
	return cmd
}

// writeFileAtomic replaces path with data (mode perm) through a temporary
// file in the same directory, so ssh never reads half a certificate.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyward-cert-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
