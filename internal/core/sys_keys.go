package core

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

// Key management endpoints that take a token, in OpenBao's names, answered
// in the data envelope by the sys backend (paths relative to sys/):
//
//	rotate, rotate/keyring                    keyring rotation (PUT)
//	rotate/config, rotate/keyring/config      automatic rotation (GET, PUT)
//	rotate/root/init|update|verify            rekey (OpenBao's rotate-keys)
//	generate-root-token/attempt|update        root token generation
//	decode-token                              decode an encoded root token
//
// The token-less Vault names (sys/rekey/*, sys/generate-root/*) are served by
// handleSealedPaths with bare bodies; both families call the same ceremony
// code, so they share one state and one set of checks.

// keyPaths serves the paths above; handled is false for any other path.
func (c *Core) keyPaths(ctx context.Context, req *logical.Request) (resp *logical.Response, handled bool, err error) {
	p := strings.TrimSuffix(req.Path, "/")
	var data map[string]any
	switch {
	case p == "rotate" || p == "rotate/keyring":
		return nil, true, c.rotateReq(ctx, req)
	case p == "rotate/config" || p == "rotate/keyring/config":
		data, err = c.rotationConfigReq(ctx, req)
	case strings.HasPrefix(p, "rotate/root/"):
		op := strings.TrimPrefix(p, "rotate/root/")
		if op != "init" && op != "update" && op != "verify" {
			return nil, false, nil
		}
		data, err = c.rekeyRequest(ctx, req, op, true)
	case p == "generate-root-token/attempt":
		data, err = c.generateRootTokenAttempt(ctx, req)
	case p == "generate-root-token/update":
		data, err = c.generateRootTokenUpdate(ctx, req)
	case p == "decode-token":
		data, err = decodeTokenReq(req)
	default:
		return nil, false, nil
	}
	if err != nil || data == nil {
		return nil, true, err
	}
	return &logical.Response{Data: data}, true, nil
}

// keyAliases maps alias routes to the path they act on (relative to sys/),
// so the ACL authorizes an alias as its canonical path too. Vault's names
// are canonical: existing Vault policies keep working unchanged.
var keyAliases = map[string]string{
	"rotate/keyring":        "rotate",
	"rotate/keyring/config": "rotate/config",
}

// keyCanonicalPath is CanonicalPath for the key management aliases.
func keyCanonicalPath(p string) string {
	return keyAliases[strings.TrimSuffix(p, "/")]
}

func (c *Core) rotateReq(ctx context.Context, req *logical.Request) error {
	if req.Operation != logical.UpdateOperation && req.Operation != logical.CreateOperation {
		return logical.ErrUnsupportedOperation
	}
	if err := logical.UnknownFields(req.Data); err != nil {
		return err
	}
	term, err := c.barrier.Rotate(ctx)
	if err != nil {
		return err
	}
	c.logger.Info("keyring rotated", "term", term, "accessor", tokenAccessor(req))
	return nil
}

