package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func init() { register(newCICmd) }

func newCICmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ci",
		Short: "Commands for CI jobs (log in with the job's identity token)",
	}
	cmd.AddCommand(newCILoginCmd(e), newCIExportCmd(e), newCIRevokeCmd(e))
	return cmd
}

func newCILoginCmd(e *env) *cobra.Command {
	var (
		conn   connFlags
		opts   idTokenOpts
		role   string
		mount  string
		format string
	)
	cmd := &cobra.Command{
		Use:   "login -role NAME",
		Short: "Log in with the CI platform's identity token (GitHub, GitLab, Kubernetes)",
		Long: `Log in to a jwt auth mount with the identity token the CI platform gives the
job, so the job holds no long-lived credential:

  GitHub Actions  requests a token from ACTIONS_ID_TOKEN_REQUEST_URL with
                  -audience (the job needs "permissions: id-token: write")
  GitLab CI       reads the id_tokens variable named by -token-env
                  (default KEYWARD_ID_TOKEN)
  Kubernetes      reads the projected service-account token file
                  (/var/run/secrets/kubernetes.io/serviceaccount/token)
  any             -token-file PATH

The Keyward token is stored in ~/.keyward-token (mode 0600), where later
commands find it; -format=env prints "export KEYWARD_TOKEN=..." instead, for
eval. The CI token itself is never printed.`,
		Example: `  keyward ci login -role deploy-prod -audience https://keyward.example.com
  eval "$(keyward ci login -role deploy -format=env)"
  keyward ci login -role app -mount=k8s -token-file /var/run/secrets/tokens/keyward`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if role == "" {
				return usagef("-role is required")
			}
			if format != "table" && format != "env" {
				return usagef("-format must be table or env, not %q", format)
			}
			mount = strings.Trim(strings.TrimPrefix(strings.Trim(mount, "/"), "auth/"), "/")
			if mount == "" {
				return usagef("-mount must not be empty")
			}
			jwt, provider, err := idToken(cmd.Context(), e, opts)
			if err != nil {
				return err
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			c.SetToken("")
			s, err := c.Write(cmd.Context(), "auth/"+mount+"/login", map[string]any{"role": role, "jwt": jwt})
			if err != nil {
				return explain(fmt.Errorf("log in to auth/%s as role %q with the %s token: %w", mount, role, provider, err), c)
			}
			if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
				return fmt.Errorf("auth/%s/login returned no token", mount)
			}
			w := cmd.OutOrStdout()
			if format == "env" {
				_, err := fmt.Fprintf(w, "export KEYWARD_TOKEN=%s\n", s.Auth.ClientToken)
				return err
			}
			p, err := writeTokenFile(e, s.Auth.ClientToken)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "Logged in with the %s identity token as role %q; the token is stored in %s.\n", provider, role, p)
			fmt.Fprintf(w, "policies: %s; ttl: %s\n", strings.Join(s.Auth.Policies, ", "), humanSeconds(s.Auth.LeaseDuration))
			return nil
		},
	}
	conn.add(cmd)
	f := cmd.Flags()
	f.StringVar(&role, "role", "", "role to log in as (required)")
	f.StringVar(&mount, "mount", "jwt", "mount path of the jwt auth method")
	f.StringVar(&opts.provider, "provider", "auto", "identity token source: auto, github, gitlab, kubernetes or file")
	f.StringVar(&opts.audience, "audience", "", "audience to request (GitHub Actions; must be one of the role's bound_audiences)")
	f.StringVar(&opts.tokenEnv, "token-env", defaultTokenEnv, "environment variable holding the token (GitLab id_tokens)")
	f.StringVar(&opts.tokenFile, "token-file", "", "file holding the token (default for Kubernetes: "+k8sTokenFile+")")
	f.StringVar(&format, "format", "table", "output: table (store the token in ~/.keyward-token) or env (print an export line)")
	return cmd
}
