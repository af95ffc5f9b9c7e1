package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/filecrypt"
)

func init() { register(newUpdateKeysCmd) }

func newUpdateKeysCmd(e *env) *cobra.Command {
	var ff fileFlags
	cmd := &cobra.Command{
		Use:   "updatekeys [flags] FILE...",
		Short: "Wrap encrypted files' data keys for the key groups their creation rule names now",
		Long: `Updatekeys reads the creation rule of each FILE in .keyward-encrypt.yaml and,
when its key groups or threshold differ from the file's, wraps the file's
data key for the rule's groups instead and rewrites FILE. Values keep their
ciphertext, so the diff touches only the metadata. Removing a recipient
does not take away a data key it already had: run keyward rotate too.`,
		Example:       `  keyward updatekeys deploy/*/secrets.enc.yaml`,
		Args:          cobra.MinimumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := ff.options(e)
			if err != nil {
				return err
			}
			for _, file := range args {
				data, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				s, err := ruleSettings(file)
				if err != nil {
					return err
				}
				out, changed, err := filecrypt.UpdateKeys(cmd.Context(), file, data, s, o)
				if err != nil {
					return err
				}
				if !changed {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: key groups already up to date\n", file)
					continue
				}
				if err := replaceFile(file, out); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: key groups updated\n", file)
			}
			return nil
		},
	}
	ff.conn.add(cmd)
	ff.add(cmd)
	return cmd
}
