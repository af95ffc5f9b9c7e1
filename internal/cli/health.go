package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func init() { register(newHealthCmd) }

func newHealthCmd(e *env) *cobra.Command {
	var (
		conn     connFlags
		sealedOK bool
	)
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check sys/health: exit 0 when the server is up and unsealed",
		Long: `Read the server's sys/health (no token is sent) and exit 0 when it is
initialized and unsealed, active or standby; 2 when it answers but is sealed
or uninitialized (0 with -sealed-ok); 1 when it cannot be reached within
-timeout. It prints one line saying which.

It is what the container image's HEALTHCHECK runs: the image has no shell
and no curl.`,
		Example: `  keyward health
  keyward health -address=http://127.0.0.1:8200 -timeout=3s
  keyward health -sealed-ok   # liveness: up, whether sealed or not`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			h, err := c.Health(cmd.Context())
			if err != nil {
				return explain(err, c)
			}
			w := cmd.OutOrStdout()
			switch {
			case !h.Initialized:
				fmt.Fprintln(w, "uninitialized")
			case h.Sealed:
				fmt.Fprintln(w, "sealed")
			case h.Standby:
				fmt.Fprintln(w, "standby")
				return nil
			default:
				fmt.Fprintln(w, "active")
				return nil
			}
			if sealedOK {
				return nil
			}
			return &exitError{code: 2}
		},
	}
	conn.add(cmd)
	cmd.Flags().BoolVar(&sealedOK, "sealed-ok", false, "exit 0 when the server answers, sealed or not")
	cmd.Flags().DurationVar(&conn.timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}
