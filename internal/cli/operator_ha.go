package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func newOperatorStepDownCmd(e *env) *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:   "step-down",
		Short: "Make the active node give up the active role",
		Long: `Make the active node of an HA cluster give up the active role: it becomes
a standby and another node takes over (a lone node becomes active again
after a short pause). Any node accepts the request; a standby forwards it
to the active node. Needs sudo on sys/step-down.`,
		Example: `  keyward operator step-down`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			// Name the node that stepped down, as Vault does; a node that
			// cannot say who is active still gets the request.
			target := c.Address()
			if l, err := c.Leader(cmd.Context()); err == nil && l.LeaderAddress != "" {
				target = l.LeaderAddress
			}
			if err := c.StepDown(cmd.Context()); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Stepped down: %s", target)
		},
	}
	conn.add(cmd)
	return cmd
}

func newOperatorMembersCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the nodes of the HA cluster",
		Long: `List the nodes of the HA cluster as the active node knows them: the
active node itself and each standby that reported to it recently, with
their addresses, version and when each standby last reported (Last Echo).
-format=json prints {"nodes":[...]}. Needs sudo on sys/ha-status.`,
		Example: `  keyward operator members
  keyward operator members -format=json | jq -r '.nodes[] | select(.active_node) | .api_address'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			nodes, err := c.HAStatus(cmd.Context())
			if err != nil {
				return explain(err, c)
			}
			if nodes == nil {
				nodes = []api.HANode{}
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, map[string]any{"nodes": nodes}); ok {
				return err
			}
			if len(nodes) == 0 {
				_, err := fmt.Fprintln(w, "No HA nodes reported")
				return err
			}
			return writeColumns(w, []string{"Host Name", "API Address", "Cluster Address", "Active Node", "Version", "Last Echo"}, func(add func(...string)) {
				for _, n := range nodes {
					echo := "n/a"
					if n.LastEcho != nil {
						echo = n.LastEcho.UTC().Format(time.RFC3339)
					}
					add(n.Hostname, n.APIAddress, n.ClusterAddress, strconv.FormatBool(n.ActiveNode), n.Version, echo)
				}
			})
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}
