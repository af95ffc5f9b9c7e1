package cli

import (
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

func init() {
	register(newReadCmd)
	register(newWriteCmd)
	register(newListCmd)
	register(newDeleteCmd)
}

// queryArgs turns KEY=VALUE arguments into a query string.
func queryArgs(cmd *cobra.Command, args []string) (url.Values, error) {
	if len(args) == 0 {
		return nil, nil
	}
	in := &stdinSource{r: cmd.InOrStdin()}
	q := url.Values{}
	for _, a := range args {
		k, v, err := parseKVArg(a, in)
		if err != nil {
			return nil, err
		}
		q.Add(k, v)
	}
	return q, nil
}

func newReadCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "read PATH [KEY=VALUE...]",
		Short: "Read any API path",
		Long: `Read the API path PATH (below /v1/) and print the response. KEY=VALUE
arguments become query parameters. This is the low-level form: for KV
secrets, kv get handles versions and mounts for you.

Exits 2 when nothing is at PATH, as Vault's read does.`,
		Example: `  keyward read sys/mounts
  keyward read -field=policy sys/policies/acl/default
  keyward read secret/data/ci/db version=1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.resolve(e); err != nil {
				return err
			}
			q, err := queryArgs(cmd, args[1:])
			if err != nil {
				return err
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			s, err := c.Read(cmd.Context(), args[0], q)
			if err != nil {
				return explain(err, c)
			}
			if s == nil {
				return notFound(args[0])
			}
			return printSecret(e, cmd.OutOrStdout(), &out, s)
		},
	}
	conn.add(cmd)
	out.add(cmd, true)
	return cmd
}

func newWriteCmd(e *env) *cobra.Command {
	var (
		conn  connFlags
		out   outFlags
		force bool
	)
	cmd := &cobra.Command{
		Use:   "write PATH [KEY=VALUE...]",
		Short: "Write to any API path",
		Long: `Write KEY=VALUE data to the API path PATH (below /v1/). Writing with no
data needs -force. If the server answers with data (a token, say) it is
printed; otherwise a success line is.

` + kvArgsHelp,
		Example: `  keyward write sys/policies/acl/ci-read policy=@ci-read.hcl
  keyward write kv1/app password=- < pass.txt
  keyward write -force sys/rotate`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.resolve(e); err != nil {
				return err
			}
			if len(args) == 1 && !force {
				return usagef("no data to write: give KEY=VALUE arguments, or -force to write nothing")
			}
			data, err := parseKVArgs(args[1:], &stdinSource{r: cmd.InOrStdin()})
			if err != nil {
				return err
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			s, err := c.Write(cmd.Context(), args[0], data)
			if err != nil {
				return explain(err, c)
			}
			if s == nil || (len(s.Data) == 0 && s.Auth == nil) {
				printWarnings(e, s)
				return success(cmd.OutOrStdout(), "Data written to: %s", args[0])
			}
			return printSecret(e, cmd.OutOrStdout(), &out, s)
		},
	}
	conn.add(cmd)
	out.add(cmd, true)
	cmd.Flags().BoolVarP(&force, "force", "f", false, "allow writing with no data")
	return cmd
}

func newListCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "list PATH",
		Short: "List the keys under any API path",
		Long: `List the keys under the API path PATH (below /v1/). Exits 2 when there is
nothing to list.`,
		Example: `  keyward list secret/metadata/ci
  keyward list sys/policies/acl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			s, err := c.List(cmd.Context(), args[0])
			if err != nil {
				return explain(err, c)
			}
			keys := listKeys(s)
			if len(keys) == 0 {
				return notFound(strings.TrimSuffix(args[0], "/") + "/")
			}
			return printList(cmd.OutOrStdout(), &out, keys)
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

func newDeleteCmd(e *env) *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:   "delete PATH [KEY=VALUE...]",
		Short: "Delete any API path",
		Long: `Send a DELETE to the API path PATH (below /v1/). KEY=VALUE arguments
become query parameters.`,
		Example: `  keyward delete kv1/app
  keyward delete secret/data/ci/db`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := queryArgs(cmd, args[1:])
			if err != nil {
				return err
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			if _, err := c.Delete(cmd.Context(), args[0], q); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Data deleted (if it existed) at: %s", args[0])
		},
	}
	conn.add(cmd)
	return cmd
}