// rekeyRequest serves one rekey endpoint, op being init, update or verify:
// sys/rekey/OP without a token (authenticated false) or sys/rotate/root/OP
// with one. It returns the response data, or nil for 204.
func (c *Core) rekeyRequest(ctx context.Context, req *logical.Request, op string, authenticated bool) (map[string]any, error) {
	write := req.Operation == logical.UpdateOperation || req.Operation == logical.CreateOperation
	switch {
	case op == "init" && req.Operation == logical.ReadOperation:
		st, err := c.RekeyStatus(ctx)
		if err != nil {
			return nil, err
		}
		return rekeyStatusData(st), nil
	case op == "init" && write:
		p, err := rekeyParams(req.Data)
		if err != nil {
			return nil, err
		}
		st, err := c.StartRekey(ctx, p)
		if err != nil {
			return nil, err
		}
		return rekeyStatusData(st), nil
	case op == "init" && req.Operation == logical.DeleteOperation:
		nonce, _, err := logical.Str(req.Data, "nonce")
		if err != nil {
			return nil, err
		}
		return nil, c.CancelRekey(nonce, authenticated)
	case op == "update" && write:
		share, nonce, err := shareAndNonce(req.Data)
		if err != nil {
			return nil, err
		}
		defer clear(share)
		st, res, err := c.SubmitRekeyShare(ctx, share, nonce)
		if err != nil {
			return nil, err
		}
		if res == nil {
			return rekeyStatusData(st), nil
		}
		return rekeyResultData(res), nil
	case op == "verify" && req.Operation == logical.ReadOperation:
		st, err := c.RekeyVerifyStatus(ctx)
		if err != nil {
			return nil, err
		}
		return rekeyVerifyData(st), nil
	case op == "verify" && write:
		share, nonce, err := shareAndNonce(req.Data)
		if err != nil {
			return nil, err
		}
		defer clear(share)
		st, complete, err := c.SubmitRekeyVerifyShare(ctx, share, nonce)
		if err != nil {
			return nil, err
		}
		if complete {
			return map[string]any{"nonce": st.Nonce, "complete": true}, nil
		}
		return rekeyVerifyData(st), nil
	case op == "verify" && req.Operation == logical.DeleteOperation:
		st, err := c.RestartRekeyVerify(ctx)
		if err != nil {
			return nil, err
		}
		return rekeyVerifyData(st), nil
	}
	return nil, logical.ErrUnsupportedOperation
}

// rekeyParams reads a rekey init body as the Vault and OpenBao clients send
// it. The Vault client spells backup "Backup" (its field has no JSON tag).
func rekeyParams(data map[string]any) (RekeyParams, error) {
	var p RekeyParams
	if err := logical.UnknownFields(data, "secret_shares", "secret_threshold", "stored_shares", "pgp_keys",
		"backup", "Backup", "require_verification"); err != nil {
		return p, err
	}
	if v, ok := data["pgp_keys"]; ok && !isEmptyList(v) {
		return p, logical.BadRequest("pgp_keys is not supported: hand each new share to its holder instead")
	}
	for _, k := range []string{"backup", "Backup"} {
		if b, _, err := logical.Bool(data, k); err != nil {
			return p, err
		} else if b {
			return p, logical.BadRequest("backup needs pgp_keys, which are not supported")
		}
	}
	if n, _, err := logical.Int(data, "stored_shares"); err != nil {
		return p, err
	} else if n != 0 && n != 1 {
		return p, logical.BadRequest("stored_shares must be 0 or 1 with Shamir shares")
	}
	var err error
	if p.Shares, _, err = logical.Int(data, "secret_shares"); err != nil {
		return p, err
	}
	if p.Threshold, _, err = logical.Int(data, "secret_threshold"); err != nil {
		return p, err
	}
	if p.RequireVerification, _, err = logical.Bool(data, "require_verification"); err != nil {
		return p, err
	}
	return p, nil
}

// isEmptyList reports whether v is absent-like: nil, "", or an empty list.
func isEmptyList(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	case []string:
		return len(t) == 0
	}
	return false
}

// shareAndNonce reads the key share and nonce of an update. The caller
// wipes the share.
func shareAndNonce(data map[string]any) ([]byte, string, error) {
	if err := logical.UnknownFields(data, "key", "nonce"); err != nil {
		return nil, "", err
	}
	keyStr, _, err := logical.Str(data, "key")
	if err != nil {
		return nil, "", err
	}
	if keyStr == "" {
		return nil, "", logical.BadRequest("missing required field 'key'")
	}
	nonce, _, err := logical.Str(data, "nonce")
	if err != nil {
		return nil, "", err
	}
	share, err := decodeShare(keyStr)
	if err != nil {
		return nil, "", err
	}
	return share, nonce, nil
}

