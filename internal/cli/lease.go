package cli

import (
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func init() { register(newLeaseCmd) }

func newLeaseCmd(e *env) *cobra.Command {
	cmd := groupCmd("lease", "Renew, revoke, look up and list leases",
		`Lease commands manage the leases of dynamic secrets such as database
credentials: extend one within its maximum TTL, revoke one or every lease
under a prefix, inspect one, or list the leases under a path.

A token may renew or revoke only the leases it created, unless it is root.`,
		`  keyward lease lookup database/creds/ro/Q2JHU...
  keyward lease renew -increment=30m database/creds/ro/Q2JHU...
  keyward lease revoke -prefix database/creds/ro/
  keyward lease list database/creds/ro/`)
	cmd.AddCommand(newLeaseRenewCmd(e), newLeaseRevokeCmd(e), newLeaseLookupCmd(e), newLeaseListCmd(e))
	return cmd
}

func newLeaseRenewCmd(e *env) *cobra.Command {
	var (
		conn      connFlags
		out       outFlags
		increment time.Duration
	)
	cmd := &cobra.Command{
		Use:   "renew [flags] LEASE_ID",
		Short: "Extend a lease's time to live",
		Long: `Renew a lease. -increment asks for a new TTL counted from now; the server
caps it at the lease's maximum TTL and says so in a warning.`,
		Example: `  keyward lease renew -increment=1h database/creds/ro/Q2JHU...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			data := map[string]any{"lease_id": args[0]}
			if increment > 0 {
				data["increment"] = int64(increment / time.Second)
			}
			s, err := c.Write(cmd.Context(), "sys/leases/renew", data)
			if err != nil {
				return explain(err, c)
			}
			return printSecret(e, cmd.OutOrStdout(), &out, s)
		},
	}
	conn.add(cmd)
	out.add(cmd, true)
	cmd.Flags().DurationVar(&increment, "increment", 0, "requested new TTL, e.g. 30m")
	return cmd
}

func newLeaseRevokeCmd(e *env) *cobra.Command {
	var (
		conn          connFlags
		prefix, force bool
	)
	cmd := &cobra.Command{
		Use:   "revoke [flags] LEASE_ID|PREFIX",
		Short: "Revoke a lease, or every lease under a prefix",
		Long: `Revoke a lease now: the engine removes the credential. With -prefix, every
lease under PREFIX is revoked (needs sudo). With -force (and -prefix), the
leases are forgotten without asking the engine, for credentials already
removed by hand; use it only when revocation cannot succeed.`,
		Example: `  keyward lease revoke database/creds/ro/Q2JHU...
  keyward lease revoke -prefix database/creds/ro/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if force && !prefix {
				return usagef("-force needs -prefix")
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			id := strings.TrimSpace(args[0])
			path, data := "sys/leases/revoke", map[string]any{"lease_id": id}
			switch {
			case force:
				path, data = "sys/leases/revoke-force/"+id, nil
			case prefix:
				path, data = "sys/leases/revoke-prefix/"+id, nil
			}
			if _, err := c.Write(cmd.Context(), path, data); err != nil {
				return explain(err, c)
			}
			if prefix {
				return success(cmd.OutOrStdout(), "Revoked all leases under %s", id)
			}
			return success(cmd.OutOrStdout(), "Revoked lease %s", id)
		},
	}
	conn.add(cmd)
	cmd.Flags().BoolVar(&prefix, "prefix", false, "treat the argument as a prefix")
	cmd.Flags().BoolVar(&force, "force", false, "forget the leases without engine revocation (with -prefix)")
	return cmd
}

func newLeaseLookupCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "lookup [flags] LEASE_ID",
		Short: "Show a lease's times and revocation state",
		Long: `Look up a lease: when it was issued, when it expires, whether it is
renewable, and its revocation state (active, revoke_pending or irrevocable,
with the number of failed attempts).`,
		Example: `  keyward lease lookup database/creds/ro/Q2JHU...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			s, err := c.Write(cmd.Context(), "sys/leases/lookup", map[string]any{"lease_id": args[0]})
			if err != nil {
				return explain(err, c)
			}
			return printSecret(e, cmd.OutOrStdout(), &out, s)
		},
	}
	conn.add(cmd)
	out.add(cmd, true)
	return cmd
}

func newLeaseListCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "list [flags] PREFIX",
		Short: "List the leases under a prefix",
		Long: `List lease ids (or the next path level, ending in "/") under PREFIX. Needs
sudo on sys/leases/lookup.`,
		Example: `  keyward lease list database/creds/
  keyward lease list database/creds/ro/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			prefix := strings.TrimSuffix(args[0], "/") + "/"
			s, err := c.List(cmd.Context(), "sys/leases/lookup/"+prefix)
			if err != nil {
				return explain(err, c)
			}
			keys := listKeys(s)
			if len(keys) == 0 {
				return notFound("sys/leases/lookup/" + prefix)
			}
			return printList(cmd.OutOrStdout(), &out, keys)
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}
