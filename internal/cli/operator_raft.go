package cli

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func newOperatorRaftCmd(e *env) *cobra.Command {
	cmd := groupCmd("raft", "Manage a cluster on integrated raft storage",
		`Raft commands manage a cluster whose nodes use storage "raft": join a new
node to it, list and remove its members, read and tune autopilot, and save
or restore snapshots of its data.`,
		`  keyward operator raft join https://node1.example.com:8200
  keyward operator raft list-peers
  keyward operator raft snapshot save keyward.snap`)
	cmd.AddCommand(newOperatorRaftJoinCmd(e), newOperatorRaftListPeersCmd(e), newOperatorRaftRemovePeerCmd(e),
		newOperatorRaftAutopilotCmd(e), newOperatorRaftSnapshotCmd(e))
	return cmd
}

func newOperatorRaftJoinCmd(e *env) *cobra.Command {
	var (
		conn                  connFlags
		out                   outFlags
		caFile, certFile, key string
		retry, nonVoter       bool
	)
	cmd := &cobra.Command{
		Use:   "join [flags] LEADER_API_ADDR",
		Short: "Join this node to a raft cluster",
		Long: `Ask the node at -address (KEYWARD_ADDR) to join the raft cluster whose
leader answers at LEADER_API_ADDR. The node must be new: uninitialized and
holding no raft data. It then waits, sealed, until it is unsealed with the
cluster's unseal keys, which proves it belongs; autopilot makes it a voter
once it has stayed healthy for server_stabilization_time.

-leader-ca-cert, -leader-client-cert and -leader-client-key name PEM files
the node uses to reach the leader over TLS; their contents are sent to the
joining node, never printed. With -retry the node keeps trying in the
background until the leader answers. A -non-voter node receives the data
but never votes.`,
		Example: `  keyward operator raft join -address=http://127.0.0.1:8210 http://127.0.0.1:8200
  keyward operator raft join -leader-ca-cert=ca.pem https://node1.example.com:8200
  keyward operator unseal -address=http://127.0.0.1:8210`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.RaftJoinRequest{LeaderAPIAddr: args[0], Retry: retry, NonVoter: nonVoter}
			for _, f := range []struct {
				flag, path string
				dst        *string
			}{{"-leader-ca-cert", caFile, &req.LeaderCACert}, {"-leader-client-cert", certFile, &req.LeaderClientCert}, {"-leader-client-key", key, &req.LeaderClientKey}} {
				if f.path == "" {
					continue
				}
				b, err := os.ReadFile(f.path)
				if err != nil {
					return fmt.Errorf("%s: %w", f.flag, err)
				}
				*f.dst = string(b)
			}
			if (req.LeaderClientCert == "") != (req.LeaderClientKey == "") {
				return usagef("-leader-client-cert and -leader-client-key go together")
			}
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			joined, err := c.RaftJoin(cmd.Context(), req)
			if err != nil {
				return explain(err, c)
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, map[string]any{"joined": joined}); ok {
				return err
			}
			return writeTable(w, []row{{"Joined", joined}})
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	cmd.Flags().StringVar(&caFile, "leader-ca-cert", "", "PEM file of the CA that signed the leader's TLS certificate")
	cmd.Flags().StringVar(&certFile, "leader-client-cert", "", "PEM file of a client certificate to present to the leader")
	cmd.Flags().StringVar(&key, "leader-client-key", "", "PEM file of the client certificate's private key")
	cmd.Flags().BoolVar(&retry, "retry", false, "keep trying in the background until the leader answers")
	cmd.Flags().BoolVar(&nonVoter, "non-voter", false, "join as a non-voter that autopilot never promotes")
	return cmd
}

func newOperatorRaftListPeersCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "list-peers",
		Short: "List the members of the raft cluster",
		Long: `List the raft cluster's members: node id, cluster address, whether it is
the leader or a follower, and whether it votes. -format=json prints
{"data":{"config":{"servers":[...],"index":N}}}, the part of Vault's
answer that scripts read. Needs sudo on sys/storage/raft/configuration.`,
		Example: `  keyward operator raft list-peers
  keyward operator raft list-peers -format=json | jq -r '.data.config.servers[].node_id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			cfg, err := c.RaftConfiguration(cmd.Context())
			if err != nil {
				return explain(err, c)
			}
			w := cmd.OutOrStdout()
			if cfg.Servers == nil {
				cfg.Servers = []api.RaftServer{}
			}
			if ok, err := out.structured(w, map[string]any{"data": map[string]any{"config": cfg}}); ok {
				return err
			}
			return writeColumns(w, []string{"Node", "Address", "State", "Voter"}, func(add func(...string)) {
				for _, s := range cfg.Servers {
					state := "follower"
					if s.Leader {
						state = "leader"
					}
					add(s.NodeID, s.Address, state, strconv.FormatBool(s.Voter))
				}
			})
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

func newOperatorRaftRemovePeerCmd(e *env) *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:   "remove-peer NODE_ID",
		Short: "Remove a member from the raft cluster",
		Long: `Remove the member NODE_ID (as list-peers shows it) from the raft cluster.
A removed node cannot come back with its old data: to return it, wipe its
storage directory and join it again. Remove a node that is gone for good,
or one you are about to retire, so that it no longer counts towards the
quorum. Needs sudo on sys/storage/raft/remove-peer.`,
		Example: `  keyward operator raft remove-peer node3`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			if err := c.RaftRemovePeer(cmd.Context(), args[0]); err != nil {
				return explain(err, c)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), "Peer removed successfully!")
			return err
		},
	}
	conn.add(cmd)
	return cmd
}

func newOperatorRaftAutopilotCmd(e *env) *cobra.Command {
	cmd := groupCmd("autopilot", "Read autopilot's view of the cluster and tune it",
		`Autopilot runs on the active node: it promotes a new member to voter once
it has stayed healthy for server_stabilization_time, and with
cleanup_dead_servers removes members unheard from for
dead_server_last_contact_threshold while min_quorum voters remain.`,
		`  keyward operator raft autopilot state
  keyward operator raft autopilot set-config -server-stabilization-time=30s`)
	cmd.AddCommand(newAutopilotStateCmd(e), newAutopilotGetConfigCmd(e), newAutopilotSetConfigCmd(e))
	return cmd
}

func newAutopilotStateCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Show the health of each member as autopilot sees it",
		Long: `Show whether the cluster is healthy, how many voters it can lose and
still keep a quorum (failure tolerance), the leader, the voters, and for
each member its status, health, last contact and last applied index.
Needs sudo on sys/storage/raft/autopilot/state.`,
		Example: `  keyward operator raft autopilot state
  keyward operator raft autopilot state -format=json | jq .failure_tolerance`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			st, err := c.RaftAutopilotState(cmd.Context())
			if err != nil {
				return explain(err, c)
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, st); ok {
				return err
			}
			return writeAutopilotState(w, st)
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

// writeAutopilotState prints the state as Vault's CLI does: a summary,
// the voters, then one indented block per server.
func writeAutopilotState(w io.Writer, st *api.AutopilotState) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	fmt.Fprintf(tw, "Healthy:\t%t\n", st.Healthy)
	fmt.Fprintf(tw, "Failure Tolerance:\t%d\n", st.FailureTolerance)
	fmt.Fprintf(tw, "Leader:\t%s\n", st.Leader)
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("Voters:\n")
	for _, v := range st.Voters {
		b.WriteString("   " + v + "\n")
	}
	b.WriteString("Servers:\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	ids := make([]string, 0, len(st.Servers))
	for id := range st.Servers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		s := st.Servers[id]
		if _, err := fmt.Fprintf(w, "   %s\n", id); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
		for _, r := range []row{
			{"Name", s.Name}, {"Address", s.Address}, {"Status", s.Status}, {"Node Status", s.NodeStatus},
			{"Healthy", s.Healthy}, {"Last Contact", s.LastContact}, {"Last Term", s.LastTerm},
			{"Last Index", s.LastIndex}, {"Version", s.Version}, {"Node Type", s.NodeType},
		} {
			fmt.Fprintf(tw, "      %s:\t%s\n", r.key, formatValue(r.val))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func autopilotRows(cfg *api.AutopilotConfig) []row {
	return []row{
		{"Cleanup Dead Servers", cfg.CleanupDeadServers},
		{"Last Contact Threshold", time.Duration(cfg.LastContactThreshold).String()},
		{"Dead Server Last Contact Threshold", time.Duration(cfg.DeadServerLastContactThreshold).String()},
		{"Server Stabilization Time", time.Duration(cfg.ServerStabilizationTime).String()},
		{"Min Quorum", cfg.MinQuorum},
		{"Max Trailing Logs", strconv.FormatUint(cfg.MaxTrailingLogs, 10)},
	}
}

func newAutopilotGetConfigCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:     "get-config",
		Short:   "Show autopilot's configuration",
		Long:    "Show autopilot's configuration. Needs sudo on\nsys/storage/raft/autopilot/configuration.",
		Example: `  keyward operator raft autopilot get-config`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			cfg, err := c.RaftAutopilotConfig(cmd.Context())
			if err != nil {
				return explain(err, c)
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, cfg); ok {
				return err
			}
			return writeTable(w, autopilotRows(cfg))
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

func newAutopilotSetConfigCmd(e *env) *cobra.Command {
	var (
		conn                     connFlags
		cleanup                  bool
		lastContact, deadContact time.Duration
		stabilization            time.Duration
		trailing                 uint64
		quorum                   int
	)
	cmd := &cobra.Command{
		Use:   "set-config [flags]",
		Short: "Change autopilot's configuration",
		Long: `Change the autopilot settings given as flags and keep the others. The
durations are Go durations (10s, 5m, 24h). Needs sudo on
sys/storage/raft/autopilot/configuration.`,
		Example: `  keyward operator raft autopilot set-config -server-stabilization-time=30s
  keyward operator raft autopilot set-config -cleanup-dead-servers=true -dead-server-last-contact-threshold=1h -min-quorum=3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var u api.AutopilotConfigUpdate
			set := cmd.Flags().Changed
			if set("cleanup-dead-servers") {
				u.CleanupDeadServers = &cleanup
			}
			for _, d := range []struct {
				flag string
				v    time.Duration
				dst  **api.Duration
			}{{"last-contact-threshold", lastContact, &u.LastContactThreshold},
				{"dead-server-last-contact-threshold", deadContact, &u.DeadServerLastContactThreshold},
				{"server-stabilization-time", stabilization, &u.ServerStabilizationTime}} {
				if !set(d.flag) {
					continue
				}
				if d.v <= 0 {
					return usagef("-%s must be a positive duration", d.flag)
				}
				v := api.Duration(d.v)
				*d.dst = &v
			}
			if set("max-trailing-logs") {
				if trailing < 1 {
					return usagef("-max-trailing-logs must be positive")
				}
				u.MaxTrailingLogs = &trailing
			}
			if set("min-quorum") {
				if quorum < 1 {
					return usagef("-min-quorum must be positive")
				}
				u.MinQuorum = &quorum
			}
			if u == (api.AutopilotConfigUpdate{}) {
				return usagef("set-config needs at least one setting, e.g. -server-stabilization-time=30s")
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			if err := c.RaftAutopilotSetConfig(cmd.Context(), u); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Autopilot configuration updated")
		},
	}
	conn.add(cmd)
	f := cmd.Flags()
	f.BoolVar(&cleanup, "cleanup-dead-servers", false, "remove members unheard from for -dead-server-last-contact-threshold")
	f.DurationVar(&lastContact, "last-contact-threshold", 0, "how long a member may go unheard before it counts as unhealthy")
	f.DurationVar(&deadContact, "dead-server-last-contact-threshold", 0, "how long a member may go unheard before cleanup removes it")
	f.DurationVar(&stabilization, "server-stabilization-time", 0, "how long a new member must stay healthy before it becomes a voter")
	f.Uint64Var(&trailing, "max-trailing-logs", 0, "how many entries behind the leader a healthy member may be")
	f.IntVar(&quorum, "min-quorum", 0, "never let cleanup remove a dead voter below this many voters")
	return cmd
}
