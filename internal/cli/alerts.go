package cli

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

func init() {
	register(newAlertsCmd)
	register(newCanaryCmd)
}

func newAlertsCmd(e *env) *cobra.Command {
	cmd := groupCmd("alerts", "List, show, acknowledge and resolve detection alerts",
		`The server's detectors (sys/watch/rules) raise alerts for unusual access:
off-hours use, unknown networks, brute force, bulk reads, canary reads and
more (docs/watch.md). An alert stays open until acknowledged (escalation
stops) and resolved (a new occurrence opens a new alert).`,
		`  keyward alerts list -status=open -severity=high
  keyward alerts show 3f2a...
  keyward alerts ack 3f2a...
  keyward alerts resolve 3f2a...`)
	cmd.AddCommand(newAlertsListCmd(e), newAlertsShowCmd(e), newAlertsChangeCmd(e, "ack", "Acknowledge an alert", "Acknowledged"),
		newAlertsChangeCmd(e, "resolve", "Resolve an alert", "Resolved"))
	return cmd
}

func newAlertsListCmd(e *env) *cobra.Command {
	var (
		conn                   connFlags
		out                    outFlags
		status, severity, rule string
	)
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "List alerts, newest first",
		Long: `List alerts: id, severity, status, rule, how many events it groups, when
it was last seen, who, and a summary. -status, -severity (the lowest shown)
and -rule filter.`,
		Example: `  keyward alerts list -status=open`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"status": status, "severity": severity, "rule": rule} {
				if v != "" {
					q.Set(k, v)
				}
			}
			s, err := c.Read(cmd.Context(), "sys/watch/alerts", q)
			if err != nil {
				return explain(err, c)
			}
			keys := listKeys(s)
			info := map[string]any{}
			if s != nil {
				info, _ = s.Data["key_info"].(map[string]any)
			}
			if ok, err := out.structured(cmd.OutOrStdout(), s); ok {
				return err
			}
			if len(keys) == 0 {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "No alerts.")
				return err
			}
			return writeColumns(cmd.OutOrStdout(), []string{"ID", "Severity", "Status", "Rule", "Count", "Last seen", "Who", "Summary"},
				func(add func(...string)) {
					for _, k := range keys {
						m, _ := info[k].(map[string]any)
						add(k, str(m["severity"]), str(m["status"]), str(m["rule"]), str(m["count"]), str(m["last_seen"]),
							str(m["identity"]), str(m["summary"]))
					}
				})
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	cmd.Flags().StringVar(&status, "status", "", "only alerts in this status: open, acknowledged, resolved")
	cmd.Flags().StringVar(&severity, "severity", "", "only alerts of at least this severity")
	cmd.Flags().StringVar(&rule, "rule", "", "only this rule's alerts")
	return cmd
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func newAlertsShowCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:     "show [flags] ID",
		Short:   "Show one alert with its evidence and actions",
		Example: `  keyward alerts show 3f2a...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			id, err := alertID(args[0])
			if err != nil {
				return err
			}
			s, err := c.Read(cmd.Context(), "sys/watch/alerts/"+id, nil)
			if err != nil {
				return explain(err, c)
			}
			if s == nil {
				return notFound("sys/watch/alerts/" + id)
			}
			return printSecret(e, cmd.OutOrStdout(), &out, s)
		},
	}
	conn.add(cmd)
	out.add(cmd, true)
	return cmd
}

func alertID(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "/?#") {
		return "", usagef("%q is not an alert id", s)
	}
	return s, nil
}

func newAlertsChangeCmd(e *env, verb, short, done string) *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:     verb + " [flags] ID",
		Short:   short,
		Long:    short + `. The server records who did it from the token's identity.`,
		Example: "  keyward alerts " + verb + " 3f2a...",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			id, err := alertID(args[0])
			if err != nil {
				return err
			}
			if _, err := c.Write(cmd.Context(), "sys/watch/alerts/"+id+"/"+verb, nil); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "%s alert %s", done, id)
		},
	}
	conn.add(cmd)
	return cmd
}

func newCanaryCmd(e *env) *cobra.Command {
	cmd := groupCmd("canary", "Create, list and remove canary secrets",
		`A canary (honeytoken) is a secret nobody should read: any read raises a
critical alert with the reader's identity and source. The mark lives in the
server's canary registry (sys/watch/canaries), not in the secret, so a
reader sees an ordinary secret.`,
		`  keyward canary create --type aws secret/billing/aws-root
  keyward canary list
  keyward canary remove secret/billing/aws-root`)
	cmd.AddCommand(newCanaryCreateCmd(e), newCanaryListCmd(e), newCanaryRemoveCmd(e))
	return cmd
}

