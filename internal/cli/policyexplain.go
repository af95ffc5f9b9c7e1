package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newPolicyExplainCmd(e *env) *cobra.Command {
	var (
		conn                                         connFlags
		out                                          outFlags
		token, accessor, entity, envName, remote, at string
		policies, groups                             []string
	)
	cmd := &cobra.Command{
		Use:   "explain (-accessor A | -token T | -entity E | -policies P,... [-entity E]) PATH [OPERATION]",
		Short: "Say which policy rule allows or denies a request, and why",
		Long: `Ask the server (sys/policies/explain, which needs sudo) how the ACL decides
OPERATION (default read) on PATH for a token, given by accessor or value
("-token -" reads it from stdin, keeping it out of argv), or for a caller
described by its policies. The answer names the deciding pattern, every
policy rule merged into it and, for each condition block, whether it held
or which field failed. -environment, -groups, -remote-addr and -time set the
request context the conditions see.`,
		Example: `  keyward policy explain -accessor hmac-... secret/data/prod/db read
  keyward policy explain -policies deploy -environment staging kv-prod/data/db`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			data := map[string]any{"path": args[0], "operation": "read"}
			if len(args) == 2 {
				data["operation"] = args[1]
			}
			if token == "-" {
				raw, err := (&stdinSource{r: cmd.InOrStdin()}).readAll("the token")
				if err != nil {
					return err
				}
				token = strings.TrimSpace(string(raw))
			}
			set := 0
			for k, v := range map[string]string{"token": token, "accessor": accessor, "entity_id": entity,
				"environment": envName, "remote_addr": remote, "time": at} {
				if v != "" {
					data[k] = v
					if k == "token" || k == "accessor" || (k == "entity_id" && len(policies) == 0) {
						set++
					}
				}
			}
			if len(policies) > 0 {
				data["policies"] = policies
				set++
			}
			if len(groups) > 0 {
				data["group_names"] = groups
			}
			if set != 1 {
				return usagef("give exactly one of -accessor, -token, -entity or -policies")
			}
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			s, err := c.Write(cmd.Context(), "sys/policies/explain", data)
			if err != nil {
				return explain(err, c)
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, s); ok {
				return err
			}
			result := "denied"
			if s.Data["allowed"] == true {
				result = "allowed"
			}
			if err := writeTable(w, []row{{"result", result}, {"reason", s.Data["reason"]}, {"pattern", s.Data["pattern"]},
				{"capabilities", s.Data["capabilities"]}, {"caller_environment", s.Data["caller_environment"]},
				{"path_environment", s.Data["path_environment"]}}); err != nil {
				return err
			}
			rules, _ := s.Data["rules"].([]any)
			if len(rules) == 0 {
				return nil
			}
			fmt.Fprintln(w)
			return writeColumns(w, []string{"Policy", "Pattern", "Capabilities", "Applies", "Conditions"}, func(add func(...string)) {
				for _, r := range rules {
					m, _ := r.(map[string]any)
					var conds []string
					cs, _ := m["conditions"].([]any)
					for i, c := range cs {
						cm, _ := c.(map[string]any)
						if cm["holds"] == true {
							conds = append(conds, fmt.Sprintf("#%d holds", i+1))
						} else {
							conds = append(conds, fmt.Sprintf("#%d %v", i+1, cm["failure"]))
						}
					}
					if len(conds) == 0 {
						conds = []string{"none"}
					}
					add(formatValue(m["policy"]), formatValue(m["pattern"]), formatValue(m["capabilities"]),
						formatValue(m["applies"]), strings.Join(conds, "; "))
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&token, "token", "", `the token to explain for ("-" reads it from stdin)`)
	f.StringVar(&accessor, "accessor", "", "the accessor of the token to explain for")
	f.StringVar(&entity, "entity", "", "the caller's entity id: alone, its policies and groups from the identity store; with -policies, only for entity_ids conditions")
	f.StringSliceVar(&policies, "policies", nil, "explain for a caller holding these policies")
	f.StringSliceVar(&groups, "groups", nil, "the caller's groups")
	f.StringVar(&envName, "environment", "", "the caller's environment")
	f.StringVar(&remote, "remote-addr", "", "the client address conditions see")
	f.StringVar(&at, "time", "", "the request time (RFC 3339) conditions see")
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

func newPolicyWhoCanCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "who-can OPERATION PATH",
		Short: "List the policies, auth roles, groups and entities that could perform a request",
		Long: `Ask the server (sys/policies/who-can, which needs sudo) which ACL policies
could, alone, perform OPERATION on PATH, and which auth roles (JWT/OIDC and
AppRole roles, userpass users, cert entries) issue tokens whose policies together could. Access is "allowed",
"conditional" (only when a rule's conditions hold) or "possibly, via
template" (a templated rule matches for some identities).`,
		Example: `  keyward policy who-can read kv-prod/data/db`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			s, err := c.Write(cmd.Context(), "sys/policies/who-can", map[string]any{"operation": args[0], "path": args[1]})
			if err != nil {
				return explain(err, c)
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, s); ok {
				return err
			}
			pols, _ := s.Data["policies"].([]any)
			if err := writeColumns(w, []string{"Policy", "Access", "Rules"}, func(add func(...string)) {
				for _, p := range pols {
					m, _ := p.(map[string]any)
					add(formatValue(m["name"]), formatValue(m["access"]), formatValue(m["rules"]))
				}
			}); err != nil {
				return err
			}
			if roles, _ := s.Data["roles"].([]any); len(roles) > 0 {
				fmt.Fprintln(w)
				if err := writeColumns(w, []string{"Mount", "Role", "Access", "Policies", "Bindings"}, func(add func(...string)) {
					for _, r := range roles {
						m, _ := r.(map[string]any)
						add(formatValue(m["mount"]), formatValue(m["role"]), formatValue(m["access"]), formatValue(m["policies"]), formatValue(m["bindings"]))
					}
				}); err != nil {
					return err
				}
			}
			for _, kind := range []string{"groups", "entities"} {
				rows, _ := s.Data[kind].([]any)
				if len(rows) == 0 {
					continue
				}
				fmt.Fprintln(w)
				head := "Group"
				if kind == "entities" {
					head = "Entity"
				}
				if err := writeColumns(w, []string{head, "ID", "Access", "Policies"}, func(add func(...string)) {
					for _, r := range rows {
						m, _ := r.(map[string]any)
						add(formatValue(m["name"]), formatValue(m["id"]), formatValue(m["access"]), formatValue(m["policies"]))
					}
				}); err != nil {
					return err
				}
			}
			return nil
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}
