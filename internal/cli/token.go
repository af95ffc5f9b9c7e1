package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func init() { register(newTokenCmd) }

func newTokenCmd(e *env) *cobra.Command {
	cmd := groupCmd("token", "Create, inspect, renew and revoke tokens",
		`Token commands manage tokens: create narrow, short-lived ones for CI jobs,
look them up, renew and revoke them, and check what a token may do on a path.

A TOKEN argument may be "-" to read the token from a line of stdin, which
keeps it out of the process list.`,
		`  keyward token create -policy=ci-read -ttl=10m
  keyward token lookup
  keyward token capabilities secret/data/ci/app`)
	cmd.AddCommand(newTokenCreateCmd(e), newTokenLookupCmd(e), newTokenRenewCmd(e),
		newTokenRevokeCmd(e), newTokenCapabilitiesCmd(e))
	return cmd
}

// tokenArg returns args[i], reading a stdin line when it is "-".
func tokenArg(cmd *cobra.Command, arg, what string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	return (&stdinSource{r: cmd.InOrStdin()}).readLine(what)
}

type tokenCreateFlags struct {
	policies    []string
	ttl         time.Duration
	explicitMax time.Duration
	period      time.Duration
	numUses     int
	orphan      bool
	noDefault   bool
	displayName string
	metadata    []string
	renewable   bool
	role        string
	typ         string
}

func newTokenCreateCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
		f    tokenCreateFlags
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a token",
		Long: `Create a child token of the current token. Its policies must be a subset
of the parent's unless the parent is root. For CI jobs, prefer a short -ttl,
one narrow -policy, and -no-default-policy.

-type=batch makes a batch token: nothing is stored, so creating one is
cheap, but it cannot be renewed, revoked on its own or create tokens, has
no accessor, and ends at its TTL or when its parent is revoked.

The new token is printed in the table (key "token"); -field=token prints
only the token, for scripts.`,
		Example: `  keyward token create -policy=ci-read -ttl=10m -display-name=ci-job
  TOKEN=$(keyward token create -policy=ci-read -ttl=10m -field=token)
  keyward token create -type=batch -policy=ci-read -ttl=15m
  keyward token create -orphan -period=24h -policy=agent`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.resolve(e); err != nil {
				return err
			}
			meta, err := parseStringMap("metadata", f.metadata)
			if err != nil {
				return err
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			data := map[string]any{}
			if len(f.policies) > 0 {
				data["policies"] = f.policies
			}
			if f.ttl > 0 {
				data["ttl"] = f.ttl.String()
			}
			if f.explicitMax > 0 {
				data["explicit_max_ttl"] = f.explicitMax.String()
			}
			if f.period > 0 {
				data["period"] = f.period.String()
			}
			if f.numUses > 0 {
				data["num_uses"] = f.numUses
			}
			if f.noDefault {
				data["no_default_policy"] = true
			}
			if f.displayName != "" {
				data["display_name"] = f.displayName
			}
			if meta != nil {
				data["meta"] = meta
			}
			if cmd.Flags().Changed("renewable") {
				data["renewable"] = f.renewable
			}
			if f.typ != "" {
				data["type"] = f.typ
			}
			path := "auth/token/create"
			switch {
			case f.role != "" && f.orphan:
				return usagef("-role and -orphan cannot be used together")
			case f.role != "":
				path += "/" + f.role
			case f.orphan:
				path = "auth/token/create-orphan"
			}
			s, err := c.Write(cmd.Context(), path, data)
			if err != nil {
				return explain(err, c)
			}
			if s == nil || s.Auth == nil {
				return fmt.Errorf("POST %s: the response has no auth block", path)
			}
			return printSecret(e, cmd.OutOrStdout(), &out, s)
		},
	}
	conn.add(cmd)
	out.add(cmd, true)
	fl := cmd.Flags()
	fl.StringSliceVar(&f.policies, "policy", nil, "policy to attach (repeatable or comma-separated)")
	fl.DurationVar(&f.ttl, "ttl", 0, "initial time to live, e.g. 10m")
	fl.DurationVar(&f.explicitMax, "explicit-max-ttl", 0, "hard limit that renewals cannot pass")
	fl.DurationVar(&f.period, "period", 0, "make a periodic token renewable by this period forever")
	fl.IntVar(&f.numUses, "num-uses", 0, "number of uses before the token is revoked (0: unlimited)")
	fl.BoolVar(&f.orphan, "orphan", false, "create a token with no parent, not revoked with its creator")
	fl.BoolVar(&f.noDefault, "no-default-policy", false, "do not attach the default policy")
	fl.StringVar(&f.displayName, "display-name", "", "name shown in lookups and audit logs")
	fl.StringArrayVar(&f.metadata, "metadata", nil, "KEY=VALUE metadata (repeatable)")
	fl.BoolVar(&f.renewable, "renewable", true, "allow the token to be renewed")
	fl.StringVar(&f.role, "role", "", "create the token against this token role")
	fl.StringVar(&f.typ, "type", "", "service or batch (default: the role's type, else service)")
	return cmd
}