const (
	upperDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	alnum       = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b64ish      = alnum + "+/"
)

func randFrom(alphabet string, n int) (string, error) {
	var b strings.Builder
	max := big.NewInt(int64(len(alphabet)))
	for i := 0; i < n; i++ {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b.WriteByte(alphabet[v.Int64()])
	}
	return b.String(), nil
}

// canaryValues generates realistic-looking values of typ from crypto/rand.
func canaryValues(typ string) (map[string]any, error) {
	r := func(alphabet string, n int) string {
		s, err := randFrom(alphabet, n)
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		return s
	}
	switch typ {
	case "aws":
		return map[string]any{"aws_access_key_id": "AKIA" + r(upperDigits, 16),
			"aws_secret_access_key": r(b64ish, 40), "region": "us-east-1"}, nil
	case "database-url":
		user := "svc_" + strings.ToLower(r(alnum[:26], 6))
		return map[string]any{"url": fmt.Sprintf("postgres://%s:%s@db-%s.internal:5432/app?sslmode=require",
			user, r(alnum, 24), strings.ToLower(r(alnum[:26], 5))), "username": user}, nil
	case "token":
		return map[string]any{"token": "ghp_" + r(alnum, 36)}, nil
	case "generic":
		return map[string]any{"password": r(alnum, 32)}, nil
	}
	return nil, usagef("--type must be aws, database-url, token or generic, not %q", typ)
}

func newCanaryCreateCmd(e *env) *cobra.Command {
	var (
		conn       connFlags
		typ, note  string
		registered bool
	)
	cmd := &cobra.Command{
		Use:   "create [flags] PATH",
		Short: "Write a canary secret with generated values and register it",
		Long: `Write a KV secret at PATH with realistic-looking generated values (an
AWS-style access key id and secret key, a PostgreSQL URL with a password, a
vendor-style token, or a password) and register PATH as a canary. The values
are not printed. With --register-only, PATH (a KV secret or a dynamic role's
credentials path such as database/creds/reporting) is registered as it is.`,
		Example: `  keyward canary create --type aws secret/billing/aws-root
  keyward canary create --register-only --note "bait role" database/creds/reporting`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			path := strings.Trim(args[0], "/")
			kind := typ
			if registered {
				if strings.Contains(path, "/creds/") {
					kind = "database-role"
				}
			} else {
				data, err := canaryValues(typ)
				if err != nil {
					return err
				}
				t, err := resolveKV(cmd.Context(), c, "", path)
				if err != nil {
					return explain(err, c)
				}
				body := data
				if t.v2 {
					body = map[string]any{"data": data}
				}
				if _, err := c.Write(cmd.Context(), t.api("data"), body); err != nil {
					return explain(err, c)
				}
				path = t.mount + t.rel
			}
			if _, err := c.Write(cmd.Context(), "sys/watch/canaries/"+path, map[string]any{"type": kind, "note": note}); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Canary %s registered (%s); any read raises a critical alert", path, kind)
		},
	}
	conn.add(cmd)
	cmd.Flags().StringVar(&typ, "type", "generic", "values to generate: aws, database-url, token, generic")
	cmd.Flags().StringVar(&note, "note", "", "free text for responders")
	cmd.Flags().BoolVar(&registered, "register-only", false, "register an existing secret or role without writing values")
	return cmd
}

func newCanaryListCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "List the registered canaries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			s, err := c.List(cmd.Context(), "sys/watch/canaries")
			if err != nil {
				return explain(err, c)
			}
			if ok, err := out.structured(cmd.OutOrStdout(), s); ok {
				return err
			}
			keys := listKeys(s)
			if len(keys) == 0 {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "No canaries.")
				return err
			}
			sort.Strings(keys)
			info, _ := s.Data["key_info"].(map[string]any)
			return writeColumns(cmd.OutOrStdout(), []string{"Path", "Type", "Created", "Note"}, func(add func(...string)) {
				for _, k := range keys {
					m, _ := info[k].(map[string]any)
					add(k, str(m["type"]), str(m["created"]), str(m["note"]))
				}
			})
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

func newCanaryRemoveCmd(e *env) *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:   "remove [flags] PATH",
		Short: "Unregister a canary (the secret itself stays)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			path := strings.Trim(args[0], "/")
			if _, err := c.Delete(cmd.Context(), "sys/watch/canaries/"+path, nil); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Canary %s removed from the registry", path)
		},
	}
	conn.add(cmd)
	return cmd
}
