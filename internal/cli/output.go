package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward/api"
)

// outFlags select how a command prints its result.
type outFlags struct {
	format string
	field  string
}

func (o *outFlags) add(cmd *cobra.Command, withField bool) {
	cmd.Flags().StringVar(&o.format, "format", "", "output format: table, json or yaml (default $KEYWARD_FORMAT, then table)")
	if withField {
		cmd.Flags().StringVar(&o.field, "field", "", "print only this field's value, followed by a newline")
	}
}

// resolve applies the KEYWARD_FORMAT/VAULT_FORMAT default and validates.
func (o *outFlags) resolve(e *env) error {
	if o.format == "" {
		o.format = e.getenv("KEYWARD_FORMAT")
	}
	if o.format == "" {
		o.format = e.getenv("VAULT_FORMAT")
	}
	if o.format == "" {
		o.format = "table"
	}
	o.format = strings.ToLower(o.format)
	switch o.format {
	case "table", "json", "yaml":
		return nil
	}
	return usagef("-format must be table, json or yaml, not %q", o.format)
}

// structured prints v as JSON or YAML; it reports false for table format.
func (o *outFlags) structured(w io.Writer, v any) (bool, error) {
	switch o.format {
	case "json":
		return true, writeJSON(w, v)
	case "yaml":
		return true, writeYAML(w, v)
	}
	return false, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeYAML goes through JSON so field names follow the json tags.
func writeYAML(w io.Writer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	out, err := yaml.Marshal(generic)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = w.Write(out)
	return err
}

// row is one line of a Key/Value table.
type row struct {
	key string
	val any
}

// writeTable prints rows as an aligned Key/Value table; empty values read
// "n/a", as in Vault.
func writeTable(w io.Writer, rows []row) error {
	return writeColumns(w, []string{"Key", "Value"}, func(add func(...string)) {
		for _, r := range rows {
			v := formatValue(r.val)
			if v == "" {
				v = "n/a"
			}
			add(r.key, v)
		}
	})
}

// writeColumns prints an aligned table with a dashed underline header and
// no trailing spaces.
func writeColumns(w io.Writer, header []string, fill func(add func(...string))) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 4, ' ', 0)
	line := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	line(header...)
	dashes := make([]string, len(header))
	for i, h := range header {
		dashes[i] = strings.Repeat("-", len(h))
	}
	line(dashes...)
	fill(line)
	if err := tw.Flush(); err != nil {
		return err
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	for i, l := range lines {
		if strings.HasSuffix(l, "\n") {
			lines[i] = strings.TrimRight(l[:len(l)-1], " ") + "\n"
		}
	}
	_, err := io.WriteString(w, strings.Join(lines, ""))
	return err
}

// renderTable returns the table text (for headers sized to it).
func renderTable(rows []row) string {
	var b bytes.Buffer
	_ = writeTable(&b, rows)
	return b.String()
}

// header returns "== title ==" padded with '=' to about the table's width.
func header(title, table string) string {
	width := 0
	for _, l := range strings.Split(table, "\n") {
		width = max(width, len(strings.TrimRight(l, " ")))
	}
	pad := max(width-len(title)-2, 4)
	left := pad / 2
	return strings.Repeat("=", left) + " " + title + " " + strings.Repeat("=", pad-left)
}

// formatValue renders a decoded JSON value for a table cell.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "<nil>"
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case json.Number:
		return x.String()
	case []string:
		return "[" + strings.Join(x, " ") + "]"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = formatValue(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case map[string]string:
		keys := slices.Sorted(maps.Keys(x))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ":" + x[k]
		}
		return "map[" + strings.Join(parts, " ") + "]"
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ":" + formatValue(x[k])
		}
		return "map[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprint(v)
}

// rawValue renders a value for -field: strings as they are, lists and maps
// as JSON, scalars as in tables.
func rawValue(v any) string {
	switch v.(type) {
	case []any, map[string]any, []string, map[string]string:
		raw, err := json.Marshal(v)
		if err == nil {
			return string(raw)
		}
	}
	return formatValue(v)
}

// printField prints the row named field, or fails.
func printField(w io.Writer, rows []row, field string) error {
	for _, r := range rows {
		if r.key == field {
			_, err := fmt.Fprintln(w, rawValue(r.val))
			return err
		}
	}
	return fmt.Errorf("field %q not present in the response", field)
}

// dataRows turns a data map into rows sorted by key.
func dataRows(data map[string]any) []row {
	rows := make([]row, 0, len(data))
	for _, k := range slices.Sorted(maps.Keys(data)) {
		rows = append(rows, row{k, data[k]})
	}
	return rows
}

