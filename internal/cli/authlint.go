package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

func init() { register(newAuthCmd) }

// newAuthCmd is the `auth` command group; it holds `auth lint`.
func newAuthCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Inspect auth methods",
	}
	cmd.AddCommand(newAuthLintCmd(e))
	return cmd
}

// lintFinding is one finding of auth/<mount>/role/NAME/lint.
type lintFinding struct {
	Role     string `json:"role"`
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

func newAuthLintCmd(e *env) *cobra.Command {
	var (
		conn   connFlags
		out    outFlags
		mount  string
		failOn string
	)
	cmd := &cobra.Command{
		Use:   "lint [ROLE...]",
		Short: "Report risky JWT/OIDC roles (pull requests, unprotected refs, broad globs)",
		Long: `Check the roles of a jwt auth mount (all of them, or the ones named) for
bindings that let the wrong job log in: roles reachable from pull requests
or forks, unprotected refs, over-broad globs, mutable names where an
immutable id exists, audience-only bindings and long token lifetimes.

The exit status is 1 when a finding is at least as severe as -fail-on
(default high), so the command can gate a CI pipeline.`,
		Example: `  keyward auth lint
  keyward auth lint -mount=gitlab -fail-on=warn deploy-prod`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.resolve(e); err != nil {
				return err
			}
			rank := map[string]int{"info": 1, "warn": 2, "high": 3}
			threshold, ok := rank[failOn]
			if failOn == "none" {
				threshold, ok = 4, true
			}
			if !ok {
				return usagef("-fail-on must be none, info, warn or high, not %q", failOn)
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			mount = strings.Trim(strings.TrimPrefix(strings.Trim(mount, "/"), "auth/"), "/")
			roles := args
			if len(roles) == 0 {
				s, err := c.List(cmd.Context(), "auth/"+mount+"/role")
				if err != nil {
					return explain(err, c)
				}
				roles = listKeys(s)
			}
			sort.Strings(roles)
			findings := []lintFinding{}
			worst := 0
			for _, r := range roles {
				s, err := c.Read(cmd.Context(), "auth/"+mount+"/role/"+r+"/lint", nil)
				if err != nil {
					return explain(fmt.Errorf("lint role %q: %w", r, err), c)
				}
				if s == nil {
					return fmt.Errorf("role %q not found on auth/%s", r, mount)
				}
				list, _ := s.Data["findings"].([]any)
				for _, x := range list {
					m, _ := x.(map[string]any)
					f := lintFinding{Role: r}
					f.Severity, _ = m["severity"].(string)
					f.Code, _ = m["code"].(string)
					f.Message, _ = m["message"].(string)
					findings = append(findings, f)
					worst = max(worst, rank[f.Severity])
				}
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, findings); ok {
				if err != nil {
					return err
				}
			} else if len(findings) == 0 {
				fmt.Fprintf(w, "No findings in %d role(s) of auth/%s.\n", len(roles), mount)
			} else if err := writeColumns(w, []string{"Role", "Severity", "Code", "Finding"}, func(add func(...string)) {
				for _, f := range findings {
					add(f.Role, f.Severity, f.Code, f.Message)
				}
			}); err != nil {
				return err
			}
			if worst >= threshold {
				return &exitError{code: ExitError}
			}
			return nil
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	cmd.Flags().StringVar(&mount, "mount", "jwt", "mount path of the jwt auth method")
	cmd.Flags().StringVar(&failOn, "fail-on", "high", "exit 1 on findings of this severity or worse: none, info, warn, high")
	return cmd
}
