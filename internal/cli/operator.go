package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func init() { register(newOperatorCmd) }

// groupCmd is a parent command that only holds subcommands.
func groupCmd(use, short, long, example string) *cobra.Command {
	return &cobra.Command{
		Use:     use + " <subcommand>",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Help()
			return usagef("%s needs a subcommand", cmd.CommandPath())
		},
	}
}

func newOperatorCmd(e *env) *cobra.Command {
	cmd := groupCmd("operator", "Initialize, unseal, seal and maintain the server",
		`Operator commands manage the server itself: initialize it, unseal it after
each start, seal it in an emergency, rotate the encryption key, replace the
unseal key shares (rekey) and generate a new root token from them. On an
HA cluster they also join nodes, list members, move the active role and
save or restore raft snapshots.`,
		`  keyward operator init -key-shares=5 -key-threshold=3
  keyward operator unseal < share.txt
  keyward operator generate-root -init`)
	cmd.AddCommand(newOperatorInitCmd(e), newOperatorUnsealCmd(e), newOperatorSealCmd(e),
		newOperatorRotateCmd(e), newOperatorKeyStatusCmd(e), newOperatorGenerateRootCmd(e), newOperatorRekeyCmd(e),
		newOperatorMigrateCmd(e),
		newOperatorBackupCmd(e), newOperatorRaftCmd(e), newOperatorStepDownCmd(e), newOperatorMembersCmd(e))
	return cmd
}

