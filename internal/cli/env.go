package cli

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/inject"
	"github.com/keyward/keyward/internal/secretref"
)

func init() { register(newEnvCmd) }

func newEnvCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		refs refFlags
	)
	cmd := &cobra.Command{
		Use:   "env [flags] [NAME=PATH#FIELD...]",
		Short: "Print secrets as shell export lines, for eval",
		Long: `Env fetches the given references (arguments, --env, --env-from and the env
parts of keyward.yaml) and prints one export NAME='VALUE' line each, quoted
for POSIX shells, for eval "$(keyward env ...)". The values are printed, so
nothing masks them: prefer keyward run, which keeps them out of the log.
A warning saying so goes to stderr. Leases obtained are not revoked.`,
		Example: `  eval "$(keyward env DB_PASSWORD=secret/prod/db#password)"
  keyward env --env-from secret/prod/app --env-prefix APP_ > /dev/shm/app.env`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := refs.plan(args)
			if err != nil {
				return err
			}
			if len(plan.Files)+len(plan.Templates) > 0 {
				fmt.Fprintln(e.stderr, "keyward: warning: files and templates are ignored by keyward env")
				plan.Files, plan.Templates = nil, nil
			}
			if plan.Empty() {
				return usagef("nothing to print: give NAME=PATH#FIELD, --env or --env-from")
			}
			// The values pass through keyward's memory: no other process of
			// the same uid may read it.
			if err := inject.ProtectProcess(); err != nil {
				return err
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			res, err := resolve(cmd.Context(), secretref.NewFetcher(c), plan)
			if err != nil {
				return explain(err, c)
			}
			fmt.Fprintln(e.stderr, "keyward: warning: the output holds secret values: eval it, never log it or commit it")
			w := bufio.NewWriter(cmd.OutOrStdout())
			for _, v := range res.Spec.Env {
				fmt.Fprintf(w, "export %s=%s\n", v.Name, shellQuote(v.Value.Reveal()))
			}
			return w.Flush()
		},
	}
	conn.add(cmd)
	refs.add(cmd, false)
	return cmd
}

// shellQuote quotes s for POSIX shells: inside single quotes nothing is
// special, and each single quote closes the quotes, is escaped with a
// backslash and reopens them.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