// ttlKey reports whether a response field is a number of seconds.
func ttlKey(k string) bool {
	return k == "ttl" || k == "period" || strings.HasSuffix(k, "_ttl") || strings.HasSuffix(k, "_period")
}

// lookupRows are a token lookup's rows, durations humanised and the token
// id left out (-field=id still prints it).
func lookupRows(data map[string]any, withID bool) []row {
	var rows []row
	for _, r := range dataRows(data) {
		if r.key == "id" && !withID {
			continue
		}
		if n, ok := r.val.(float64); ok && ttlKey(r.key) {
			r.val = humanSeconds(int(n))
		}
		rows = append(rows, r)
	}
	return rows
}

func printLookup(e *env, w io.Writer, o *outFlags, s *api.Secret) error {
	printWarnings(e, s)
	if o.field != "" {
		return printField(w, lookupRows(s.Data, true), o.field)
	}
	if ok, err := o.structured(w, s); ok {
		return err
	}
	return writeTable(w, lookupRows(s.Data, false))
}

func newTokenLookupCmd(e *env) *cobra.Command {
	var (
		conn     connFlags
		out      outFlags
		accessor bool
	)
	cmd := &cobra.Command{
		Use:   "lookup [TOKEN|-]",
		Short: "Show a token's properties",
		Long: `Show a token's policies, TTL, metadata and other properties: the current
token's without an argument, another token's with TOKEN ("-" reads it from
stdin), or with -accessor the token behind an accessor.

The token itself is left out of the table; -field=id prints it.`,
		Example: `  keyward token lookup
  keyward token lookup -accessor 6bd2f3c1...
  keyward token lookup -format=json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var s *api.Secret
			switch {
			case accessor && len(args) == 0:
				return usagef("-accessor needs an ACCESSOR argument")
			case accessor:
				s, err = c.Write(ctx, "auth/token/lookup-accessor", map[string]any{"accessor": args[0]})
			case len(args) == 1:
				tok, terr := tokenArg(cmd, args[0], "token")
				if terr != nil {
					return terr
				}
				s, err = c.Write(ctx, "auth/token/lookup", map[string]any{"token": tok})
			default:
				s, err = c.Read(ctx, "auth/token/lookup-self", nil)
			}
			if err != nil {
				return explain(err, c)
			}
			if s == nil {
				return fmt.Errorf("token lookup: empty response")
			}
			return printLookup(e, cmd.OutOrStdout(), &out, s)
		},
	}
	conn.add(cmd)
	out.add(cmd, true)
	cmd.Flags().BoolVar(&accessor, "accessor", false, "treat the argument as an accessor")
	return cmd
}

func newTokenRenewCmd(e *env) *cobra.Command {
	var (
		conn      connFlags
		out       outFlags
		accessor  bool
		increment time.Duration
	)
	cmd := &cobra.Command{
		Use:   "renew [TOKEN|-]",
		Short: "Extend a token's time to live",
		Long: `Renew a token: the current one without an argument, another with TOKEN
("-" reads it from stdin) or, with -accessor, by accessor. -increment asks
for a new TTL; the server caps it at the token's maximum.`,
		Example: `  keyward token renew
  keyward token renew -increment=30m`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			data := map[string]any{}
			if increment > 0 {
				data["increment"] = increment.String()
			}
			path := "auth/token/renew-self"
			switch {
			case accessor && len(args) == 0:
				return usagef("-accessor needs an ACCESSOR argument")
			case accessor:
				path, data["accessor"] = "auth/token/renew-accessor", args[0]
			case len(args) == 1:
				tok, terr := tokenArg(cmd, args[0], "token")
				if terr != nil {
					return terr
				}
				path, data["token"] = "auth/token/renew", tok
			}
			s, err := c.Write(cmd.Context(), path, data)
			if err != nil {
				return explain(err, c)
			}
			if s == nil || s.Auth == nil {
				return fmt.Errorf("POST %s: the response has no auth block", path)
			}
			// The renewed token is the caller's own or one it already has:
			// don't print it again unless asked with -field=token.
			printWarnings(e, s)
			w := cmd.OutOrStdout()
			if out.field != "" {
				return printField(w, secretRows(s, true), out.field)
			}
			if ok, err := out.structured(w, s); ok {
				return err
			}
			return writeTable(w, secretRows(s, false))
		},
	}
	conn.add(cmd)
	out.add(cmd, true)
	cmd.Flags().BoolVar(&accessor, "accessor", false, "treat the argument as an accessor")
	cmd.Flags().DurationVar(&increment, "increment", 0, "requested new TTL, e.g. 1h")
	return cmd
}

