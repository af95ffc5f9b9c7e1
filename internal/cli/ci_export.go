package cli

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/inject"
	"github.com/keyward/keyward/internal/secretref"
)

func newCIExportCmd(e *env) *cobra.Command {
	var (
		conn                 connFlags
		refs                 refFlags
		githubEnv, githubOut string
		dir                  string
	)
	cmd := &cobra.Command{
		Use:   "export [flags] [NAME=PATH#FIELD...]",
		Short: "Hand secrets to later GitHub Actions steps, masked in the job log",
		Long: `Export fetches the given references (arguments, --env, --env-from and the env
parts of keyward.yaml, as keyward run does) once, then

  1. prints a ::add-mask:: workflow command for every value, every line of a
     multi-line value, and each encoded form a step may print that differs
     from the value (base64 and base64url, with and without padding,
     URL-encoded, JSON-escaped), so the runner masks them in the job log;
  2. only then appends NAME=VALUE to -github-env (the file $GITHUB_ENV names:
     the variables of every later step) and/or -github-output (the file
     $GITHUB_OUTPUT names: outputs of this step), in the multi-line form with
     a random delimiter that the value does not contain; and/or writes each
     value to the file -dir/NAME (mode 0600, the directory 0700).

It is what the Keyward GitHub Action runs (integrations/github). Leases
obtained live as long as the token: revoke it at the end of the job with
keyward ci revoke.`,
		Example: `  keyward ci export -github-env "$GITHUB_ENV" DB_PASSWORD=secret/ci/db#password
  keyward ci export -github-output "$GITHUB_OUTPUT" --env-from secret/ci/app --env-prefix APP_`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if githubEnv == "" && githubOut == "" && dir == "" {
				return usagef("give -github-env FILE, -github-output FILE and/or -dir DIR")
			}
			plan, err := refs.plan(args)
			if err != nil {
				return err
			}
			if plan.Empty() {
				return usagef("nothing to export: give NAME=PATH#FIELD, --env or --env-from")
			}
			if err := inject.ProtectProcess(); err != nil {
				return err
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			res, err := resolve(cmd.Context(), secretref.NewFetcher(c), plan)
			if err != nil {
				return explain(err, c)
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			for _, sec := range res.Secrets {
				for _, m := range maskForms(sec.Value) {
					fmt.Fprintf(w, "::add-mask::%s\n", escapeWorkflowData(m))
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			for _, file := range []string{githubEnv, githubOut} {
				if file == "" {
					continue
				}
				var b strings.Builder
				for _, v := range res.Spec.Env {
					block, err := githubFileBlock(v.Name, v.Value.Reveal())
					if err != nil {
						return err
					}
					b.WriteString(block)
				}
				if err := appendFile(file, b.String()); err != nil {
					return err
				}
			}
			if dir != "" {
				if err := writeSecretFiles(dir, res.Spec.Env); err != nil {
					return err
				}
			}
			fmt.Fprintf(e.stderr, "keyward: exported %d secret(s), masked in the log\n", len(res.Spec.Env))
			return nil
		},
	}
	conn.add(cmd)
	refs.add(cmd, false)
	cmd.Flags().StringVar(&githubEnv, "github-env", "", "append the variables to this file ($GITHUB_ENV)")
	cmd.Flags().StringVar(&dir, "dir", "", "write each value to the file DIR/NAME (0600)")
	cmd.Flags().StringVar(&githubOut, "github-output", "", "append the values as step outputs to this file ($GITHUB_OUTPUT)")
	return cmd
}

// maskForms returns the strings to mask for a secret value: each line of
// it, and the encodings of the whole value that differ from it, without
// duplicates or empty strings.
func maskForms(v string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.TrimRight(s, "\r")
		if strings.TrimSpace(s) == "" || seen[s] {
			return
		}
		seen[s] = true
		out = append(out, s)
	}
	for _, line := range strings.Split(v, "\n") {
		add(line)
	}
	// A whole secret is exported as a JSON object: each field is a
	// secret of its own, which a step may print alone.
	var fields map[string]any
	if json.Unmarshal([]byte(v), &fields) == nil {
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			if s, ok := fields[k].(string); ok {
				for _, f := range maskForms(s) {
					add(f)
				}
			}
		}
	}
	b := []byte(v)
	add(base64.StdEncoding.EncodeToString(b))
	add(base64.RawStdEncoding.EncodeToString(b))
	add(base64.URLEncoding.EncodeToString(b))
	add(base64.RawURLEncoding.EncodeToString(b))
	add(url.QueryEscape(v))
	add(url.PathEscape(v))
	if j, err := json.Marshal(v); err == nil {
		add(string(j[1 : len(j)-1]))
	}
	return out
}

// escapeWorkflowData escapes a workflow command's data as the runner
// unescapes it: %, CR and LF.
func escapeWorkflowData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// githubFileBlock renders NAME=VALUE for $GITHUB_ENV or $GITHUB_OUTPUT
// in the multi-line form, which holds any value.
func githubFileBlock(name, val string) (string, error) {
	d, err := delimiter(val)
	if err != nil {
		return "", err
	}
	return name + "<<" + d + "\n" + val + "\n" + d + "\n", nil
}

// delimiter returns a heredoc delimiter for the GitHub file commands that
// no line of v equals.
func delimiter(v string) (string, error) {
	for range 8 {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		d := "KEYWARD_EOF_" + hex.EncodeToString(b[:])
		if !strings.Contains(v, d) {
			return d, nil
		}
	}
	return "", errors.New("cannot choose a delimiter for a value")
}

// writeSecretFiles writes each variable to dir/NAME, creating dir 0700;
// an existing file is not overwritten.
func writeSecretFiles(dir string, vars []inject.EnvVar) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	for _, v := range vars {
		f, err := os.OpenFile(filepath.Join(dir, v.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
		if err != nil {
			return fmt.Errorf("write secret file %s: %w", v.Name, err)
		}
		_, err = io.WriteString(f, v.Value.Reveal())
		if err = errors.Join(err, f.Close()); err != nil {
			return fmt.Errorf("write secret file %s: %w", v.Name, err)
		}
	}
	return nil
}

func appendFile(name, s string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, s)
	return errors.Join(err, f.Close())
}

func newCIRevokeCmd(e *env) *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke the token keyward ci login obtained, and its leases",
		Long: `Revoke the current token ($KEYWARD_TOKEN, or the one keyward ci login stored
in ~/.keyward-token) with auth/token/revoke-self, which revokes its child
tokens and leases too, then remove the stored token file. Run it at the end
of every CI job, also when the job failed (GitHub: a step with
"if: always()"; GitLab: after_script). A token that is already gone (expired
or revoked) is not an error, and no token at all prints a note and exits 0.`,
		Example: `  keyward ci revoke`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if c.Token() == "" {
				fmt.Fprintln(w, "No Keyward token to revoke.")
				return nil
			}
			_, err = c.Write(cmd.Context(), "auth/token/revoke-self", nil)
			var re *api.ResponseError
			gone := errors.As(err, &re) && re.StatusCode == http.StatusForbidden
			if err != nil && !gone {
				return explain(fmt.Errorf("revoke the token: %w", err), c)
			}
			if stored, _ := readTokenFile(e); stored != "" && subtle.ConstantTimeCompare([]byte(stored), []byte(c.Token())) == 1 {
				if err := os.Remove(tokenFilePath(e)); err != nil {
					return fmt.Errorf("remove the token file: %w", err)
				}
			}
			if gone {
				fmt.Fprintln(w, "The token was already expired or revoked.")
				return nil
			}
			fmt.Fprintln(w, "Token revoked, with its leases.")
			return nil
		},
	}
	conn.add(cmd)
	return cmd
}
