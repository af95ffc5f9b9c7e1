package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func init() { register(newSecretsCmd) }

func newSecretsCmd(e *env) *cobra.Command {
	cmd := groupCmd("secrets", "Enable, tune, move, list and disable secrets engines",
		`Secrets commands manage the secrets engines mounted on the server, such
as key/value stores.`,
		`  keyward secrets enable -path=team -version=2 kv
  keyward secrets list -detailed`)
	cmd.AddCommand(newSecretsEnableCmd(e), newSecretsDisableCmd(e), newSecretsListCmd(e), newSecretsTuneCmd(e),
		newSecretsMoveCmd(e))
	return cmd
}

func mountPathArg(p string) string { return strings.Trim(p, "/") }

type tuneFlags struct {
	description string
	defaultTTL  time.Duration
	maxTTL      time.Duration
	options     []string
}

func (t *tuneFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&t.description, "description", "", "human-readable description")
	fl.DurationVar(&t.defaultTTL, "default-lease-ttl", 0, "default lease TTL of the mount (0: the system default)")
	fl.DurationVar(&t.maxTTL, "max-lease-ttl", 0, "maximum lease TTL of the mount (0: the system maximum)")
	fl.StringArrayVar(&t.options, "options", nil, "KEY=VALUE engine option (repeatable)")
}

func newSecretsEnableCmd(e *env) *cobra.Command {
	var (
		conn    connFlags
		tune    tuneFlags
		path    string
		version int
	)
	cmd := &cobra.Command{
		Use:   "enable [flags] TYPE",
		Short: "Enable a secrets engine",
		Long: `Mount a secrets engine of TYPE (kv, kv-v2, ...) at -path, which defaults
to the type's name. For kv, -version=2 selects versioned KV (the same as
TYPE kv-v2); without it a kv mount is version 1.`,
		Example: `  keyward secrets enable -path=team -version=2 kv
  keyward secrets enable -path=ci -default-lease-ttl=1h -description="CI secrets" kv-v2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := parseStringMap("options", tune.options)
			if err != nil {
				return err
			}
			typ := args[0]
			if path == "" {
				path = typ
			}
			path = mountPathArg(path)
			if cmd.Flags().Changed("version") {
				if opts == nil {
					opts = map[string]string{}
				}
				opts["version"] = fmt.Sprint(version)
			}
			data := map[string]any{"type": typ, "description": tune.description}
			if opts != nil {
				data["options"] = opts
			}
			cfg := map[string]any{}
			if tune.defaultTTL > 0 {
				cfg["default_lease_ttl"] = tune.defaultTTL.String()
			}
			if tune.maxTTL > 0 {
				cfg["max_lease_ttl"] = tune.maxTTL.String()
			}
			if len(cfg) > 0 {
				data["config"] = cfg
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			if _, err := c.Write(cmd.Context(), "sys/mounts/"+path, data); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Enabled the %s secrets engine at: %s/", typ, path)
		},
	}
	conn.add(cmd)
	tune.add(cmd)
	cmd.Flags().StringVar(&path, "path", "", "where to mount the engine (default: TYPE)")
	cmd.Flags().IntVar(&version, "version", 0, "KV version, 1 or 2 (kv only)")
	return cmd
}

func newSecretsDisableCmd(e *env) *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:   "disable PATH",
		Short: "Disable a secrets engine and delete its data",
		Long: `Unmount the secrets engine at PATH. Everything stored in it is deleted
and its leases are revoked.`,
		Example: `  keyward secrets disable team/`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := mountPathArg(args[0])
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			if _, err := c.Delete(cmd.Context(), "sys/mounts/"+path, nil); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Disabled the secrets engine (if it existed) at: %s/", path)
		},
	}
	conn.add(cmd)
	return cmd
}

func ttlCell(sec int) string {
	if sec == 0 {
		return "system"
	}
	return humanSeconds(sec)
}

func newSecretsListCmd(e *env) *cobra.Command {
	var (
		conn     connFlags
		out      outFlags
		detailed bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the enabled secrets engines",
		Long:  "List the mounted secrets engines. -detailed adds TTLs and options.",
		Example: `  keyward secrets list
  keyward secrets list -detailed -format=json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			var resp struct {
				Data map[string]*api.MountInfo `json:"data"`
			}
			if _, err := c.Do(cmd.Context(), &api.Request{Method: "GET", Path: "sys/mounts"}, &resp); err != nil {
				return explain(err, c)
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, resp.Data); ok {
				return err
			}
			paths := slices.Sorted(maps.Keys(resp.Data))
			hdr := []string{"Path", "Type", "Accessor", "Description"}
			if detailed {
				hdr = []string{"Path", "Type", "Accessor", "Default TTL", "Max TTL", "Options", "Description"}
			}
			return writeColumns(w, hdr, func(add func(...string)) {
				for _, p := range paths {
					m := resp.Data[p]
					desc := m.Description
					if desc == "" {
						desc = "n/a"
					}
					if detailed {
						add(p, m.Type, m.Accessor, ttlCell(m.Config.DefaultLeaseTTL), ttlCell(m.Config.MaxLeaseTTL), formatValue(m.Options), desc)
					} else {
						add(p, m.Type, m.Accessor, desc)
					}
				}
			})
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	cmd.Flags().BoolVar(&detailed, "detailed", false, "show TTLs and options")
	return cmd
}

func newSecretsTuneCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		tune tuneFlags
	)
	cmd := &cobra.Command{
		Use:   "tune [flags] PATH",
		Short: "Change a secrets engine's settings",
		Long: `Change the description, lease TTLs or options of the secrets engine at
PATH. Only the flags given are changed; a TTL of 0 returns to the system
default.`,
		Example: `  keyward secrets tune -max-lease-ttl=3h team/`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := parseStringMap("options", tune.options)
			if err != nil {
				return err
			}
			fl := cmd.Flags()
			data := map[string]any{}
			if fl.Changed("description") {
				data["description"] = tune.description
			}
			if fl.Changed("default-lease-ttl") {
				data["default_lease_ttl"] = ttlOrSystem(tune.defaultTTL)
			}
			if fl.Changed("max-lease-ttl") {
				data["max_lease_ttl"] = ttlOrSystem(tune.maxTTL)
			}
			if opts != nil {
				data["options"] = opts
			}
			if len(data) == 0 {
				return usagef("nothing to change: give -description, -default-lease-ttl, -max-lease-ttl or -options")
			}
			path := mountPathArg(args[0])
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			if _, err := c.Write(cmd.Context(), "sys/mounts/"+path+"/tune", data); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Tuned the secrets engine at: %s/", path)
		},
	}
	conn.add(cmd)
	tune.add(cmd)
	return cmd
}

