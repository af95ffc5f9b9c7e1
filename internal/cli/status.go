package cli

import (
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func init() { register(newStatusCmd) }

func newStatusCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether the server is initialized and sealed",
		Long: `Show the server's seal status. No token is needed.

The exit code tells the state, as Vault's does: 0 when the server is
unsealed, 2 when it is sealed (or uninitialized), 1 when it could not be
reached.`,
		Example: `  keyward status
  keyward status -format=json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			st, err := c.SealStatus(cmd.Context())
			if err != nil {
				return explain(err, c)
			}
			if err := printSealStatus(cmd.OutOrStdout(), &out, st); err != nil {
				return err
			}
			if st.Sealed {
				return &exitError{code: 2}
			}
			return nil
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

// printSealStatus prints a seal status as Vault's status command does.
func printSealStatus(w io.Writer, o *outFlags, st *api.SealStatus) error {
	if ok, err := o.structured(w, st); ok {
		return err
	}
	rows := []row{
		{"Seal Type", st.Type},
	}
	if st.RecoverySeal {
		rows = append(rows, row{"Recovery Seal Type", "shamir"})
	}
	rows = append(rows, row{"Initialized", st.Initialized}, row{"Sealed", st.Sealed})
	if st.RecoverySeal {
		rows = append(rows, row{"Total Recovery Shares", st.N}, row{"Threshold", st.T})
	} else {
		rows = append(rows, row{"Total Shares", st.N}, row{"Threshold", st.T})
	}
	if st.Migration {
		rows = append(rows, row{"Seal Migration in Progress", true})
	}
	if st.AutoUnsealError != "" {
		rows = append(rows, row{"Auto-unseal Error", st.AutoUnsealError})
	}
	if st.Sealed && st.Initialized && (!st.RecoverySeal || st.Migration) {
		rows = append(rows, row{"Unseal Progress", strconv.Itoa(st.Progress) + "/" + strconv.Itoa(st.T)}, row{"Unseal Nonce", st.Nonce})
	}
	rows = append(rows, row{"Version", st.Version}, row{"Storage Type", st.StorageType})
	if st.ClusterName != "" {
		rows = append(rows, row{"Cluster Name", st.ClusterName}, row{"Cluster ID", st.ClusterID})
	}
	rows = append(rows, row{"HA Enabled", false})
	return writeTable(w, rows)
}
