package cli

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/filecrypt"
)

func init() { register(newRotateCmd) }

func newRotateCmd(e *env) *cobra.Command {
	var (
		ff      fileFlags
		inPlace bool
	)
	cmd := &cobra.Command{
		Use:   "rotate [flags] FILE",
		Short: "Re-encrypt an encrypted file under a new data key",
		Long: `Rotate decrypts FILE, encrypts every value again under a fresh data key and
wraps that key for the same key groups. Every ciphertext changes. Use it
after someone lost access (with keyward updatekeys first), or on a
schedule. The result goes to stdout, or back to FILE with -i.`,
		Example:       `  keyward rotate -i secrets.enc.yaml`,
		Args:          cobra.ExactArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			o, err := ff.options(e)
			if err != nil {
				return err
			}
			out, err := filecrypt.Rotate(cmd.Context(), args[0], data, o)
			if err != nil {
				return err
			}
			if inPlace {
				return replaceFile(args[0], out)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	ff.conn.add(cmd)
	ff.add(cmd)
	cmd.Flags().BoolVarP(&inPlace, "in-place", "i", false, "write the result back to FILE")
	return cmd
}