func ttlOrSystem(d time.Duration) string {
	if d == 0 {
		return "system"
	}
	return d.String()
}

func newSecretsMoveCmd(e *env) *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:   "move SOURCE DESTINATION",
		Short: "Move a secrets engine or auth method to a new path",
		Long: `Move the mount at SOURCE to DESTINATION (auth/NAME for auth methods).
Its data, configuration, accessor and leases move with it: lease ids are
renamed under the new path and stay revocable, and tokens issued by a
moved auth method keep working. Policies are not rewritten: a warning
names those that still mention SOURCE.`,
		Example: `  keyward secrets move database/ db-prod/
  keyward secrets move auth/ci auth/ci-github`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, to := mountPathArg(args[0]), mountPathArg(args[1])
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			s, err := c.Write(cmd.Context(), "sys/remount", map[string]any{"from": from, "to": to})
			if err != nil {
				return explain(err, c)
			}
			printWarnings(e, s)
			id, _ := s.Data["migration_id"].(string)
			st, err := c.Read(cmd.Context(), "sys/remount/status/"+id, nil)
			if err != nil {
				return explain(err, c)
			}
			info, _ := st.Data["migration_info"].(map[string]any)
			if status, _ := info["status"].(string); status != "success" {
				return fmt.Errorf("move of %s/ to %s/ (migration %s): status %q", from, to, id, status)
			}
			return success(cmd.OutOrStdout(), "Moved %s/ to: %s/", from, to)
		},
	}
	conn.add(cmd)
	return cmd
}
