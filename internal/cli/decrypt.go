package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/filecrypt"
	"github.com/keyward/keyward/internal/inject"
)

func init() { register(newDecryptCmd) }

func newDecryptCmd(e *env) *cobra.Command {
	var (
		ff       fileFlags
		inPlace  bool
		textconv bool
	)
	cmd := &cobra.Command{
		Use:   "decrypt [flags] FILE",
		Short: "Decrypt a file encrypted with keyward encrypt",
		Long: `Decrypt recovers FILE's data key with your age identity ($KEYWARD_AGE_KEY,
$KEYWARD_AGE_KEY_FILE or ~/.config/keyward/age/keys.txt) or your token for
its transit key, checks the MAC over all values and writes the plaintext
to stdout (-i: back to FILE, on disk in clear, mode 0600). A file that was altered
fails with a MAC mismatch naming it.

--textconv is for git (diff.keyward.textconv): a file that cannot be
decrypted, or that is not encrypted, is printed as it is, so git diff
still works for people without the key.`,
		Example: `  keyward decrypt secrets.enc.yaml
  KEYWARD_AGE_KEY_FILE=~/keys.txt keyward decrypt app.enc.env`,
		Args:          cobra.ExactArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The plaintext passes through keyward's memory: keep it out of
			// core files and from other processes of the same uid.
			if err := inject.ProtectProcess(); err != nil {
				return err
			}
			file := args[0]
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			o, err := ff.options(e)
			if err != nil && !textconv {
				return err
			}
			out, err := filecrypt.Decrypt(cmd.Context(), file, data, o)
			if err != nil {
				if !textconv {
					return err
				}
				if filecrypt.IsEncrypted(file, data, o.Format) {
					fmt.Fprintf(e.stderr, "keyward: warning: %v; showing the ciphertext\n", err)
				}
				out = data
			}
			if inPlace && !textconv {
				return writePlaintextAtomic(file, out)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	ff.conn.add(cmd)
	ff.add(cmd)
	cmd.Flags().BoolVarP(&inPlace, "in-place", "i", false, "write the plaintext back to FILE")
	cmd.Flags().BoolVar(&textconv, "textconv", false, "for git diff: print files that cannot be decrypted as they are")
	return cmd
}
