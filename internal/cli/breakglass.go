package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func init() { register(newBreakGlassCmd) }

func newBreakGlassCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "break-glass",
		Short: "Emergency access: a quorum activates a short-lived emergency policy",
		Long: `Break-glass turns a designated emergency policy into a token only when a
quorum agrees: M of the unseal (or recovery) key holders, or M of N named
officers, each approving with their own token. The token lives for the
configured TTL (at most 4h), cannot be renewed, raises a critical alert,
and every request made with it is kept for the post-incident report.

  1. keyward break-glass config -policies=emergency -ttl=1h      (once, sudo)
  2. keyward break-glass init -reason="db outage INC-42"
     prints the nonce and a one-time pad (OTP): keep the OTP.
  3. each key holder: keyward break-glass update < share.txt
     each officer:    keyward break-glass update -officer     (own token)
     the approval that meets the quorum prints the encoded token.
  4. keyward break-glass decode ENCODED < otp.txt
  5. afterwards: keyward break-glass report ID`,
		Example: `  keyward break-glass config -policies=emergency -ttl=30m -holders=officers \
      -quorum=2 -officers=userpass/alice,userpass/bob,userpass/carol
  keyward break-glass init -reason="primary database unreachable"
  keyward break-glass update -holder=alice < share-1.txt
  keyward break-glass report`,
	}
	cmd.AddCommand(newBreakGlassConfigCmd(e), newBreakGlassInitCmd(e), newBreakGlassStatusCmd(e),
		newBreakGlassUpdateCmd(e), newBreakGlassCancelCmd(e), newBreakGlassDecodeCmd(e),
		newBreakGlassReportCmd(e), newBreakGlassRevokeCmd(e))
	return cmd
}

// bgDo calls a break-glass endpoint and returns the response data.
func bgDo(ctx context.Context, c *api.Client, method, path string, body map[string]any, query url.Values, noToken bool) (map[string]any, error) {
	var s api.Secret
	r := &api.Request{Method: method, Path: path, Query: query, NoToken: noToken}
	if body != nil { // a nil map in Body would be sent as "null"
		r.Body = body
	}
	status, err := c.Do(ctx, r, &s)
	if err != nil {
		return nil, err
	}
	if status == http.StatusNoContent || s.Data == nil {
		return map[string]any{}, nil
	}
	return s.Data, nil
}

func newBreakGlassConfigCmd(e *env) *cobra.Command {
	var (
		conn                                            connFlags
		out                                             outFlags
		policies, ttl, holders, officers, officerPolicy string
		quorum                                          int
	)
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Read or write the break-glass configuration",
		Long: `Without flags, print the configuration. With -policies, replace it: the
emergency policies, the TTL (default 1h, at most 4h), the holders
(unseal_keys or officers), the quorum and, for officers, their names
(MOUNT/NAME such as userpass/alice, or entity:ID) and an optional policy
every officer token must carry. Needs sudo on sys/break-glass/config.`,
		Example: `  keyward break-glass config -policies=emergency -ttl=1h
  keyward break-glass config -policies=emergency -holders=officers -quorum=2 -officers=userpass/alice,userpass/bob`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			if policies == "" {
				for _, f := range []string{"ttl", "holders", "quorum", "officers", "officer-policy"} {
					if cmd.Flags().Changed(f) {
						return usagef("-policies is required to write the configuration")
					}
				}
				d, err := bgDo(ctx, c, http.MethodGet, "sys/break-glass/config", nil, nil, false)
				if err != nil {
					return explain(err, c)
				}
				if len(d) == 0 {
					return withHint(errors.New("break-glass is not configured"), "keyward break-glass config -policies=NAME")
				}
				if ok, err := out.structured(w, d); ok {
					return err
				}
				return writeTable(w, []row{{"Policies", d["policies"]}, {"TTL", d["ttl"]}, {"Holders", d["holders"]},
					{"Quorum", d["quorum"]}, {"Officers", d["officers"]}, {"Officer Policy", d["officer_policy"]}})
			}
			body := map[string]any{"policies": policies}
			if ttl != "" {
				body["ttl"] = ttl
			}
			if holders != "" {
				body["holders"] = holders
			}
			if quorum != 0 {
				body["quorum"] = quorum
			}
			if officers != "" {
				body["officers"] = officers
			}
			if officerPolicy != "" {
				body["officer_policy"] = officerPolicy
			}
			if _, err := bgDo(ctx, c, http.MethodPut, "sys/break-glass/config", body, nil, false); err != nil {
				return explain(err, c)
			}
			return success(w, "Success! Break-glass configured.")
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&policies, "policies", "", "the emergency token's policies, comma-separated (never root)")
	fl.StringVar(&ttl, "ttl", "", "the emergency token's lifetime (default 1h, at most 4h)")
	fl.StringVar(&holders, "holders", "", "unseal_keys (default) or officers")
	fl.IntVar(&quorum, "quorum", 0, "approvals needed (officers: at least 2; keys: at least the key threshold)")
	fl.StringVar(&officers, "officers", "", "the officers, comma-separated: MOUNT/NAME or entity:ID")
	fl.StringVar(&officerPolicy, "officer-policy", "", "a policy every officer's token must carry")
	return cmd
}

