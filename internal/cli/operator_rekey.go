package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

type rekeyFlags struct {
	init, status, cancel, verify bool
	shares, threshold            int
	nonce                        string
}

// rekeyState is the union of what sys/rekey/init, /update and /verify
// answer (status, new shares, verification progress).
type rekeyState struct {
	Nonce                string   `json:"nonce"`
	Started              bool     `json:"started"`
	T                    int      `json:"t"`
	N                    int      `json:"n"`
	Progress             int      `json:"progress"`
	Required             int      `json:"required,omitempty"`
	Complete             bool     `json:"complete,omitempty"`
	Keys                 []string `json:"keys,omitempty"`
	KeysBase64           []string `json:"keys_base64,omitempty"`
	VerificationRequired bool     `json:"verification_required"`
	VerificationNonce    string   `json:"verification_nonce,omitempty"`
}

func newOperatorRekeyCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		out  outFlags
		f    rekeyFlags
	)
	cmd := &cobra.Command{
		Use:   "rekey [KEY|-]",
		Short: "Replace the unseal key shares",
		Long: `Replace the unseal key shares, optionally with a new number of shares and
threshold, without re-initializing. The server stays unsealed and its data
untouched. The steps, as with vault operator rekey:

  1. keyward operator rekey -init -key-shares=5 -key-threshold=3 [-verify]
     starts a rekey and prints its nonce.
  2. A threshold of the CURRENT key holders each run keyward operator rekey,
     with the share on stdin (or as KEY). The last one prints the new shares,
     shown only this once.
  3. With -verify at -init, the new shares are not in force yet: a threshold
     of the NEW key holders each run keyward operator rekey -verify with
     their new share. Only then does the new key replace the old one; until
     then, and if the rekey is cancelled, the current shares keep working.

-status shows the progress (with -verify, the verification's); -cancel stops
the rekey (with -verify, restarts the verification with a new nonce). The
nonce is looked up unless -nonce is given.`,
		Example: `  keyward operator rekey -init -key-shares=5 -key-threshold=3 -verify
  keyward operator rekey < old-share-1.txt
  keyward operator rekey -verify < new-share-1.txt`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			modes := 0
			for _, on := range []bool{f.init, f.status, f.cancel} {
				if on {
					modes++
				}
			}
			if modes > 1 {
				return usagef("-init, -status and -cancel are mutually exclusive")
			}
			if modes == 1 && len(args) > 0 {
				return usagef("a key share is only accepted when submitting one")
			}
			ctx := cmd.Context()
			w := cmd.OutOrStdout()
			switch {
			case f.init:
				if f.shares < 1 || f.threshold < 1 || f.threshold > f.shares {
					return usagef("-key-threshold must be between 1 and -key-shares (got %d of %d)", f.threshold, f.shares)
				}
				st, err := rekeyCall(ctx, c, http.MethodPut, "sys/rekey/init", map[string]any{
					"secret_shares": f.shares, "secret_threshold": f.threshold, "require_verification": f.verify})
				if err != nil {
					return explain(err, c)
				}
				return printRekeyStatus(w, &out, st, false)
			case f.status:
				st, err := rekeyCall(ctx, c, http.MethodGet, rekeyPath(f.verify), nil)
				if err != nil {
					return explain(err, c)
				}
				return printRekeyStatus(w, &out, st, f.verify)
			case f.cancel && f.verify:
				st, err := rekeyCall(ctx, c, http.MethodDelete, "sys/rekey/verify", nil)
				if err != nil {
					return explain(err, c)
				}
				return printRekeyStatus(w, &out, st, true)
			case f.cancel:
				nonce, err := rekeyNonce(ctx, c, f.nonce, false)
				if errors.Is(err, errNoRekey) {
					return success(w, "Rekey canceled (if it was started).")
				}
				if err != nil {
					return err
				}
				if _, err := c.Do(ctx, &api.Request{Method: http.MethodDelete, Path: "sys/rekey/init", NoToken: true,
					Query: url.Values{"nonce": {nonce}}}, nil); err != nil {
					return explain(err, c)
				}
				return success(w, "Rekey canceled; the current unseal keys stay valid.")
			}
			key, err := shareArg(cmd, args, "unseal key")
			if err != nil {
				return err
			}
			nonce, err := rekeyNonce(ctx, c, f.nonce, f.verify)
			if err != nil {
				return err
			}
			st, err := rekeyCall(ctx, c, http.MethodPut, map[bool]string{false: "sys/rekey/update", true: "sys/rekey/verify"}[f.verify],
				map[string]any{"key": key, "nonce": nonce})
			if err != nil {
				return explain(err, c)
			}
			if f.verify && st.Complete {
				if ok, err := out.structured(w, st); ok {
					return err
				}
				return success(w, "Rekey verified: the new unseal keys are in force, the old ones no longer unseal.")
			}
			if st.Complete {
				return printRekeyKeys(w, &out, st)
			}
			return printRekeyStatus(w, &out, st, f.verify)
		},
	}
	conn.add(cmd)
	out.add(cmd, false)
	fl := cmd.Flags()
	fl.BoolVar(&f.init, "init", false, "start a rekey")
	fl.IntVar(&f.shares, "key-shares", 5, "number of new unseal key shares, with -init")
	fl.IntVar(&f.threshold, "key-threshold", 3, "number of new shares needed to unseal, with -init")
	fl.BoolVar(&f.verify, "verify", false, "with -init: require the new shares to be verified; otherwise: act on the verification")
	fl.BoolVar(&f.status, "status", false, "show the rekey's progress")
	fl.BoolVar(&f.cancel, "cancel", false, "cancel the rekey (with -verify: restart the verification)")
	fl.StringVar(&f.nonce, "nonce", "", "nonce of the rekey or verification (default: the one in progress)")
	return cmd
}

