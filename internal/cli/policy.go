package cli

import (
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/policy"
)

func init() { register(newPolicyCmd) }

func newPolicyCmd(e *env) *cobra.Command {
	cmd := groupCmd("policy", "Write, read, list, delete, format, test and explain ACL policies",
		`Policy commands manage ACL policies, written in Vault's HCL (or JSON)
policy syntax. Tokens carry a list of policy names; a request is allowed
when the policies grant the capability on its path.`,
		`  keyward policy write ci-read ci-read.hcl
  keyward policy read ci-read
  keyward policy fmt ci-read.hcl
  keyward policy test policy-tests.yaml
  keyward policy who-can read kv-prod/data/db`)
	cmd.AddCommand(newPolicyWriteCmd(e), newPolicyReadCmd(e), newPolicyListCmd(e),
		newPolicyDeleteCmd(e), newPolicyFmtCmd(e), newPolicyTestCmd(e), newPolicyLintCmd(e),
		newPolicyExplainCmd(e), newPolicyWhoCanCmd(e))
	return cmd
}

func policyPath(name string) string { return "sys/policies/acl/" + url.PathEscape(name) }

func newPolicyWriteCmd(e *env) *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:   "write NAME FILE|-",
		Short: "Create or replace a policy",
		Long: `Create or replace the policy NAME with the rules in FILE ("-" reads them
from stdin). The server checks the syntax and refuses invalid policies.`,
		Example: `  keyward policy write ci-read ci-read.hcl
  keyward policy write ci-read - < ci-read.hcl`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				text []byte
				err  error
			)
			if args[1] == "-" {
				text, err = (&stdinSource{r: cmd.InOrStdin()}).readAll("the policy")
			} else {
				text, err = os.ReadFile(args[1])
			}
			if err != nil {
				return fmt.Errorf("read policy: %w", err)
			}
			if len(text) > policy.MaxPolicyBytes {
				return fmt.Errorf("policy is larger than %d bytes", policy.MaxPolicyBytes)
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			if _, err := c.Write(cmd.Context(), policyPath(args[0]), map[string]any{"policy": string(text)}); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Uploaded policy: %s", args[0])
		},
	}
	conn.add(cmd)
	return cmd
}

func newPolicyReadCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "read NAME",
		Short: "Print a policy's rules",
		Long:  "Print the rules of the policy NAME as they were written. -format=json\nprints the whole response.",
		Example: `  keyward policy read ci-read
  keyward policy read -format=json default`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			s, err := c.Read(cmd.Context(), policyPath(args[0]), nil)
			if err != nil {
				return explain(err, c)
			}
			if s == nil {
				return notFound(policyPath(args[0]))
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, s); ok {
				return err
			}
			text, _ := s.Data["policy"].(string)
			_, err = io.WriteString(w, text)
			if err == nil && (text == "" || text[len(text)-1] != '\n') {
				_, err = io.WriteString(w, "\n")
			}
			return err
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

func newPolicyListCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List policy names",
		Long:    "List the names of all ACL policies, one per line.",
		Example: `  keyward policy list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			s, err := c.List(cmd.Context(), "sys/policies/acl")
			if err != nil {
				return explain(err, c)
			}
			keys := listKeys(s)
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, keys); ok {
				return err
			}
			for _, k := range keys {
				fmt.Fprintln(w, k)
			}
			return nil
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

func newPolicyDeleteCmd(e *env) *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a policy",
		Long: `Delete the policy NAME. Tokens that name it keep the name but lose its
rules at once. The default and root policies cannot be deleted.`,
		Example: `  keyward policy delete ci-read`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			if _, err := c.Delete(cmd.Context(), policyPath(args[0]), nil); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Deleted policy: %s", args[0])
		},
	}
	conn.add(cmd)
	return cmd
}

func newPolicyFmtCmd(*env) *cobra.Command {
	return &cobra.Command{
		Use:   "fmt FILE",
		Short: "Rewrite a policy file in canonical form",
		Long: `Parse the policy in FILE and rewrite it in canonical HCL form. Nothing is
sent to the server. An invalid policy is reported and the file left as is.`,
		Example: `  keyward policy fmt ci-read.hcl`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			st, err := os.Stat(name)
			if err != nil {
				return err
			}
			if st.Size() > policy.MaxPolicyBytes {
				return fmt.Errorf("%s is larger than %d bytes", name, policy.MaxPolicyBytes)
			}
			raw, err := os.ReadFile(name)
			if err != nil {
				return err
			}
			formatted, err := policy.Format(string(raw))
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := os.WriteFile(name, []byte(formatted), st.Mode().Perm()); err != nil {
				return err
			}
			return success(cmd.OutOrStdout(), "Formatted policy: %s", name)
		},
	}
}
