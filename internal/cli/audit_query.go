package cli

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/audit"
)

func newAuditQueryCmd(e *env) *cobra.Command {
	var (
		q      audit.Query
		since  time.Duration
		format string
	)
	cmd := &cobra.Command{
		Use:   "query FILE...",
		Short: "Find audit entries by path, actor, time, operation, denial or value",
		Long: `Search audit log files offline. Response entries are printed (they hold
the request too); a request whose response was never recorded is printed
from its request entry. --value-hmac takes a value's HMAC as returned by
"keyward write sys/audit-hash/DEVICE input=VALUE", so a secret can be
traced without the log holding it.`,
		Example: `  keyward audit query audit.log --actor=token-ci --since=24h
  keyward audit query audit.log --path='secret/data/prod/*' --denied -format=json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return usagef("-format must be table or json, not %q", format)
			}
			if since > 0 {
				q.Since = time.Now().Add(-since)
			}
			var (
				order     []*audit.Entry
				responded = map[string]bool{}
			)
			for _, name := range args {
				f, err := os.Open(name)
				if err != nil {
					return fmt.Errorf("open audit log: %w", err)
				}
				err = audit.Scan(name, f, q, func(en *audit.Entry) error {
					if en.Type == "response" && en.Request.ID != "" {
						responded[en.Request.ID] = true
					}
					order = append(order, en)
					return nil
				})
				f.Close()
				if err != nil {
					return err
				}
			}
			var out []*audit.Entry
			for _, en := range order {
				if en.Type == "response" || en.Request.ID == "" || !responded[en.Request.ID] {
					out = append(out, en)
				}
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				if out == nil {
					out = []*audit.Entry{}
				}
				return writeJSON(w, out)
			}
			return writeColumns(w, []string{"Time", "Actor", "Operation", "Path", "Status", "Remote"}, func(add func(...string)) {
				for _, en := range out {
					status := "-"
					if en.Response != nil {
						status = strconv.Itoa(en.Response.Status)
					} else if en.Error != "" {
						status = en.Error
					}
					add(en.Time, en.Actor(), en.Request.Operation, en.Request.Path, status, en.Request.RemoteAddress)
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.PathGlob, "path", "", "request path glob (* matches across /)")
	f.StringVar(&q.Actor, "actor", "", "display name, accessor (as logged) or entity id")
	f.DurationVar(&since, "since", 0, "only entries newer than this (e.g. 24h)")
	f.StringVar(&q.Operation, "operation", "", "read, create, update, delete, list, patch")
	f.BoolVar(&q.Denied, "denied", false, "only requests refused with permission denied")
	f.StringVar(&q.ValueHMAC, "value-hmac", "", "only entries holding this hmac-sha256:... value")
	f.StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}
