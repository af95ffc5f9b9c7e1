package cli

import (
	"github.com/spf13/cobra"
)

func newKVEnableVersioningCmd(e *env) *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:   "enable-versioning PATH",
		Short: "Upgrade a KV version 1 mount to version 2 in place",
		Long: `Turn the KV version 1 mount at PATH into version 2: each secret becomes
version 1 of a versioned secret, with metadata. The command returns when
the upgrade is done; meanwhile the mount answers 503. An interrupted
upgrade resumes when the command is run again or the server unseals.
Version 2 cannot go back to version 1.`,
		Example: `  keyward kv enable-versioning kv1/`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := mountPathArg(args[0])
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			s, err := c.Write(cmd.Context(), "sys/mounts/"+path+"/tune", map[string]any{"options": map[string]any{"version": "2"}})
			if err != nil {
				return explain(err, c)
			}
			printWarnings(e, s)
			return success(cmd.OutOrStdout(), "Tuned the secrets engine at: %s/", path)
		},
	}
	conn.add(cmd)
	return cmd
}