// humanSeconds renders a number of seconds as Vault does: "10m", "768h".
func humanSeconds(n int) string {
	s := (time.Duration(n) * time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// authRows are the rows of an auth block. The token itself is included only
// when withToken is set.
func authRows(a *api.SecretAuth, withToken bool) []row {
	var rows []row
	if withToken {
		rows = append(rows, row{"token", a.ClientToken})
	}
	rows = append(rows,
		row{"token_accessor", a.Accessor},
		row{"token_duration", durationOrForever(a.LeaseDuration)},
		row{"token_renewable", a.Renewable},
		row{"token_policies", strs(a.TokenPolicies)},
		row{"policies", strs(a.Policies)},
	)
	for _, k := range slices.Sorted(maps.Keys(a.Metadata)) {
		rows = append(rows, row{"token_meta_" + k, a.Metadata[k]})
	}
	return rows
}

func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func durationOrForever(sec int) string {
	if sec == 0 {
		return "∞"
	}
	return humanSeconds(sec)
}

// secretRows are the rows Vault prints for a response envelope.
func secretRows(s *api.Secret, withToken bool) []row {
	var rows []row
	if w := s.WrapInfo; w != nil {
		// A wrapped response holds only the single-use token that unwraps it.
		return []row{{"wrapping_token", w.Token}, {"wrapping_accessor", w.Accessor},
			{"wrapping_token_ttl", humanSeconds(w.TTL)}, {"wrapping_token_creation_time", w.CreationTime.String()},
			{"wrapping_token_creation_path", w.CreationPath}}
	}
	if s.LeaseDuration > 0 {
		if s.LeaseID != "" {
			rows = append(rows, row{"lease_id", s.LeaseID}, row{"lease_duration", humanSeconds(s.LeaseDuration)}, row{"lease_renewable", s.Renewable})
		} else {
			rows = append(rows, row{"refresh_interval", humanSeconds(s.LeaseDuration)})
		}
	}
	if s.Auth != nil {
		rows = append(rows, authRows(s.Auth, withToken)...)
	}
	return append(rows, dataRows(s.Data)...)
}

// printSecret prints a response envelope in the chosen format.
func printSecret(e *env, w io.Writer, o *outFlags, s *api.Secret) error {
	printWarnings(e, s)
	if o.field != "" {
		return printField(w, secretRows(s, true), o.field)
	}
	if ok, err := o.structured(w, s); ok {
		return err
	}
	return writeTable(w, secretRows(s, true))
}

func printWarnings(e *env, s *api.Secret) {
	if s == nil {
		return
	}
	for _, wn := range s.Warnings {
		fmt.Fprintf(e.stderr, "keyward: warning: %s\n", wn)
	}
}

// printList prints keys, one per line under a "Keys" header.
func printList(w io.Writer, o *outFlags, keys []string) error {
	if ok, err := o.structured(w, keys); ok {
		return err
	}
	return writeColumns(w, []string{"Keys"}, func(add func(...string)) {
		for _, k := range keys {
			add(k)
		}
	})
}

// listKeys extracts data.keys of a LIST response.
func listKeys(s *api.Secret) []string {
	if s == nil {
		return nil
	}
	raw, _ := s.Data["keys"].([]any)
	keys := make([]string, 0, len(raw))
	for _, k := range raw {
		if str, ok := k.(string); ok {
			keys = append(keys, str)
		}
	}
	return keys
}

// notFound is Vault's answer for an empty read: a message on stderr, exit 2.
func notFound(path string) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf("no value found at %s", path)}
}

// success prints a Vault-style "Success! ..." line to w.
func success(w io.Writer, format string, args ...any) error {
	_, err := fmt.Fprintf(w, "Success! "+format+"\n", args...)
	return err
}

// explain adds a hint for common failures: a refused connection, a plain
// HTTP server addressed over https, a sealed server, a missing token.
func explain(err error, c *api.Client) error {
	if err == nil {
		return nil
	}
	var re *api.ResponseError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return withHint(err, fmt.Sprintf("nothing is listening at %s: is KEYWARD_ADDR right?", c.Address()))
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return withHint(err, "the server speaks plain HTTP: use an http:// address in KEYWARD_ADDR")
	case errors.As(err, &re) && re.StatusCode == http.StatusServiceUnavailable && strings.Contains(strings.ToLower(strings.Join(re.Errors, " ")), "sealed"):
		return withHint(err, "the server is sealed: unseal it with keyward operator unseal")
	case errors.As(err, &re) && (re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusBadRequest) && c.Token() == "":
		return withHint(err, "no token is set: set KEYWARD_TOKEN or run keyward login")
	}
	return err
}
