package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/filecrypt"
	"github.com/keyward/keyward/internal/inject"
)

func init() { register(newEncryptCmd) }

func newEncryptCmd(e *env) *cobra.Command {
	var (
		ff       fileFlags
		kf       keyFlags
		inPlace  bool
		gitSetup bool
	)
	cmd := &cobra.Command{
		Use:   "encrypt [flags] FILE",
		Short: "Encrypt the values of a YAML, JSON, dotenv or INI file (any other file whole) for git",
		Long: `Encrypt encrypts each value of FILE with AES-256-GCM under a fresh data key,
leaving keys, comments and structure readable, and writes the result to
stdout (or back to FILE with -i). Other files are encrypted whole. The
data key is wrapped for key groups: age recipients (--age) and Keyward
transit keys (--transit, used with your token), or, without those flags,
the first creation rule of .keyward-encrypt.yaml (looked up from FILE's
directory upwards) whose path_regex matches FILE.

Encryption is deterministic per value: an unchanged value keeps its
ciphertext when the file is edited (keyward edit), so git diffs show only
the values that changed, and the MAC is recomputed after a merge by the
merge driver instead of conflicting.

--git-setup [PATTERN...] adds .gitattributes entries (default patterns
*.enc.yaml *.enc.yml *.enc.json *.enc.env *.enc.ini) and git config for a
diff textconv (keyward decrypt --textconv: people who can decrypt see
plaintext diffs) and a merge driver (keyward encrypt merge-driver) in the
current repository.`,
		Example: `  keyward encrypt --age age1... -i secrets.enc.yaml
  keyward encrypt --transit https://keyward.example:8200/v1/transit/keys/gitops -i app.enc.env
  keyward encrypt -i deploy/prod/db-secret.yaml      # key groups from .keyward-encrypt.yaml
  keyward encrypt --git-setup`,
		Args:          cobra.ArbitraryArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if gitSetup {
				return runGitSetup(cmd, args)
			}
			if len(args) != 1 {
				return usagef("encrypt takes one FILE")
			}
			// The plaintext passes through keyward's memory: keep it out of
			// core files and from other processes of the same uid.
			if err := inject.ProtectProcess(); err != nil {
				return err
			}
			file := args[0]
			plain, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			o, err := ff.options(e)
			if err != nil {
				return err
			}
			s, err := kf.settings(file)
			if err != nil {
				return err
			}
			if kf.given() || kf.threshold != 0 {
				s.Threshold = kf.threshold
			}
			out, err := filecrypt.Encrypt(cmd.Context(), file, plain, s, o)
			if err != nil {
				return err
			}
			if inPlace {
				return replaceFile(file, out)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	ff.conn.add(cmd)
	ff.add(cmd)
	kf.add(cmd)
	cmd.Flags().IntVar(&kf.threshold, "shamir-threshold", 0, "key groups needed to decrypt (with key groups from the rules)")
	cmd.Flags().BoolVarP(&inPlace, "in-place", "i", false, "write the result back to FILE")
	cmd.Flags().BoolVar(&gitSetup, "git-setup", false, "set up the git diff textconv and merge driver in the current repository")
	cmd.AddCommand(newEncryptMergeDriverCmd(e))
	return cmd
}

// defaultGitPatterns are what --git-setup marks without arguments.
var defaultGitPatterns = []string{"*.enc.yaml", "*.enc.yml", "*.enc.json", "*.enc.env", "*.enc.ini"}

// gitConfig is what --git-setup sets. The textconv cache stays off: it
// would store plaintext in git notes.
var gitConfig = [][2]string{
	{"diff.keyward.textconv", "keyward decrypt --textconv"},
	{"diff.keyward.cachetextconv", "false"},
	{"merge.keyward.name", "keyward per-value merge of encrypted files"},
	{"merge.keyward.driver", "keyward encrypt merge-driver %O %A %B %P"},
}

func runGitSetup(cmd *cobra.Command, patterns []string) error {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return withHint(fmt.Errorf("git-setup: not in a git work tree: %w", err), "run it inside the repository")
	}
	root := strings.TrimSpace(string(top))
	for _, kv := range gitConfig {
		if out, err := exec.Command("git", "-C", root, "config", "--local", kv[0], kv[1]).CombinedOutput(); err != nil {
			return fmt.Errorf("git-setup: git config %s: %v: %s", kv[0], err, bytes.TrimSpace(out))
		}
	}
	if len(patterns) == 0 {
		patterns = defaultGitPatterns
	}
	path := root + "/.gitattributes"
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(old), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	var add strings.Builder
	for _, p := range patterns {
		line := p + " diff=keyward merge=keyward"
		if !have[line] {
			add.WriteString(line + "\n")
		}
	}
	if add.Len() > 0 {
		if len(old) > 0 && !bytes.HasSuffix(old, []byte("\n")) {
			old = append(old, '\n')
		}
		if err := replaceFile(path, append(old, add.String()...)); err != nil {
			return err
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "git diff and merge for %s now use keyward (.gitattributes and .git/config); commit .gitattributes; each clone runs keyward encrypt --git-setup once\n", strings.Join(patterns, " "))
	return nil
}