func rekeyStatusData(st *RekeyStatus) map[string]any {
	m := map[string]any{
		"nonce": st.Nonce, "started": st.Started, "t": st.T, "n": st.N, "progress": st.Progress,
		"required": st.Required, "pgp_fingerprints": nil, "backup": false,
		"verification_required": st.VerificationRequired,
	}
	if st.VerificationNonce != "" {
		m["verification_nonce"] = st.VerificationNonce
	}
	return m
}

// rekeyResultData encodes the new shares (hex and base64) and wipes them.
func rekeyResultData(res *RekeyResult) map[string]any {
	keys := make([]string, len(res.Shares))
	b64 := make([]string, len(res.Shares))
	for i, s := range res.Shares { // the one place the new shares leave
		keys[i] = hex.EncodeToString(s.Reveal())
		b64[i] = base64.StdEncoding.EncodeToString(s.Reveal())
		s.Wipe()
	}
	m := map[string]any{
		"nonce": res.Nonce, "complete": true, "keys": keys, "keys_base64": b64,
		"pgp_fingerprints": nil, "backup": false, "verification_required": res.VerificationNonce != "",
	}
	if res.VerificationNonce != "" {
		m["verification_nonce"] = res.VerificationNonce
	}
	return m
}

func rekeyVerifyData(st *RekeyVerifyStatus) map[string]any {
	return map[string]any{"nonce": st.Nonce, "started": st.Started, "t": st.T, "n": st.N, "progress": st.Progress}
}

// generateRootData is a generation status in OpenBao's data envelope.
func generateRootData(st *GenerateRootStatus) map[string]any {
	return map[string]any{
		"started": st.Started, "nonce": st.Nonce, "progress": st.Progress, "required": st.Required,
		"complete": st.Complete, "encoded_token": st.EncodedToken, "encoded_root_token": st.EncodedRootToken,
		"pgp_fingerprint": st.PGPFingerprint, "otp": st.OTP, "otp_length": st.OTPLength,
	}
}

// generateRootTokenAttempt serves sys/generate-root-token/attempt: the
// token-holding twin of sys/generate-root/attempt, whose cancel needs no
// nonce because the ACL already vouched for the caller.
func (c *Core) generateRootTokenAttempt(ctx context.Context, req *logical.Request) (map[string]any, error) {
	st, err := c.generateRootAttemptOp(ctx, req, true)
	if err != nil || st == nil {
		return nil, err
	}
	return generateRootData(st), nil
}

func (c *Core) generateRootTokenUpdate(ctx context.Context, req *logical.Request) (map[string]any, error) {
	if req.Operation != logical.UpdateOperation && req.Operation != logical.CreateOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	share, nonce, err := shareAndNonce(req.Data)
	if err != nil {
		return nil, err
	}
	defer clear(share)
	st, root, err := c.submitGenerateRootShare(ctx, share, nonce, true)
	if err != nil {
		return nil, err
	}
	if root != "" {
		c.logger.Info("root token generated through sys/generate-root-token", "accessor", tokenAccessor(req))
	}
	return generateRootData(st), nil
}

// decodeTokenReq serves sys/decode-token, which the OpenBao CLI calls for
// generate-root -decode.
func decodeTokenReq(req *logical.Request) (map[string]any, error) {
	if req.Operation != logical.UpdateOperation && req.Operation != logical.CreateOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	if err := logical.UnknownFields(req.Data, "encoded_token", "otp"); err != nil {
		return nil, err
	}
	enc, _, err := logical.Str(req.Data, "encoded_token")
	if err != nil {
		return nil, err
	}
	otp, _, err := logical.Str(req.Data, "otp")
	if err != nil {
		return nil, err
	}
	if enc == "" || otp == "" {
		return nil, logical.BadRequest("encoded_token and otp are required")
	}
	tok, err := DecodeRootToken(enc, otp)
	if err != nil {
		return nil, logical.BadRequest("the encoded token does not decode with this otp")
	}
	return map[string]any{"token": tok}, nil
}
