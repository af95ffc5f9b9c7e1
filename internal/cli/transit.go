package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func init() { register(newTransitCmd) }

// maxTransitInput bounds what the transit commands read from stdin: base64
// of it must fit the server's 32 MiB request limit.
const maxTransitInput = 24 << 20

func newTransitCmd(e *env) *cobra.Command {
	cmd := groupCmd("transit", "Encrypt, decrypt, sign and verify with transit keys",
		`Transit commands send stdin to a transit key on the server and print the
result: encrypt prints a ciphertext, decrypt the raw plaintext, sign a
signature; verify exits 0 for a valid signature and 1 otherwise. Input is
read as bytes (any binary data) and sent base64. The key never leaves the
server.`,
		`  keyward transit encrypt app < card.txt > card.enc
  keyward transit decrypt app < card.enc
  keyward transit sign release < app.tar.gz > app.sig
  keyward transit verify -signature-file=app.sig release < app.tar.gz`)
	cmd.AddCommand(newTransitEncryptCmd(e), newTransitDecryptCmd(e), newTransitSignCmd(e), newTransitVerifyCmd(e))
	return cmd
}

// transitFlags are the flags the transit subcommands share; each
// subcommand adds only those its API call takes.
type transitFlags struct {
	conn  connFlags
	mount string
	opts  api.TransitOptions
}

func (f *transitFlags) add(cmd *cobra.Command, keyVersion, signing bool) {
	f.conn.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.mount, "mount", "transit", "path the transit engine is mounted at")
	fl.StringVar(&f.opts.Context, "context", "", "key derivation context, base64 (derived keys)")
	if keyVersion {
		fl.IntVar(&f.opts.KeyVersion, "key-version", 0, "key version to use (default: the latest)")
	}
	if signing {
		fl.StringVar(&f.opts.HashAlgorithm, "hash-algorithm", "", "hash of the signature: sha2-224, sha2-256 (server default), sha2-384, sha2-512, sha3-*")
		fl.StringVar(&f.opts.SignatureAlgorithm, "signature-algorithm", "", "RSA signature scheme: pss or pkcs1v15")
		fl.StringVar(&f.opts.MarshalingAlgorithm, "marshaling-algorithm", "", "ECDSA signature encoding: asn1 (server default) or jws")
		fl.BoolVar(&f.opts.Prehashed, "prehashed", false, "stdin is already the digest (raw bytes, e.g. openssl dgst -sha256 -binary)")
	}
}

// readInput reads all of stdin, refusing more than the server accepts.
func readInput(cmd *cobra.Command) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxTransitInput+1))
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	if len(b) > maxTransitInput {
		return nil, usagef("stdin holds more than %d MiB: encrypt a data key instead (transit datakey) and the data locally", maxTransitInput>>20)
	}
	return b, nil
}

// keyArg checks the KEY argument: one path segment.
func keyArg(args []string) (string, error) {
	if strings.Contains(args[0], "/") || args[0] == "" {
		return "", usagef("key name %q must not be empty or contain /: use -mount for the engine's path", args[0])
	}
	return args[0], nil
}

// prepare is what every transit command but decrypt starts with: the key
// argument, stdin, and a client.
func (f *transitFlags) prepare(cmd *cobra.Command, args []string, e *env) (key string, in []byte, c *api.Client, err error) {
	if key, err = keyArg(args); err != nil {
		return "", nil, nil, err
	}
	if in, err = readInput(cmd); err != nil {
		return "", nil, nil, err
	}
	if c, err = f.conn.client(e); err != nil {
		clear(in)
		return "", nil, nil, err
	}
	return key, in, c, nil
}

func newTransitEncryptCmd(e *env) *cobra.Command {
	var f transitFlags
	cmd := &cobra.Command{
		Use:   "encrypt [flags] KEY",
		Short: "Encrypt stdin and print the ciphertext",
		Long: `Encrypt reads stdin (any bytes), encrypts it with the transit key KEY and
prints the ciphertext (vault:vN:...) and a newline. Writing to a key that
does not exist creates it when the token may create it, as in Vault.`,
		Example: `  keyward transit encrypt app < card.txt > card.enc
  printf 'secret' | keyward transit encrypt -mount=kms -key-version=2 app`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, in, c, err := f.prepare(cmd, args, e)
			if err != nil {
				return err
			}
			ct, err := c.TransitEncrypt(cmd.Context(), f.mount, key, in, f.opts)
			clear(in)
			if err != nil {
				return explain(err, c)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), ct)
			return err
		},
	}
	f.add(cmd, true, false)
	return cmd
}

