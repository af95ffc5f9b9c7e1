package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { register(newUnwrapCmd) }

func newUnwrapCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "unwrap [TOKEN|-]",
		Short: "Unwrap a response-wrapping token",
		Long: `Unwrap a response-wrapping token (kww_...) and print the response it holds.
A wrapping token works once: a second unwrap fails, and the server logs it
as a possible interception. The token is read from a line of stdin when
TOKEN is "-" or missing, which keeps it out of the process list.

Your own token is not needed for a plain wrapping token (it is sent when
set, and ignored). A control group's wrapping token needs it: the held
request is performed as you, once the approvers approved.`,
		Example: `  keyward unwrap -field=secret_id < wrapped-token.txt
  keyward unwrap -format=json kww_...`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			tok := ""
			if len(args) == 1 && args[0] != "-" {
				tok = args[0]
			} else if tok, err = (&stdinSource{r: cmd.InOrStdin()}).readLine("wrapping token"); err != nil {
				return err
			}
			// Your own token goes along when set: the server ignores it for
			// a plain wrapping token, and a control group's is performed
			// as you, so it needs it.
			s, err := c.Write(cmd.Context(), "sys/wrapping/unwrap", map[string]any{"token": tok})
			if err != nil {
				return explain(fmt.Errorf("unwrap: %w", err), c)
			}
			if s == nil {
				return nil
			}
			return printSecret(e, cmd.OutOrStdout(), &out, s)
		},
	}
	conn.add(cmd)
	out.add(cmd, true)
	return cmd
}