func newTokenRevokeCmd(e *env) *cobra.Command {
	var (
		conn     connFlags
		accessor bool
		self     bool
		mode     string
	)
	cmd := &cobra.Command{
		Use:   "revoke [TOKEN|-]",
		Short: "Revoke a token and its children",
		Long: `Revoke a token given as TOKEN ("-" reads it from stdin), by -accessor, or the
current token with -self. Its child tokens are revoked too, unless
-mode=orphan, which keeps the children as orphans.`,
		Example: `  keyward token revoke -self
  keyward token revoke -accessor 6bd2f3c1...
  keyward token revoke -mode=orphan - < token.txt`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if mode != "" && mode != "orphan" && mode != "path" {
				return usagef("-mode must be orphan (or empty), not %q", mode)
			}
			if mode == "path" {
				return usagef("-mode=path is not supported: revoke tokens one by one or by accessor")
			}
			if self == (len(args) == 1) {
				return usagef("give either a TOKEN (or ACCESSOR with -accessor) or -self")
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			var path string
			data := map[string]any{}
			switch {
			case self:
				path = "auth/token/revoke-self"
			case accessor:
				path, data["accessor"] = "auth/token/revoke-accessor", args[0]
			default:
				tok, terr := tokenArg(cmd, args[0], "token")
				if terr != nil {
					return terr
				}
				path, data["token"] = "auth/token/revoke", tok
				if mode == "orphan" {
					path = "auth/token/revoke-orphan"
				}
			}
			if accessor && mode == "orphan" {
				return usagef("-mode=orphan needs the token itself, not an accessor")
			}
			if _, err := c.Write(cmd.Context(), path, data); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Revoked token (if it existed)")
		},
	}
	conn.add(cmd)
	cmd.Flags().BoolVar(&accessor, "accessor", false, "treat the argument as an accessor")
	cmd.Flags().BoolVar(&self, "self", false, "revoke the current token")
	cmd.Flags().StringVar(&mode, "mode", "", `"orphan" keeps the token's children as orphans`)
	return cmd
}

func newTokenCapabilitiesCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "capabilities [TOKEN|-] PATH",
		Short: "Show what a token may do on a path",
		Long: `Show the capabilities (create, read, update, patch, delete, list, sudo,
deny, or root) a token has on an API path: the current token's with one
argument, another token's with TOKEN ("-" reads it from stdin). Paths are
API paths, so KV version 2 data lives under MOUNT/data/.`,
		Example: `  keyward token capabilities secret/data/ci/app
  keyward token capabilities - secret/data/ci/app < token.txt`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			path := args[len(args)-1]
			caps, err := capabilities(cmd.Context(), cmd, c, args)
			if err != nil {
				return explain(err, c)
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, map[string]any{path: caps}); ok {
				return err
			}
			_, err = fmt.Fprintln(w, strings.Join(caps, ", "))
			return err
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

func capabilities(ctx context.Context, cmd *cobra.Command, c *api.Client, args []string) ([]string, error) {
	path := args[len(args)-1]
	data := map[string]any{"paths": []string{path}}
	endpoint := "sys/capabilities-self"
	if len(args) == 2 {
		tok, err := tokenArg(cmd, args[0], "token")
		if err != nil {
			return nil, err
		}
		data["token"], endpoint = tok, "sys/capabilities"
	}
	var s api.Secret
	if _, err := c.Do(ctx, &api.Request{Method: http.MethodPost, Path: endpoint, Body: data}, &s); err != nil {
		return nil, err
	}
	raw, ok := s.Data[path].([]any)
	if !ok {
		return nil, fmt.Errorf("POST %s: the response has no capabilities for the path", endpoint)
	}
	caps := make([]string, 0, len(raw))
	for _, v := range raw {
		if str, ok := v.(string); ok {
			caps = append(caps, str)
		}
	}
	sort.Strings(caps)
	return caps, nil
}