func newTransitDecryptCmd(e *env) *cobra.Command {
	var f transitFlags
	cmd := &cobra.Command{
		Use:   "decrypt [flags] KEY",
		Short: "Decrypt a ciphertext from stdin and print the plaintext",
		Long: `Decrypt reads one ciphertext (vault:vN:...) from stdin, surrounding
whitespace ignored, decrypts it with the transit key KEY and writes the
plaintext to stdout exactly as it was encrypted: raw bytes, nothing added.
The plaintext is then in your terminal or file: redirect it with care.`,
		Example: `  keyward transit decrypt app < card.enc > card.txt`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := keyArg(args)
			if err != nil {
				return err
			}
			in, err := readInput(cmd)
			if err != nil {
				return err
			}
			ct := string(bytes.TrimSpace(in))
			if ct == "" {
				return usagef("no ciphertext on stdin")
			}
			c, err := f.conn.client(e)
			if err != nil {
				return err
			}
			pt, err := c.TransitDecrypt(cmd.Context(), f.mount, key, ct, f.opts)
			if err != nil {
				return explain(err, c)
			}
			_, err = cmd.OutOrStdout().Write(pt)
			clear(pt)
			return err
		},
	}
	f.add(cmd, false, false)
	return cmd
}

func newTransitSignCmd(e *env) *cobra.Command {
	var f transitFlags
	cmd := &cobra.Command{
		Use:   "sign [flags] KEY",
		Short: "Sign stdin and print the signature",
		Long: `Sign reads stdin (any bytes), signs it with the transit key KEY (ed25519,
ecdsa-p256, ...) and prints the signature (vault:vN:...) and a newline.
With -prehashed, stdin is the raw digest instead of the data.`,
		Example: `  keyward transit sign release < app.tar.gz > app.sig
  openssl dgst -sha256 -binary app.tar.gz | keyward transit sign -prehashed ecdsa-release`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, in, c, err := f.prepare(cmd, args, e)
			if err != nil {
				return err
			}
			sig, err := c.TransitSign(cmd.Context(), f.mount, key, in, f.opts)
			if err != nil {
				return explain(err, c)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), sig)
			return err
		},
	}
	f.add(cmd, true, true)
	return cmd
}

func newTransitVerifyCmd(e *env) *cobra.Command {
	var (
		f       transitFlags
		sig     string
		sigFile string
	)
	cmd := &cobra.Command{
		Use:   "verify [flags] KEY",
		Short: "Check a signature over stdin (exit 0 valid, 1 not)",
		Long: `Verify reads the signed data from stdin and checks the signature given with
-signature or -signature-file (as sign printed it) with the transit key KEY.
A valid signature prints a success line and exits 0. A signature that does
not match exits 1 with "signature is not valid"; so does any error (a
malformed signature, a missing key, no server), with its own message, so a
script that trusts only exit 0 is safe.`,
		Example: `  keyward transit verify -signature-file=app.sig release < app.tar.gz
  keyward transit verify -signature=vault:v1:MEUCIQ... release < app.tar.gz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (sig == "") == (sigFile == "") {
				return usagef("give the signature with exactly one of -signature and -signature-file")
			}
			if sigFile != "" {
				b, err := os.ReadFile(sigFile)
				if err != nil {
					return fmt.Errorf("read signature: %w", err)
				}
				sig = string(bytes.TrimSpace(b))
				if sig == "" {
					return fmt.Errorf("signature file %s is empty", sigFile)
				}
			}
			key, in, c, err := f.prepare(cmd, args, e)
			if err != nil {
				return err
			}
			valid, err := c.TransitVerify(cmd.Context(), f.mount, key, in, strings.TrimSpace(sig), f.opts)
			if err != nil {
				return explain(err, c)
			}
			if !valid {
				return &exitError{code: ExitError, err: fmt.Errorf("signature is not valid for key %s", key)}
			}
			return success(cmd.OutOrStdout(), "The signature is valid.")
		},
	}
	f.add(cmd, false, true)
	cmd.Flags().StringVar(&sig, "signature", "", "the signature, vault:vN:...")
	cmd.Flags().StringVar(&sigFile, "signature-file", "", "file holding the signature (as sign printed it)")
	return cmd
}