func printBreakGlassStatus(w io.Writer, o *outFlags, d map[string]any) error {
	if ok, err := o.structured(w, d); ok {
		return err
	}
	rows := []row{{"Started", d["started"]}}
	for _, k := range []struct{ key, name string }{{"id", "ID"}, {"nonce", "Nonce"}, {"reason", "Reason"}, {"holders", "Holders"}} {
		if v, ok := d[k.key]; ok {
			rows = append(rows, row{k.name, v})
		}
	}
	rows = append(rows, row{"Progress", fmt.Sprintf("%v/%v", d["progress"], d["required"])})
	if v, ok := d["approved_by"]; ok {
		rows = append(rows, row{"Approved By", v})
	}
	if v, ok := d["otp"]; ok {
		rows = append(rows, row{"OTP", v})
	}
	if v, ok := d["complete"]; ok {
		rows = append(rows, row{"Complete", v})
	}
	for _, k := range []struct{ key, name string }{{"encoded_token", "Encoded Token"}, {"accessor", "Accessor"}, {"expires_at", "Expires At"}} {
		if v, ok := d[k.key]; ok {
			rows = append(rows, row{k.name, v})
		}
	}
	return writeTable(w, rows)
}

func newBreakGlassInitCmd(e *env) *cobra.Command {
	var (
		conn        connFlags
		out         outFlags
		reason, otp string
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Start a break-glass activation",
		Long: `Start a break-glass activation with a reason (kept in the report). It
prints the nonce the holders or officers approve with, and a one-time pad
(OTP) shown only this once: the emergency token is returned XORed with it.
Only one activation can be pending; an unfinished one is dropped after 1h.`,
		Example: `  keyward break-glass init -reason="primary database unreachable, INC-42"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(reason) == "" {
				return usagef("-reason is required")
			}
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			body := map[string]any{"reason": reason}
			if otp != "" {
				body["otp"] = otp
			}
			d, err := bgDo(cmd.Context(), c, http.MethodPut, "sys/break-glass/attempt", body, nil, true)
			if err != nil {
				return explain(err, c)
			}
			return printBreakGlassStatus(cmd.OutOrStdout(), &out, d)
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	cmd.Flags().StringVar(&reason, "reason", "", "why the emergency access is needed (required)")
	cmd.Flags().StringVar(&otp, "otp", "", "your own OTP (from operator generate-root -generate-otp) instead of the server's")
	return cmd
}

func newBreakGlassStatusCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:     "status",
		Short:   "Show the pending break-glass activation",
		Example: `  keyward break-glass status`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			d, err := bgDo(cmd.Context(), c, http.MethodGet, "sys/break-glass/attempt", nil, nil, true)
			if err != nil {
				return explain(err, c)
			}
			return printBreakGlassStatus(cmd.OutOrStdout(), &out, d)
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

func bgCurrentNonce(ctx context.Context, c *api.Client, nonce string) (string, error) {
	if nonce != "" {
		return nonce, nil
	}
	d, err := bgDo(ctx, c, http.MethodGet, "sys/break-glass/attempt", nil, nil, true)
	if err != nil {
		return "", explain(err, c)
	}
	if d["started"] != true {
		return "", withHint(errors.New("no break-glass activation is pending"), "start one with keyward break-glass init -reason=...")
	}
	n, _ := d["nonce"].(string)
	return n, nil
}

func newBreakGlassUpdateCmd(e *env) *cobra.Command {
	var (
		conn          connFlags
		out           outFlags
		nonce, holder string
		officer       bool
	)
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Add a key share or an officer approval",
		Long: `Add one approval to the pending activation. A key holder gives the share
on stdin (a prompt line; never as an argument, so it stays out of the process
list and shell history); -holder adds a self-declared name for the report.
An officer runs it with -officer and their own token (KEYWARD_TOKEN or the
token file). The approval that meets the quorum prints the encoded token.`,
		Example: `  keyward break-glass update -holder=alice < share-1.txt
  KEYWARD_TOKEN=$ALICE_TOKEN keyward break-glass update -officer`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			body := map[string]any{}
			if officer {
				if holder != "" {
					return usagef("-holder is for key holders, not -officer")
				}
			} else {
				in := &stdinSource{r: cmd.InOrStdin()}
				key, err := in.readLine("key share")
				if err != nil {
					return err
				}
				key = strings.TrimSpace(key)
				if key == "" {
					return usagef("no key share on stdin")
				}
				body["key"] = key
				if holder != "" {
					body["holder"] = holder
				}
			}
			n, err := bgCurrentNonce(ctx, c, nonce)
			if err != nil {
				return err
			}
			body["nonce"] = n
			d, err := bgDo(ctx, c, http.MethodPut, "sys/break-glass/update", body, nil, !officer)
			if err != nil {
				return explain(err, c)
			}
			return printBreakGlassStatus(cmd.OutOrStdout(), &out, d)
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&nonce, "nonce", "", "nonce of the activation (default: the pending one)")
	fl.StringVar(&holder, "holder", "", "your name, for the report (key holders)")
	fl.BoolVar(&officer, "officer", false, "approve as an officer with your own token instead of a key share")
	return cmd
}

func newBreakGlassCancelCmd(e *env) *cobra.Command {
	var (
		conn  connFlags
		out   outFlags
		nonce string
	)
	cmd := &cobra.Command{
		Use:     "cancel",
		Short:   "Cancel the pending break-glass activation",
		Example: `  keyward break-glass cancel`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			n, err := bgCurrentNonce(cmd.Context(), c, nonce)
			if err != nil {
				return err
			}
			if _, err := bgDo(cmd.Context(), c, http.MethodDelete, "sys/break-glass/attempt", nil, url.Values{"nonce": {n}}, true); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Success! Break-glass activation cancelled.")
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	cmd.Flags().StringVar(&nonce, "nonce", "", "nonce of the activation (default: the pending one)")
	return cmd
}

func newBreakGlassDecodeCmd(*env) *cobra.Command {
	return &cobra.Command{
		Use:   "decode ENCODED",
		Short: "Decode the emergency token with the activation's OTP (read from stdin)",
		Long: `Decode the encoded token the last approval printed. The OTP that init
printed is read from a stdin line, never from an argument.`,
		Example: `  keyward break-glass decode "$ENCODED" < otp.txt`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := &stdinSource{r: cmd.InOrStdin()}
			otp, err := in.readLine("OTP")
			if err != nil {
				return err
			}
			tok, err := decodeRootToken(strings.TrimSpace(args[0]), strings.TrimSpace(otp))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), tok)
			return err
		},
	}
}

func newBreakGlassReportCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "report [ID]",
		Short: "List activations, or print the post-incident report of one",
		Long: `Without ID, list the activations. With ID, print who activated it (the
officers, or the key holders by arrival, never a share), the reason, when,
the TTL, every request made with the emergency token (time, operation, path,
status, remote address) and when it expired or was revoked.`,
		Example: `  keyward break-glass report
  keyward break-glass report 6f1c... -format=json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			if len(args) == 0 {
				d, err := bgDo(ctx, c, "LIST", "sys/break-glass/report", nil, nil, false)
				if err != nil {
					return explain(err, c)
				}
				if ok, err := out.structured(w, d); ok {
					return err
				}
				keys, _ := d["keys"].([]any)
				for _, k := range keys {
					fmt.Fprintln(w, k)
				}
				return nil
			}
			d, err := bgDo(ctx, c, http.MethodGet, "sys/break-glass/report/"+url.PathEscape(args[0]), nil, nil, false)
			if err != nil {
				return explain(err, c)
			}
			if len(d) == 0 {
				return fmt.Errorf("no break-glass activation %q", args[0])
			}
			return printBreakGlassReport(w, &out, d)
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

func printBreakGlassReport(w io.Writer, o *outFlags, d map[string]any) error {
	if ok, err := o.structured(w, d); ok {
		return err
	}
	if err := writeTable(w, []row{{"ID", d["id"]}, {"Reason", d["reason"]}, {"Holders", d["holders"]},
		{"Quorum", d["quorum"]}, {"Started At", d["started_at"]}, {"Activated At", d["activated_at"]},
		{"Policies", d["policies"]}, {"TTL", d["ttl"]}, {"Expires At", d["expires_at"]},
		{"Accessor", d["accessor"]}, {"Ended", d["ended"]}, {"Ended At", d["ended_at"]},
		{"Revoked By", d["revoked_by"]}, {"Requests Dropped", d["requests_dropped"]}}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	aps, _ := d["approvals"].([]any)
	if err := writeColumns(w, []string{"Approval", "Who", "Time", "Remote Addr"}, func(add func(...string)) {
		for _, a := range aps {
			m, _ := a.(map[string]any)
			who := fmt.Sprint(m["officer"])
			if m["officer"] == nil {
				who = fmt.Sprint(orNA(m["holder"]))
			}
			add(fmt.Sprint(m["kind"]), who, fmt.Sprint(m["time"]), fmt.Sprint(orNA(m["remote_addr"])))
		}
	}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	reqs, _ := d["requests"].([]any)
	return writeColumns(w, []string{"Time", "Operation", "Path", "Status", "Remote Addr"}, func(add func(...string)) {
		for _, r := range reqs {
			m, _ := r.(map[string]any)
			add(fmt.Sprint(m["time"]), fmt.Sprint(m["operation"]), fmt.Sprint(m["path"]), fmt.Sprint(m["status"]), fmt.Sprint(orNA(m["remote_addr"])))
		}
	})
}

func orNA(v any) any {
	if v == nil || v == "" {
		return "n/a"
	}
	return v
}

func newBreakGlassRevokeCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:     "revoke ID",
		Short:   "End an activation early by revoking its emergency token",
		Example: `  keyward break-glass revoke 6f1c...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			if _, err := bgDo(cmd.Context(), c, http.MethodPut, "sys/break-glass/revoke", map[string]any{"id": args[0]}, nil, false); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Success! Break-glass activation %s ended.", args[0])
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}
