package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func init() { register(newLoginCmd) }

func newLoginCmd(e *env) *cobra.Command {
	var (
		conn    connFlags
		out     outFlags
		method  string
		path    string
		noStore bool
	)
	cmd := &cobra.Command{
		Use:   "login [TOKEN|-] | -method=NAME [KEY=VALUE...]",
		Short: "Authenticate and store the token for later commands",
		Long: `Authenticate to the server and store the resulting token in
~/.keyward-token (mode 0600). Later commands use it when KEYWARD_TOKEN and
VAULT_TOKEN are unset.

With the default -method=token, the token is checked with the server first.
It is read from a line of stdin when TOKEN is "-" or missing, which keeps it
out of the process list.

With another -method, KEY=VALUE arguments are sent to auth/PATH/login, where
PATH is -path (default: the method name), and the returned token is stored.

` + kvArgsHelp + `

The token is not printed; -field=token prints it (and -no-store skips the
token file, for scripts that handle the token themselves).`,
		Example: `  keyward login < root-token.txt
  keyward login -method=approle role_id=ci secret_id=@secret-id.txt
  keyward login -method=userpass -path=people username=ana password=-`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			in := &stdinSource{r: cmd.InOrStdin()}
			var auth *api.SecretAuth
			if method == "token" {
				if path != "" {
					return usagef("-path applies only to methods other than token")
				}
				if len(args) > 1 {
					return usagef("login takes at most one TOKEN argument")
				}
				tok := ""
				if len(args) == 1 && args[0] != "-" {
					tok = args[0]
				} else if tok, err = in.readLine("token"); err != nil {
					return err
				}
				c.SetToken(tok)
				s, err := c.Read(cmd.Context(), "auth/token/lookup-self", nil)
				if err != nil {
					return explain(fmt.Errorf("the token was not accepted: %w", err), c)
				}
				if s == nil {
					return fmt.Errorf("the token was not accepted: empty lookup response")
				}
				auth = lookupToAuth(tok, s.Data)
			} else {
				data, err := parseKVArgs(args, in)
				if err != nil {
					return err
				}
				if path == "" {
					path = method
				}
				path = strings.Trim(strings.TrimPrefix(strings.Trim(path, "/"), "auth/"), "/")
				c.SetToken("")
				s, err := c.Write(cmd.Context(), "auth/"+path+"/login", data)
				if err != nil {
					return explain(err, c)
				}
				if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
					return fmt.Errorf("auth/%s/login returned no token", path)
				}
				auth = s.Auth
			}
			w := cmd.OutOrStdout()
			if !noStore {
				p, err := writeTokenFile(e, auth.ClientToken)
				if err != nil {
					return err
				}
				if out.field == "" && out.format == "table" {
					fmt.Fprintf(w, "Success! You are now authenticated. The token is stored in %s;\nlater commands use it when KEYWARD_TOKEN is unset.\n\n", p)
				}
			}
			if out.field != "" {
				return printField(w, authRows(auth, true), out.field)
			}
			if ok, err := out.structured(w, authView(auth)); ok {
				return err
			}
			return writeTable(w, authRows(auth, false))
		},
	}
	conn.add(cmd)
	out.add(cmd, true)
	cmd.Flags().StringVar(&method, "method", "token", "auth method: token, or the type of an enabled auth method")
	cmd.Flags().StringVar(&path, "path", "", "mount path of the auth method (default: the method name)")
	cmd.Flags().BoolVar(&noStore, "no-store", false, "do not store the token in ~/.keyward-token")
	return cmd
}

// authView is the auth block without the token, for json/yaml output.
func authView(a *api.SecretAuth) map[string]any {
	return map[string]any{
		"accessor":       a.Accessor,
		"policies":       strs(a.Policies),
		"token_policies": strs(a.TokenPolicies),
		"metadata":       a.Metadata,
		"lease_duration": a.LeaseDuration,
		"renewable":      a.Renewable,
		"entity_id":      a.EntityID,
		"token_type":     a.TokenType,
		"orphan":         a.Orphan,
	}
}

// lookupToAuth turns token lookup data into an auth block.
func lookupToAuth(tok string, d map[string]any) *api.SecretAuth {
	a := &api.SecretAuth{ClientToken: tok}
	a.Accessor, _ = d["accessor"].(string)
	a.Renewable, _ = d["renewable"].(bool)
	a.EntityID, _ = d["entity_id"].(string)
	a.TokenType, _ = d["type"].(string)
	a.Orphan, _ = d["orphan"].(bool)
	if ttl, ok := d["ttl"].(float64); ok {
		a.LeaseDuration = int(ttl)
	}
	if ps, ok := d["policies"].([]any); ok {
		for _, p := range ps {
			if s, ok := p.(string); ok {
				a.Policies = append(a.Policies, s)
			}
		}
		a.TokenPolicies = a.Policies
	}
	if m, ok := d["meta"].(map[string]any); ok {
		a.Metadata = map[string]string{}
		for k, v := range m {
			a.Metadata[k], _ = v.(string)
		}
	}
	return a
}
