package cli

import (
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

func init() { register(newControlGroupCmd) }

func newControlGroupCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "control-group",
		Short: "Approve requests that a policy's control_group holds",
		Long: `A policy path with a control_group stanza holds every request on it (root
excepted): the requester gets a wrapping token and its accessor instead of
the response. Approvers (members of each factor's identity groups; never the
requester) read and approve the request by accessor; the requester then
unwraps the token with their own token (keyward unwrap TOKEN) and the
request is performed as them.`,
		Example: `  keyward control-group list
  keyward control-group request ACCESSOR
  keyward control-group authorize ACCESSOR
  keyward control-group deny ACCESSOR -reason="not during the freeze"`,
	}
	cmd.AddCommand(newControlGroupListCmd(e), newControlGroupStepCmd(e, "request"),
		newControlGroupStepCmd(e, "authorize"), newControlGroupStepCmd(e, "deny"))
	return cmd
}

func newControlGroupStepCmd(e *env, step string) *cobra.Command {
	var (
		conn   connFlags
		out    outFlags
		reason string
	)
	short := map[string]string{
		"request":   "Show a held request: path, requester, approvals",
		"authorize": "Approve a held request",
		"deny":      "Deny a held request",
	}[step]
	cmd := &cobra.Command{
		Use:     step + " ACCESSOR",
		Short:   short,
		Example: "  keyward control-group " + step + " ACCESSOR",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if step == "deny" && strings.TrimSpace(reason) == "" {
				return usagef("-reason is required to deny")
			}
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			body := map[string]any{"accessor": args[0]}
			if step == "deny" {
				body["reason"] = reason
			}
			s, err := govDo(cmd.Context(), c, http.MethodPut, "sys/control-group/"+step, body)
			if err != nil {
				return explain(err, c)
			}
			w, d := cmd.OutOrStdout(), s.Data
			if ok, err := out.structured(w, d); ok {
				return err
			}
			ent, _ := d["request_entity"].(map[string]any)
			var approvers []string
			if auths, ok := d["authorizations"].([]any); ok {
				for _, a := range auths {
					if m, ok := a.(map[string]any); ok {
						approvers = append(approvers, formatValue(m["entity_name"]))
					}
				}
			}
			var progress []string
			if fs, ok := d["factors"].([]any); ok {
				for _, f := range fs {
					if m, ok := f.(map[string]any); ok {
						progress = append(progress, formatValue(m["name"])+" "+fmtProgress(m["approvals"], m["required"]))
					}
				}
			}
			return writeTable(w, []row{{"Approved", d["approved"]}, {"Denied", d["denied"]}, {"Request Path", d["request_path"]},
				{"Operation", d["operation"]}, {"Requester", ent["name"]}, {"Authorizations", approvers},
				{"Factors", strings.Join(progress, ", ")}, {"Expires At", d["expires_at"]}})
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	if step == "deny" {
		cmd.Flags().StringVar(&reason, "reason", "", "why (required; kept with the request)")
	}
	return cmd
}

func newControlGroupListCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List held requests waiting for your approval (and your own)",
		Example: `  keyward control-group list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			s, err := govDo(cmd.Context(), c, "LIST", "sys/control-group/requests", nil)
			if err != nil {
				return explain(err, c)
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, s.Data); ok {
				return err
			}
			keys, _ := s.Data["keys"].([]any)
			info, _ := s.Data["key_info"].(map[string]any)
			return writeColumns(w, []string{"Accessor", "Path", "Operation", "Requester", "Expires At"}, func(add func(...string)) {
				for _, k := range keys {
					acc, _ := k.(string)
					ki, _ := info[acc].(map[string]any)
					ent, _ := ki["request_entity"].(map[string]any)
					add(acc, formatValue(ki["request_path"]), formatValue(ki["operation"]), formatValue(ent["name"]), formatValue(ki["expires_at"]))
				}
			})
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}