func newOperatorInitCmd(e *env) *cobra.Command {
	var (
		conn              connFlags
		out               outFlags
		shares, threshold int
		recShares, recThr int
		status            bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Initialize a new server",
		Long: `Initialize a new server: generate the root key, split it into unseal key
shares with Shamir's secret sharing, and create the initial root token.

The shares and the root token are printed once and never again. Hand each
share to a different person; any -key-threshold of them unseal the server.
Revoke the root token once you have set up other ways to log in.

With an auto seal (a seal "transit" or seal "pkcs11" block in the server's
configuration) the server unseals itself, and init prints recovery key
shares instead (-recovery-shares, -recovery-threshold): they authorise root
token generation, rekey and seal migration, and decrypt nothing.

With -status, only report whether the server is initialized: exit code 0
when it is, 2 when it is not, 1 on error.`,
		Example: `  keyward operator init
  keyward operator init -key-shares=3 -key-threshold=2 -format=json > init.json
  keyward operator init -status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if status {
				st, err := c.SealStatus(cmd.Context())
				if err != nil {
					return explain(err, c)
				}
				if !st.Initialized {
					fmt.Fprintln(w, "Keyward is not initialized")
					return &exitError{code: 2}
				}
				fmt.Fprintln(w, "Keyward is initialized")
				return nil
			}
			st, err := c.SealStatus(cmd.Context())
			if err != nil {
				return explain(err, c)
			}
			if st.RecoverySeal {
				return initRecovery(cmd, c, &out, st.Type, recShares, recThr)
			}
			if shares < 1 || threshold < 1 || threshold > shares {
				return usagef("-key-threshold must be between 1 and -key-shares (got %d of %d)", threshold, shares)
			}
			res, err := c.Init(cmd.Context(), shares, threshold)
			if err != nil {
				return explain(err, c)
			}
			if ok, err := out.structured(w, map[string]any{
				"unseal_keys_b64":  strs(res.KeysBase64),
				"unseal_keys_hex":  strs(res.Keys),
				"unseal_shares":    shares,
				"unseal_threshold": threshold,
				"root_token":       res.RootToken,
			}); ok {
				return err
			}
			for i, k := range res.KeysBase64 {
				fmt.Fprintf(w, "Unseal Key %d: %s\n", i+1, k)
			}
			fmt.Fprintf(w, "\nInitial Root Token: %s\n\n", res.RootToken)
			fmt.Fprintf(w, `Keyward initialized with %d key shares and a key threshold of %d. Distribute
the key shares printed above to different people and store them safely:
they are shown only this once.

The server starts sealed after every restart. Unseal it by submitting %d of
these keys, each with:

  keyward operator unseal

Keep the root token offline. Create narrower tokens and policies for daily
use, then revoke it with: keyward token revoke -self
`, shares, threshold, threshold)
			return nil
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	cmd.Flags().IntVar(&shares, "key-shares", 5, "number of unseal key shares to create")
	cmd.Flags().IntVar(&threshold, "key-threshold", 3, "number of shares needed to unseal")
	cmd.Flags().IntVar(&recShares, "recovery-shares", 5, "number of recovery key shares to create (auto seals)")
	cmd.Flags().IntVar(&recThr, "recovery-threshold", 3, "number of recovery shares needed (auto seals)")
	cmd.Flags().BoolVar(&status, "status", false, "only report whether the server is initialized (exit 0 yes, 2 no)")
	return cmd
}

// initRecovery initializes a server with an auto seal and prints the
// recovery key shares once.
func initRecovery(cmd *cobra.Command, c *api.Client, out *outFlags, sealType string, shares, threshold int) error {
	if shares < 1 || threshold < 1 || threshold > shares {
		return usagef("-recovery-threshold must be between 1 and -recovery-shares (got %d of %d)", threshold, shares)
	}
	res, err := c.InitRecovery(cmd.Context(), shares, threshold)
	if err != nil {
		return explain(err, c)
	}
	w := cmd.OutOrStdout()
	if ok, err := out.structured(w, map[string]any{
		"unseal_keys_b64":         []string{},
		"unseal_keys_hex":         []string{},
		"recovery_keys_b64":       strs(res.RecoveryKeysBase64),
		"recovery_keys_hex":       strs(res.RecoveryKeys),
		"recovery_keys_shares":    shares,
		"recovery_keys_threshold": threshold,
		"root_token":              res.RootToken,
	}); ok {
		return err
	}
	for i, k := range res.RecoveryKeysBase64 {
		fmt.Fprintf(w, "Recovery Key %d: %s\n", i+1, k)
	}
	fmt.Fprintf(w, "\nInitial Root Token: %s\n\n", res.RootToken)
	fmt.Fprintf(w, `Keyward initialized with %d recovery key shares and a recovery key threshold
of %d. The %s seal protects the unseal key: the server unseals itself at
every start. Distribute the recovery keys to different people and store them
safely: they are shown only this once. Any %d of them authorise root token
generation, rekey of the recovery key, and seal migration; they cannot
decrypt the store.

Keep the root token offline. Create narrower tokens and policies for daily
use, then revoke it with: keyward token revoke -self
`, shares, threshold, sealType, threshold)
	return nil
}

// shareArg returns an unseal share from args[0], or from a stdin line when
// args is empty or args[0] is "-".
func shareArg(cmd *cobra.Command, args []string, what string) (string, error) {
	if len(args) == 1 && args[0] != "-" {
		return args[0], nil
	}
	in := &stdinSource{r: cmd.InOrStdin()}
	return in.readLine(what)
}

func newOperatorUnsealCmd(e *env) *cobra.Command {
	var (
		conn    connFlags
		out     outFlags
		reset   bool
		migrate bool
	)
	cmd := &cobra.Command{
		Use:   "unseal [KEY|-]",
		Short: "Submit one unseal key share",
		Long: `Submit one unseal key share. Once -key-threshold shares are in, the server
unseals. Progress survives between calls, so each key holder runs this once.

The share is read from a line of stdin when KEY is "-" or missing, which
keeps it out of the process list and shell history. With -reset, discard the
shares submitted so far.

During a seal migration (docs/seal.md) each share goes with -migrate: the
unseal keys when moving from Shamir to an auto seal, the recovery keys when
moving from an auto seal back to Shamir or to another auto seal.`,
		Example: `  keyward operator unseal < share-1.txt
  keyward operator unseal -migrate < share-1.txt
  keyward operator unseal -reset`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if reset {
				if len(args) > 0 {
					return usagef("-reset takes no key")
				}
				st, err := c.SealStatus(ctx)
				if err != nil {
					return explain(err, c)
				}
				if st, err = c.UnsealReset(ctx, st.Nonce); err != nil {
					return explain(err, c)
				}
				return printSealStatus(cmd.OutOrStdout(), &out, st)
			}
			key, err := shareArg(cmd, args, "unseal key")
			if err != nil {
				return err
			}
			unseal := c.Unseal
			if migrate {
				unseal = c.UnsealMigrate
			}
			st, err := unseal(ctx, key)
			if err != nil {
				return explain(err, c)
			}
			return printSealStatus(cmd.OutOrStdout(), &out, st)
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	cmd.Flags().BoolVar(&reset, "reset", false, "discard the unseal progress")
	cmd.Flags().BoolVar(&migrate, "migrate", false, "submit the share for a seal migration")
	return cmd
}

func newOperatorSealCmd(e *env) *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:   "seal",
		Short: "Seal the server",
		Long: `Seal the server: it drops its keys from memory and answers nothing but
status until it is unsealed again with the key shares. Use it in an
emergency. It needs a token with sudo on sys/seal.`,
		Example: `  keyward operator seal`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			if err := c.Seal(cmd.Context()); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Keyward is sealed.")
		},
	}
	conn.add(cmd)
	return cmd
}

func newOperatorRotateCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Rotate the data encryption key",
		Long: `Add a new term to the encryption keyring. New writes use the new key; old
data stays readable with the old terms. Needs sudo on sys/rotate.`,
		Example: `  keyward operator rotate`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			if err := c.Rotate(cmd.Context()); err != nil {
				return explain(err, c)
			}
			ks, err := c.KeyStatus(cmd.Context())
			if err != nil {
				return explain(err, c)
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, ks); ok {
				return err
			}
			if err := success(w, "Rotated key\n"); err != nil {
				return err
			}
			return writeTable(w, []row{{"Key Term", ks.Term}, {"Install Time", ks.InstallTime}})
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

func newOperatorKeyStatusCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:     "key-status",
		Short:   "Show the encryption key's term and install time",
		Long:    "Show the current term of the encryption keyring, when it was installed\nand how many encryptions it has done.",
		Example: `  keyward operator key-status`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			ks, err := c.KeyStatus(cmd.Context())
			if err != nil {
				return explain(err, c)
			}
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, ks); ok {
				return err
			}
			return writeTable(w, []row{{"Key Term", ks.Term}, {"Install Time", ks.InstallTime}, {"Encryption Count", strconv.FormatInt(ks.Encryptions, 10)}})
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}
