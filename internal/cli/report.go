package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func init() { register(newReportCmd) }

// reportSpecs are the reports `keyward report` offers: the flags each
// takes beyond --prefix, and its one-line summary.
var reportSpecs = []struct {
	name, short string
	flags       []string
}{
	{"secrets", "Age and last rotation of every KV secret", nil},
	{"rotation-overdue", "Secrets past their rotation period or rotation policy", nil},
	{"unread", "Secrets not read in the last --days days", []string{"days"}},
	{"orphaned", "Secrets no stored policy lets anyone read", nil},
	{"production-readers", "Auth roles whose tokens can read production secrets", nil},
	{"access-map", "Who read what between --since and --until", []string{"since", "until"}},
	{"leases-near-max", "Leases that reach their max TTL within --within", []string{"within"}},
	{"static-role-failures", "Database static roles whose last rotation failed", nil},
}

func newReportCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Lifecycle and compliance reports",
		Long: `Build a report on the server (sys/reports/NAME) and print it as a table,
JSON or CSV. Reports show paths, names, times, counts and identities, never a
secret value or a token. The token needs read on sys/reports/*:

  path "sys/reports/*" { capabilities = ["read"] }

Read figures come from the server's access index (reads of secret data,
counted as they happen); ages from KV metadata; readers from the stored
policies and auth roles. See docs/watch.md, "Reports".`,
		Example: `  keyward report secrets
  keyward report rotation-overdue --format csv > overdue.csv
  keyward report unread --days 180
  keyward report access-map --since 7d --format json
  keyward report leases-near-max --within 2h`,
		Args: cobra.NoArgs,
	}
	for _, spec := range reportSpecs {
		cmd.AddCommand(newReportSubCmd(e, spec.name, spec.short, spec.flags))
	}
	return cmd
}

func newReportSubCmd(e *env, name, short string, flags []string) *cobra.Command {
	var (
		conn   connFlags
		format string
		prefix string
		vals   = map[string]*string{}
	)
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		Long: short + `.

--format is table (default), json (the report's columns, rows and notes)
or csv (a header row; cells a spreadsheet would run as a formula start with
a quote). --prefix keeps the secrets whose path starts with it. Notes on
what the report could not see go to stderr in table format.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format == "" {
				format = e.getenv("KEYWARD_FORMAT")
			}
			format = strings.ToLower(format)
			switch format {
			case "":
				format = "table"
			case "table", "json", "csv":
			default:
				return usagef("--format must be table, json or csv, not %q", format)
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			q := url.Values{}
			if prefix != "" {
				q.Set("prefix", prefix)
			}
			for k, v := range vals {
				if *v != "" {
					q.Set(k, *v)
				}
			}
			w := cmd.OutOrStdout()
			if format == "csv" {
				q.Set("format", "csv")
				var buf bytes.Buffer
				if _, err := c.Do(cmd.Context(), &api.Request{Method: http.MethodGet, Path: "sys/reports/" + name, Query: q}, &buf); err != nil {
					return explain(fmt.Errorf("report %s: %w", name, err), c)
				}
				_, err := w.Write(buf.Bytes())
				return err
			}
			var env struct {
				Data json.RawMessage `json:"data"`
			}
			if _, err := c.Do(cmd.Context(), &api.Request{Method: http.MethodGet, Path: "sys/reports/" + name, Query: q}, &env); err != nil {
				return explain(fmt.Errorf("report %s: %w", name, err), c)
			}
			if format == "json" {
				var v any
				if err := json.Unmarshal(env.Data, &v); err != nil {
					return fmt.Errorf("report %s: decode: %w", name, err)
				}
				return writeJSON(w, v)
			}
			var rep struct {
				Columns []string         `json:"columns"`
				Rows    []map[string]any `json:"rows"`
				Notes   []string         `json:"notes"`
			}
			if err := json.Unmarshal(env.Data, &rep); err != nil {
				return fmt.Errorf("report %s: decode: %w", name, err)
			}
			for _, n := range rep.Notes {
				fmt.Fprintf(cmd.ErrOrStderr(), "keyward: note: %s\n", printable(n))
			}
			if len(rep.Rows) == 0 {
				_, err := fmt.Fprintln(w, "No rows.")
				return err
			}
			return writeColumns(w, rep.Columns, func(add func(...string)) {
				for _, r := range rep.Rows {
					cells := make([]string, len(rep.Columns))
					for i, col := range rep.Columns {
						cells[i] = reportCell(r[col])
					}
					add(cells...)
				}
			})
		},
	}
	conn.add(cmd)
	cmd.Flags().StringVar(&format, "format", "", "output format: table, json or csv (default $KEYWARD_FORMAT, then table)")
	cmd.Flags().StringVar(&prefix, "prefix", "", "only secrets whose path starts with this")
	for _, f := range flags {
		v := new(string)
		vals[f] = v
		switch f {
		case "days":
			cmd.Flags().StringVar(v, f, "", "days without a read (default 90)")
		case "within":
			cmd.Flags().StringVar(v, f, "", "how close to the max TTL, e.g. 24h or 7d (default 24h)")
		case "since":
			cmd.Flags().StringVar(v, f, "", "start of the window: RFC 3339 time or a duration ago such as 7d (default: all)")
		case "until":
			cmd.Flags().StringVar(v, f, "", "end of the window: RFC 3339 time or a duration ago (default: now)")
		}
	}
	return cmd
}

// reportCell renders one JSON value for the table: "-" for null, lists
// joined with ",", numbers without exponent, control characters as "?".
func reportCell(v any) string {
	switch t := v.(type) {
	case nil:
		return "-"
	case string:
		if t == "" {
			return "-"
		}
		return printable(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	case []any:
		parts := make([]string, len(t))
		for i, x := range t {
			parts[i] = reportCell(x)
		}
		return strings.Join(parts, ",")
	}
	return printable(fmt.Sprint(v))
}

// printable replaces control characters (a newline would break a table
// row or a terminal) with "?".
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
