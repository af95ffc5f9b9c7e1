package cli

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func init() { register(newAccessCmd) }

func newAccessCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access",
		Short: "Just-in-time access: request policies for a while, approved by others",
		Long: `Just-in-time access. An operator says what may be asked for (keyward access
config NAME: policies, approver groups, approvals, max TTL); you ask for it
with a reason; members of the approver groups approve or deny (never you);
once approved you collect, once, a token with exactly those policies that
cannot be renewed and stops working at the TTL.`,
		Example: `  keyward access config prod-deploy -policies=prod-deploy -approver-groups=ops -approvals=2 -max-ttl=1h
  keyward access request --policy prod-deploy --ttl 30m --reason "deploy 1.4.2, CHG-118"
  keyward access list
  keyward access approve 6f1c0e3a-...           (an approver)
  keyward access collect 6f1c0e3a-...           (the requester)`,
	}
	cmd.AddCommand(newAccessConfigCmd(e), newAccessRequestCmd(e), newAccessListCmd(e),
		newAccessDecideCmd(e, "approve"), newAccessDecideCmd(e, "deny"), newAccessCollectCmd(e))
	return cmd
}

// govDo calls a governance endpoint and returns the whole response.
func govDo(ctx context.Context, c *api.Client, method, path string, body map[string]any) (*api.Secret, error) {
	var s api.Secret
	r := &api.Request{Method: method, Path: path}
	if body != nil {
		r.Body = body
	}
	if method == "LIST" {
		r.Method, r.Query = http.MethodGet, url.Values{"list": {"true"}}
	}
	if _, err := c.Do(ctx, r, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func printAccessRequest(w interface{ Write([]byte) (int, error) }, o *outFlags, d map[string]any) error {
	if ok, err := o.structured(w, d); ok {
		return err
	}
	rows := []row{{"ID", d["id"]}, {"Status", d["status"]}, {"Policies", d["policies"]}, {"TTL", d["ttl"]},
		{"Reason", d["reason"]}, {"Approvals", fmtProgress(d["approvals"], d["required"])},
		{"Approver Groups", d["approver_groups"]}, {"Expires At", d["expires_at"]}}
	if v, ok := d["denied_by"].(map[string]any); ok {
		rows = append(rows, row{"Denied By", v["entity_name"]}, row{"Denial Reason", v["reason"]})
	}
	return writeTable(w, rows)
}

func fmtProgress(n, of any) string { return formatValue(n) + "/" + formatValue(of) }

func newAccessConfigCmd(e *env) *cobra.Command {
	var (
		conn                             connFlags
		out                              outFlags
		policies, groups, maxTTL, reqTTL string
		approvals                        int
		del                              bool
	)
	cmd := &cobra.Command{
		Use:   "config NAME",
		Short: "Read, write or delete a just-in-time access configuration (sudo)",
		Long: `Without flags, print the configuration NAME. With -policies, write it: the
policies a request may ask for, the identity groups whose members approve,
how many distinct approvers are needed (default 1), the longest TTL a
request may ask for (default 1h) and how long a request waits for its
approvals and collection (default 24h). -delete removes it.`,
		Example: `  keyward access config prod-deploy -policies=prod-deploy -approver-groups=ops -approvals=2 -max-ttl=1h`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			ctx, w, path := cmd.Context(), cmd.OutOrStdout(), "sys/access/config/"+url.PathEscape(args[0])
			if del {
				if _, err := govDo(ctx, c, http.MethodDelete, path, nil); err != nil {
					return explain(err, c)
				}
				return success(w, "Success! Deleted access configuration %s.", args[0])
			}
			if policies == "" {
				s, err := govDo(ctx, c, http.MethodGet, path, nil)
				if err != nil {
					return explain(err, c)
				}
				if s.Data == nil {
					return usagef("no access configuration %q", args[0])
				}
				if ok, err := out.structured(w, s.Data); ok {
					return err
				}
				return writeTable(w, []row{{"Policies", s.Data["policies"]}, {"Approver Groups", s.Data["approver_groups"]},
					{"Approvals", s.Data["approvals"]}, {"Max TTL", s.Data["max_ttl"]}, {"Request TTL", s.Data["request_ttl"]}})
			}
			body := map[string]any{"policies": splitList(policies), "approver_groups": splitList(groups)}
			if approvals != 0 {
				body["approvals"] = approvals
			}
			if maxTTL != "" {
				body["max_ttl"] = maxTTL
			}
			if reqTTL != "" {
				body["request_ttl"] = reqTTL
			}
			if _, err := govDo(ctx, c, http.MethodPut, path, body); err != nil {
				return explain(err, c)
			}
			return success(w, "Success! Access configuration %s written.", args[0])
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&policies, "policies", "", "policies that may be requested, comma-separated")
	fl.StringVar(&groups, "approver-groups", "", "identity groups whose members approve, comma-separated")
	fl.IntVar(&approvals, "approvals", 0, "distinct approvers needed (default 1)")
	fl.StringVar(&maxTTL, "max-ttl", "", "the longest TTL a request may ask for (default 1h)")
	fl.StringVar(&reqTTL, "request-ttl", "", "how long a request waits for approval and collection (default 24h)")
	fl.BoolVar(&del, "delete", false, "delete the configuration")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newAccessRequestCmd(e *env) *cobra.Command {
	var (
		conn              connFlags
		out               outFlags
		policies          []string
		ttl, reason, conf string
	)
	cmd := &cobra.Command{
		Use:   "request",
		Short: "Ask for policies just in time",
		Long: `Ask for one or more policies for a TTL, with a reason the approvers see.
It prints the request ID: give it to your approvers, then collect the
token with keyward access collect ID once they approved.`,
		Example: `  keyward access request --policy prod-deploy --ttl 30m --reason "deploy 1.4.2, CHG-118"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(policies) == 0 {
				return usagef("--policy is required")
			}
			if strings.TrimSpace(reason) == "" {
				return usagef("--reason is required")
			}
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			body := map[string]any{"policies": policies, "reason": reason}
			if ttl != "" {
				body["ttl"] = ttl
			}
			if conf != "" {
				body["config"] = conf
			}
			s, err := govDo(cmd.Context(), c, http.MethodPut, "sys/access/requests", body)
			if err != nil {
				return explain(err, c)
			}
			return printAccessRequest(cmd.OutOrStdout(), &out, s.Data)
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	fl := cmd.Flags()
	fl.StringSliceVar(&policies, "policy", nil, "a policy to ask for (repeatable, or comma-separated)")
	fl.StringVar(&ttl, "ttl", "", "how long the token should live (default: the configuration's max TTL)")
	fl.StringVar(&reason, "reason", "", "why the access is needed (required)")
	fl.StringVar(&conf, "config", "", "the access configuration to ask under (default: the first that allows the policies)")
	return cmd
}

func newAccessListCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List your access requests and those waiting for your approval",
		Example: `  keyward access list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			s, err := govDo(cmd.Context(), c, "LIST", "sys/access/requests", nil)
			if err != nil {
				return explain(err, c)
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, s.Data); ok {
				return err
			}
			keys, _ := s.Data["keys"].([]any)
			info, _ := s.Data["key_info"].(map[string]any)
			return writeColumns(w, []string{"ID", "Status", "Policies", "Requester", "Approvals", "Reason"}, func(add func(...string)) {
				for _, k := range keys {
					id, _ := k.(string)
					ki, _ := info[id].(map[string]any)
					add(id, formatValue(ki["status"]), formatValue(ki["policies"]), formatValue(ki["requester"]),
						fmtProgress(ki["approvals"], ki["required"]), formatValue(ki["reason"]))
				}
			})
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

func newAccessDecideCmd(e *env, verb string) *cobra.Command {
	var (
		conn   connFlags
		out    outFlags
		reason string
	)
	cmd := &cobra.Command{
		Use:     verb + " ID",
		Short:   strings.ToUpper(verb[:1]) + verb[1:] + " an access request (an approver; never your own)",
		Example: "  keyward access " + verb + " 6f1c0e3a-... -reason=\"on call for CHG-118\"",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if verb == "deny" && strings.TrimSpace(reason) == "" {
				return usagef("-reason is required to deny")
			}
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			var body map[string]any
			if reason != "" {
				body = map[string]any{"reason": reason}
			}
			s, err := govDo(cmd.Context(), c, http.MethodPut, "sys/access/requests/"+url.PathEscape(args[0])+"/"+verb, body)
			if err != nil {
				return explain(err, c)
			}
			return printAccessRequest(cmd.OutOrStdout(), &out, s.Data)
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	cmd.Flags().StringVar(&reason, "reason", "", "a comment kept with the decision (required to deny)")
	return cmd
}

func newAccessCollectCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "collect ID",
		Short: "Collect the token of your approved access request (once)",
		Long: `Print the token of an approved request. It can be collected once, by the
requester; it has exactly the requested policies, cannot be renewed and
stops working at the TTL. -field=token prints the token alone.`,
		Example: `  export KEYWARD_TOKEN=$(keyward access collect -field=token 6f1c0e3a-...)`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			s, err := govDo(cmd.Context(), c, http.MethodPut, "sys/access/requests/"+url.PathEscape(args[0])+"/collect", nil)
			if err != nil {
				return explain(err, c)
			}
			if s.Auth == nil {
				return usagef("the server returned no token")
			}
			w := cmd.OutOrStdout()
			rows := authRows(s.Auth, true)
			if out.field != "" {
				i := slices.IndexFunc(rows, func(r row) bool { return r.key == out.field })
				if i < 0 {
					return usagef("no field %q in the response", out.field)
				}
				_, err := w.Write([]byte(formatValue(rows[i].val) + "\n"))
				return err
			}
			if ok, err := out.structured(w, s); ok {
				return err
			}
			return writeTable(w, rows)
		},
	}
	conn.add(cmd)
	out.add(cmd, true)
	return cmd
}
