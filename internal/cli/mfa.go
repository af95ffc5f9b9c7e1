package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func init() { register(newMFACmd) }

func newMFACmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mfa",
		Short: "Enroll in a TOTP method and complete logins held for MFA",
		Long: `Work with step-up MFA (docs/governance.md): create your TOTP secret for a
method, or complete a login that answered an MFA requirement.`,
		SilenceUsage: true,
	}
	cmd.AddCommand(newMFAGenerateCmd(e), newMFAValidateCmd(e))
	return cmd
}

func newMFAGenerateCmd(e *env) *cobra.Command {
	var (
		conn   connFlags
		out    outFlags
		entity string
	)
	cmd := &cobra.Command{
		Use:   "generate METHOD_ID",
		Short: "Create a TOTP secret for a method and print its otpauth:// url",
		Long: `Create the TOTP secret of your token's entity for METHOD_ID
(identity/mfa/method/totp/generate) and print the otpauth:// url to load
into an authenticator app. The url holds the secret and is shown once.
With -entity-id, an operator creates (or replaces) the secret of that
entity (admin-generate).`,
		Example: `  keyward mfa generate -field=url 5f0c...-method-id | qrencode -t ansiutf8
  keyward mfa generate -entity-id=$ENTITY 5f0c...-method-id`,
		Args:          cobra.ExactArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			path, data := "identity/mfa/method/totp/generate", map[string]any{"method_id": args[0]}
			if entity != "" {
				path, data["entity_id"] = "identity/mfa/method/totp/admin-generate", entity
			}
			s, err := c.Write(cmd.Context(), path, data)
			if err != nil {
				return explain(fmt.Errorf("mfa generate: %w", err), c)
			}
			if s == nil {
				return errors.New("mfa generate: the server returned nothing")
			}
			return printSecret(e, cmd.OutOrStdout(), &out, s)
		},
	}
	cmd.Flags().StringVar(&entity, "entity-id", "", "create the secret of this entity (admin-generate)")
	conn.add(cmd)
	out.add(cmd, true)
	return cmd
}

func newMFAValidateCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
	)
	cmd := &cobra.Command{
		Use:   "validate MFA_REQUEST_ID METHOD",
		Short: "Complete a login held for MFA and print its token",
		Long: `Complete a login that answered auth.mfa_requirement: send the passcode
of METHOD (a method id or name) for MFA_REQUEST_ID to sys/mfa/validate and
print the login's token. The passcode is read from a line of stdin, never
from the command line.`,
		Example:       `  keyward mfa validate -field=token $REQUEST_ID ops-totp`,
		Args:          cobra.ExactArgs(2),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			code, err := (&stdinSource{r: cmd.InOrStdin()}).readLine("passcode")
			if err != nil {
				return err
			}
			c.SetToken("")
			s, err := c.Write(cmd.Context(), "sys/mfa/validate", map[string]any{
				"mfa_request_id": args[0],
				"mfa_payload":    map[string]any{args[1]: []string{code}},
			})
			if err != nil {
				return explain(fmt.Errorf("mfa validate: %w", err), c)
			}
			if s == nil {
				return errors.New("mfa validate: the server returned nothing")
			}
			return printSecret(e, cmd.OutOrStdout(), &out, s)
		},
	}
	conn.add(cmd)
	out.add(cmd, true)
	return cmd
}
