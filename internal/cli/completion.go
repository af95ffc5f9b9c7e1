package cli

import (
	"github.com/spf13/cobra"
)

func init() { register(newCompletionCmd) }

func newCompletionCmd(*env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print the completion script for a shell to stdout. Load it once per
session, or install it where the shell looks (see docs/install.md).`,
		Example: `  source <(keyward completion bash)
  keyward completion bash > /etc/bash_completion.d/keyward
  keyward completion zsh > "${fpath[1]}/_keyward"
  keyward completion fish > ~/.config/fish/completions/keyward.fish
  keyward completion powershell | Out-String | Invoke-Expression`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		RunE: func(cmd *cobra.Command, args []string) error {
			root, w := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(w)
			}
			return usagef("unknown shell %q: use bash, zsh, fish or powershell", args[0])
		},
	}
	return cmd
}
