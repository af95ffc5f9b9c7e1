package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/filecrypt"
)

func newEncryptMergeDriverCmd(e *env) *cobra.Command {
	var ff fileFlags
	cmd := &cobra.Command{
		Use:   "merge-driver BASE OURS THEIRS PATH",
		Short: "Merge three versions of an encrypted file value by value (git merge driver)",
		Long: `merge-driver is the git merge driver keyward encrypt --git-setup installs
(merge.keyward.driver = keyward encrypt merge-driver %O %A %B %P). It
decrypts the three versions in memory, takes each value changed on one side
only, re-encrypts (values nobody changed keep their ciphertext), recomputes
the MAC and writes the result to OURS. A value changed differently on both
sides is a conflict: the driver keeps ours for it, names it on stderr and
exits 1, so git leaves the file unmerged; resolve it with keyward edit and
git add. Plaintext is never written to disk. When a version cannot be
decrypted (no key), OURS is left as it is and the merge is a conflict.`,
		Example:       `  git config merge.keyward.driver "keyward encrypt merge-driver %O %A %B %P"`,
		Args:          cobra.ExactArgs(4),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			var in [3][]byte
			for i := range in {
				b, err := os.ReadFile(args[i])
				if err != nil {
					return &exitError{code: ExitError, err: err}
				}
				in[i] = b
			}
			name := args[3]
			o, err := ff.options(e)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			merged, conflicts, err := filecrypt.Merge(cmd.Context(), name, in[0], in[1], in[2], o)
			if err != nil {
				return &exitError{code: ExitError, err: fmt.Errorf("merge-driver: %w (ours is left unmerged)", err)}
			}
			if err := replaceFile(args[1], merged); err != nil {
				return &exitError{code: ExitError, err: err}
			}
			if len(conflicts) > 0 {
				return &exitError{code: ExitError, err: withHint(&filecrypt.ConflictError{Name: name, Paths: conflicts},
					"ours is kept for these; fix them with keyward edit "+name+", then git add "+name)}
			}
			return nil
		},
	}
	ff.add(cmd)
	return cmd
}