var errNoRekey = errors.New("no rekey is in progress")

func rekeyPath(verify bool) string {
	if verify {
		return "sys/rekey/verify"
	}
	return "sys/rekey/init"
}

func rekeyCall(ctx context.Context, c *api.Client, method, path string, body map[string]any) (*rekeyState, error) {
	var st rekeyState
	r := &api.Request{Method: method, Path: path, NoToken: true}
	if body != nil {
		r.Body = body
	}
	if _, err := c.Do(ctx, r, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// rekeyNonce returns nonce, or the nonce of the rekey (or verification) in
// progress.
func rekeyNonce(ctx context.Context, c *api.Client, nonce string, verify bool) (string, error) {
	if nonce != "" {
		return nonce, nil
	}
	if verify {
		st, err := rekeyCall(ctx, c, http.MethodGet, "sys/rekey/verify", nil)
		if err != nil {
			return "", explain(err, c)
		}
		if !st.Started {
			return "", withHint(errors.New("no rekey verification is in progress"), "submit the current keys first with keyward operator rekey")
		}
		return st.Nonce, nil
	}
	st, err := rekeyCall(ctx, c, http.MethodGet, "sys/rekey/init", nil)
	if err != nil {
		return "", explain(err, c)
	}
	if !st.Started {
		return "", withHint(errNoRekey, "start one with keyward operator rekey -init")
	}
	if st.VerificationNonce != "" {
		return "", withHint(errors.New("the new keys were issued and wait for verification"), "submit a new key with keyward operator rekey -verify")
	}
	return st.Nonce, nil
}

func printRekeyStatus(w io.Writer, o *outFlags, st *rekeyState, verify bool) error {
	if ok, err := o.structured(w, st); ok {
		return err
	}
	required := st.Required
	if verify {
		required = st.T
	}
	rows := []row{
		{"Nonce", st.Nonce},
		{"Started", st.Started},
		{"Rekey Progress", strconv.Itoa(st.Progress) + "/" + strconv.Itoa(required)},
		{"New Shares", st.N},
		{"New Threshold", st.T},
	}
	if verify {
		rows[2].key = "Verification Progress"
	} else {
		rows = append(rows, row{"Verification Required", st.VerificationRequired})
		if st.VerificationNonce != "" {
			rows = append(rows, row{"Verification Nonce", st.VerificationNonce})
		}
	}
	return writeTable(w, rows)
}

func printRekeyKeys(w io.Writer, o *outFlags, st *rekeyState) error {
	if ok, err := o.structured(w, st); ok {
		return err
	}
	for i, k := range st.KeysBase64 {
		fmt.Fprintf(w, "Key %d: %s\n", i+1, k)
	}
	fmt.Fprintf(w, "\nOperation nonce: %s\n\n", st.Nonce)
	if st.VerificationRequired {
		fmt.Fprintf(w, `The new keys are not in force yet. A threshold of their holders must now
verify them, each with:

  keyward operator rekey -verify

Verification nonce: %s
Until then, and if the rekey is cancelled, the current keys keep working.
`, st.VerificationNonce)
		return nil
	}
	fmt.Fprintln(w, `Keyward unseal keys rekeyed. Distribute the new keys printed above to
different people and store them safely: they are shown only this once. The
old keys no longer unseal.`)
	return nil
}
