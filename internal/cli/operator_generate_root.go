package cli

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

type generateRootFlags struct {
	init, status, cancel, generateOTP bool
	nonce, decode, otp                string
}

func newOperatorGenerateRootCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
		f    generateRootFlags
	)
	cmd := &cobra.Command{
		Use:   "generate-root [KEY|-]",
		Short: "Generate a new root token from unseal key shares",
		Long: `Generate a new root token when none is left, with the unseal key holders'
consent. The steps:

  1. keyward operator generate-root -init
     starts a generation and prints its nonce and a one-time password (OTP).
     Keep the OTP: it is needed to decode the result and shown only once.
     Or draw your own OTP first, as with Vault's CLI, and pass it to -init:
     keyward operator generate-root -generate-otp, then -init -otp=OTP.
  2. Each key holder runs keyward operator generate-root, with the share on
     stdin (or as KEY). The nonce is looked up unless -nonce is given.
     The last share prints the encoded token.
  3. keyward operator generate-root -decode=ENCODED -otp=OTP
     prints the new root token. -decode=- reads the encoded token from stdin.

-status shows the progress; -cancel stops the generation.`,
		Example: `  keyward operator generate-root -init
  keyward operator generate-root < share-1.txt
  keyward operator generate-root -decode=- -otp="$OTP" < encoded.txt`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.resolve(e); err != nil {
				return err
			}
			modes := 0
			for _, on := range []bool{f.init, f.status, f.cancel, f.decode != "", f.generateOTP} {
				if on {
					modes++
				}
			}
			if modes > 1 {
				return usagef("-init, -status, -cancel, -decode and -generate-otp are mutually exclusive")
			}
			if modes == 1 && len(args) > 0 {
				return usagef("a key share is only accepted when submitting one")
			}
			w := cmd.OutOrStdout()
			if f.decode != "" {
				return decodeRootCmd(cmd, w, f.decode, f.otp)
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var st *api.GenerateRootStatus
			switch {
			case f.generateOTP:
				return generateOTPCmd(cmd, w, &out, c)
			case f.init && f.otp != "":
				st = &api.GenerateRootStatus{}
				_, err = c.Do(ctx, &api.Request{Method: http.MethodPut, Path: "sys/generate-root/attempt", NoToken: true,
					Body: map[string]any{"otp": f.otp}}, st)
			case f.init:
				st, err = c.GenerateRootStart(ctx)
			case f.status:
				st, err = c.GenerateRootStatus(ctx)
			case f.cancel:
				nonce := f.nonce
				if nonce == "" {
					if st, err = c.GenerateRootStatus(ctx); err != nil {
						return explain(err, c)
					}
					nonce = st.Nonce
				}
				if err := c.GenerateRootCancel(ctx, nonce); err != nil {
					return explain(err, c)
				}
				return success(w, "Root token generation canceled (if it was started).")
			default:
				key, kerr := shareArg(cmd, args, "unseal key")
				if kerr != nil {
					return kerr
				}
				nonce := f.nonce
				if nonce == "" {
					cur, err := c.GenerateRootStatus(ctx)
					if err != nil {
						return explain(err, c)
					}
					if !cur.Started {
						return withHint(errors.New("no root token generation is in progress"), "start one with keyward operator generate-root -init")
					}
					nonce = cur.Nonce
				}
				st, err = c.GenerateRootUpdate(ctx, key, nonce)
			}
			if err != nil {
				return explain(err, c)
			}
			return printGenerateRoot(w, &out, st)
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	fl := cmd.Flags()
	fl.BoolVar(&f.init, "init", false, "start a root token generation; prints the nonce and OTP")
	fl.BoolVar(&f.status, "status", false, "show the generation's progress")
	fl.BoolVar(&f.cancel, "cancel", false, "cancel the generation in progress")
	fl.StringVar(&f.nonce, "nonce", "", "nonce of the generation (default: the one in progress)")
	fl.StringVar(&f.decode, "decode", "", `encoded token to decode with -otp ("-" reads it from stdin)`)
	fl.BoolVar(&f.generateOTP, "generate-otp", false, "print a new OTP of the server's otp_length, for -init -otp")
	fl.StringVar(&f.otp, "otp", "", "one-time password: with -init your own (from -generate-otp); with -decode the one of the generation")
	return cmd
}

func printGenerateRoot(w io.Writer, o *outFlags, st *api.GenerateRootStatus) error {
	if ok, err := o.structured(w, st); ok {
		return err
	}
	rows := []row{
		{"Nonce", st.Nonce},
		{"Started", st.Started},
		{"Progress", strconv.Itoa(st.Progress) + "/" + strconv.Itoa(st.Required)},
		{"Complete", st.Complete},
	}
	if st.OTP != "" {
		rows = append(rows, row{"OTP", st.OTP})
	}
	if st.OTPLength > 0 {
		rows = append(rows, row{"OTP Length", st.OTPLength})
	}
	if st.EncodedToken != "" {
		rows = append(rows, row{"Encoded Token", st.EncodedToken})
	}
	return writeTable(w, rows)
}

// generateOTPCmd prints an OTP as Vault's -generate-otp does: otp_length
// random base62 characters.
func generateOTPCmd(cmd *cobra.Command, w io.Writer, o *outFlags, c *api.Client) error {
	st, err := c.GenerateRootStatus(cmd.Context())
	if err != nil {
		return explain(err, c)
	}
	if st.OTPLength <= 0 {
		return errors.New("the server reports no otp_length")
	}
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	otp := make([]byte, st.OTPLength)
	for i := range otp {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return fmt.Errorf("generate otp: %w", err)
		}
		otp[i] = alphabet[n.Int64()]
	}
	if ok, err := o.structured(w, map[string]any{"otp": string(otp), "otp_length": len(otp)}); ok {
		return err
	}
	_, err = fmt.Fprintln(w, string(otp))
	return err
}

func decodeRootCmd(cmd *cobra.Command, w io.Writer, encoded, otp string) error {
	if otp == "" {
		return usagef("-decode needs -otp")
	}
	if encoded == "-" {
		in := &stdinSource{r: cmd.InOrStdin()}
		line, err := in.readLine("encoded token")
		if err != nil {
			return err
		}
		encoded = strings.TrimSpace(line)
	}
	tok, err := decodeRootToken(encoded, otp)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, tok)
	return err
}

// decodeRootToken undoes the server's encoding of a generated root token:
// unpadded standard base64 of the token XORed with the OTP.
func decodeRootToken(encoded, otp string) (string, error) {
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(encoded, "="))
	if err != nil {
		return "", errors.New("decode root token: the encoded token is not base64")
	}
	if len(raw) != len(otp) {
		return "", errors.New("decode root token: the OTP does not match the encoded token's length")
	}
	out := make([]byte, len(raw))
	subtle.XORBytes(out, raw, []byte(otp))
	return string(out), nil
}
