package node_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// The operator runbook of a team moving from Vault, driven through the
// official Go client on a non-dev server (bbolt storage, 5 shares,
// threshold 3): init, unseal with a repeated share and a reset, rekey with
// verification, keyring rotation by both names, root generation with a
// client OTP and with a server OTP, seal, unseal with the new shares (the
// old ones refused), and a restart on the rekeyed store (issue 11).
// Before the fix the rekey, sys/rotate/keyring, the client OTP and the
// nonce-less reset all failed, and a repeated share failed the command.
func TestOperatorRunbook(t *testing.T) {
	dir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{Dir: dir, Uninitialized: true})
	c := nodetest.VaultClient(t, n.URL, "")
	sys := c.Sys()

	// Init and unseal.
	initResp, err := sys.Init(&vault.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	old := initResp.KeysB64
	if st, err := sys.Unseal(old[0]); err != nil || st.Progress != 1 {
		t.Fatalf("Unseal(1) = %+v, %v", st, err)
	}
	if st, err := sys.Unseal(initResp.Keys[0]); err != nil || st.Progress != 1 || !st.Sealed {
		t.Fatalf("the same share again = %+v, %v; want progress 1, no error", st, err)
	}
	// vault operator unseal -reset: no nonce.
	if st, err := sys.ResetUnsealProcess(); err != nil || st.Progress != 0 {
		t.Fatalf("ResetUnsealProcess = %+v, %v", st, err)
	}
	unsealAll(t, sys, old[1:4])
	c.SetToken(initResp.RootToken)
	if err := sys.Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "kept-across-the-runbook"}); err != nil {
		t.Fatal(err)
	}

	// Rekey to 4 shares, threshold 2, with verification.
	rs, err := sys.RekeyInit(&vault.RekeyInitRequest{SecretShares: 4, SecretThreshold: 2, RequireVerification: true})
	if err != nil || !rs.Started || rs.Nonce == "" || rs.N != 4 || rs.T != 2 || rs.Required != 3 || !rs.VerificationRequired {
		t.Fatalf("RekeyInit = %+v, %v", rs, err)
	}
	var ru *vault.RekeyUpdateResponse
	for _, k := range old[2:5] {
		// The CLI reads the nonce from the status before each share.
		status, err := sys.RekeyStatus()
		if err != nil {
			t.Fatal(err)
		}
		if ru, err = sys.RekeyUpdate(k, status.Nonce); err != nil {
			t.Fatalf("RekeyUpdate: %v", err)
		}
	}
	if !ru.Complete || !ru.VerificationRequired || ru.VerificationNonce == "" || len(ru.KeysB64) != 4 || len(ru.Keys) != 4 {
		t.Fatalf("last RekeyUpdate = complete %v, verification %v, %d keys", ru.Complete, ru.VerificationRequired, len(ru.KeysB64))
	}
	fresh := ru.KeysB64
	vs, err := sys.RekeyVerificationStatus()
	if err != nil || !vs.Started || vs.Nonce != ru.VerificationNonce || vs.T != 2 || vs.N != 4 {
		t.Fatalf("RekeyVerificationStatus = %+v, %v", vs, err)
	}
	var vu *vault.RekeyVerificationUpdateResponse
	for _, k := range fresh[1:3] {
		if vu, err = sys.RekeyVerificationUpdate(k, vs.Nonce); err != nil {
			t.Fatalf("RekeyVerificationUpdate: %v", err)
		}
	}
	if !vu.Complete {
		t.Fatalf("verification not complete: %+v", vu)
	}
	if rs, err = sys.RekeyStatus(); err != nil || rs.Started {
		t.Fatalf("RekeyStatus after the rekey = %+v, %v", rs, err)
	}
	if st, _ := sys.SealStatus(); st.N != 4 || st.T != 2 {
		t.Fatalf("SealStatus after the rekey = %+v", st)
	}

	// Keyring rotation by Vault's and OpenBao's names, and its config.
	before, err := sys.KeyStatus()
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Rotate(); err != nil {
		t.Fatalf("sys/rotate: %v", err)
	}
	if _, err := c.Logical().Write("sys/rotate/keyring", nil); err != nil {
		t.Fatalf("sys/rotate/keyring: %v", err)
	}
	if after, err := sys.KeyStatus(); err != nil || after.Term != before.Term+2 {
		t.Fatalf("KeyStatus after two rotations = %+v, %v; want term %d", after, err, before.Term+2)
	}
	if _, err := c.Logical().Write("sys/rotate/keyring/config", map[string]any{"interval": "720h"}); err != nil {
		t.Fatalf("sys/rotate/keyring/config: %v", err)
	}
	if cfg, err := c.Logical().Read("sys/rotate/config"); err != nil || cfg.Data["interval"] != "720h0m0s" || cfg.Data["enabled"] != true {
		t.Fatalf("sys/rotate/config = %+v, %v", cfg, err)
	}

	// Root generation with the client's OTP (vault operator generate-root
	// -generate-otp, then -init -otp=...), then with the server's.
	gs, err := sys.GenerateRootStatus()
	if err != nil || gs.Started || gs.OTPLength == 0 {
		t.Fatalf("GenerateRootStatus = %+v, %v", gs, err)
	}
	otp := cliGenerateOTP(t, gs.OTPLength)
	if gs, err = sys.GenerateRootInit(otp, ""); err != nil || !gs.Started || gs.OTP != "" {
		t.Fatalf("GenerateRootInit(client otp) = started %v, otp returned %v, %v", gs.Started, gs.OTP != "", err)
	}
	tok := finishGenerateRoot(t, sys, gs.Nonce, fresh[2:4], otp)
	assertRootToken(t, n.URL, tok)

	if gs, err = sys.GenerateRootInit("", ""); err != nil || len(gs.OTP) != gs.OTPLength {
		t.Fatalf("GenerateRootInit(server otp) = %+v, %v", gs, err)
	}
	tok = finishGenerateRoot(t, sys, gs.Nonce, fresh[:2], gs.OTP)
	assertRootToken(t, n.URL, tok)

	// Seal; the old shares no longer unseal, the new ones do.
	if err := sys.Seal(); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Unseal(old[0]); err != nil {
		t.Fatalf("first old share: %v", err)
	}
	_, err = sys.Unseal(old[1])
	var re *vault.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		t.Fatalf("old shares at the new threshold: err = %v, want 400", err)
	}
	if st, _ := sys.SealStatus(); !st.Sealed || st.Progress != 0 {
		t.Fatalf("after the old shares: %+v, want sealed with no progress", st)
	}
	unsealAll(t, sys, fresh[:2])
	assertSecret(t, c)

	// A restart on the rekeyed bolt file unseals with the new shares.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	var shares [][]byte
	for _, k := range fresh[2:] {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, b)
	}
	n2 := nodetest.StartWith(t, nodetest.Options{Dir: dir, Reopen: shares})
	assertSecret(t, nodetest.VaultClient(t, n2.URL, initResp.RootToken))

	// Nothing secret reached the server log.
	logs := n.Logs.Bytes()
	for _, s := range append(append([]string{initResp.RootToken, otp, tok}, old...), fresh...) {
		if bytes.Contains(logs, []byte(s)) {
			t.Fatal("the server log holds a share, an OTP or a root token")
		}
	}
}

func unsealAll(t *testing.T, sys *vault.Sys, keys []string) {
	t.Helper()
	var st *vault.SealStatusResponse
	var err error
	for _, k := range keys {
		if st, err = sys.Unseal(k); err != nil {
			t.Fatalf("Unseal: %v", err)
		}
	}
	if st.Sealed {
		t.Fatalf("still sealed after %d shares: %+v", len(keys), st)
	}
}

// finishGenerateRoot submits shares (the CLI looks the nonce up) and
// decodes the token as the CLI does.
func finishGenerateRoot(t *testing.T, sys *vault.Sys, nonce string, keys []string, otp string) string {
	t.Helper()
	var gs *vault.GenerateRootStatusResponse
	var err error
	for _, k := range keys {
		if gs, err = sys.GenerateRootUpdate(k, nonce); err != nil {
			t.Fatalf("GenerateRootUpdate: %v", err)
		}
	}
	if !gs.Complete || gs.EncodedToken == "" {
		t.Fatalf("generation not complete: %+v", gs)
	}
	tok, err := cliDecodeToken(gs.EncodedToken, otp)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// cliGenerateOTP draws an OTP as `vault operator generate-root
// -generate-otp` does: otp_length random base62 characters.
func cliGenerateOTP(t *testing.T, length int) string {
	t.Helper()
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	for range length {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteByte(alphabet[i.Int64()])
	}
	return b.String()
}

// cliDecodeToken is `vault operator generate-root -decode`: unpadded base64,
// then XOR with the OTP, whose length must match.
func cliDecodeToken(encoded, otp string) (string, error) {
	raw, err := base64.RawStdEncoding.DecodeString(encoded)
	if err != nil {
		return "", err
	}
	if len(raw) != len(otp) {
		return "", errors.New("length of byte slices is not equivalent")
	}
	out := make([]byte, len(raw))
	for i := range raw {
		out[i] = raw[i] ^ otp[i]
	}
	return string(out), nil
}

func assertRootToken(t *testing.T, addr, tok string) {
	t.Helper()
	self, err := nodetest.VaultClient(t, addr, tok).Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("lookup-self with the generated token: %v", err)
	}
	if p, _ := self.TokenPolicies(); len(p) != 1 || p[0] != "root" {
		t.Fatalf("generated token policies = %v, want [root]", p)
	}
}

func assertSecret(t *testing.T, c *vault.Client) {
	t.Helper()
	s, err := c.KVv2("secret").Get(t.Context(), "app")
	if err != nil || s.Data["password"] != "kept-across-the-runbook" {
		t.Fatalf("secret after the runbook = %+v, %v", s, err)
	}
}

// A token-less rekey is audited like root generation (request and
// response), and neither the old shares nor the new keys reach the audit
// log in clear.
func TestRekeyIsAudited(t *testing.T) {
	n := nodetest.StartWith(t, nodetest.Options{Shares: 3, Threshold: 2})
	c := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	logPath := filepath.Join(t.TempDir(), "audit.log") // in-memory test nodes allow the temp dir
	enableFileAudit(t, c, logPath)
	anon := nodetest.VaultClient(t, n.URL, "")
	rs, err := anon.Sys().RekeyInit(&vault.RekeyInitRequest{SecretShares: 2, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	var ru *vault.RekeyUpdateResponse
	for _, s := range n.Shares[:2] {
		if ru, err = anon.Sys().RekeyUpdate(hexOf(s), rs.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	if !ru.Complete || len(ru.Keys) != 2 {
		t.Fatalf("rekey = %+v", ru)
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"path":"sys/rekey/init"`, `"path":"sys/rekey/update"`} {
		if n := bytes.Count(log, []byte(want)); n < 2 {
			t.Errorf("audit log has %d entries with %s, want a request and a response", n, want)
		}
	}
	secrets := append(append([]string{}, ru.Keys...), ru.KeysB64...)
	secrets = append(secrets, hexOf(n.Shares[0]), hexOf(n.Shares[1]))
	for _, s := range secrets {
		if bytes.Contains(log, []byte(s)) || bytes.Contains(n.Logs.Bytes(), []byte(s)) {
			t.Fatal("a share or a new key is in the audit or server log in clear")
		}
	}
}

// The Vault client cancels a rekey with the nonce in a DELETE body, and
// OpenBao's rotate/root routes answer in the data envelope only, so the new
// keys appear once.
func TestRekeyCancelWithNonceAndEnvelope(t *testing.T) {
	n := nodetest.StartWith(t, nodetest.Options{Shares: 3, Threshold: 2})
	c := n.Client(t)
	st, err := c.Sys().RekeyInit(&vault.RekeyInitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().RekeyCancelWithNonce(st.Nonce); err != nil {
		t.Fatalf("RekeyCancelWithNonce: %v", err)
	}
	if st, err := c.Sys().RekeyStatus(); err != nil || st.Started {
		t.Fatalf("rekey after the cancel: %+v, %v", st, err)
	}
	status, body := do(t, "PUT", n.URL+"/v1/sys/rotate/root/init", n.RootToken.Reveal(), map[string]any{"secret_shares": 3, "secret_threshold": 2})
	if status != http.StatusOK {
		t.Fatalf("sys/rotate/root/init = %d %s", status, body)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil || out["data"] == nil || out["nonce"] != nil {
		t.Fatalf("sys/rotate/root/init answered %s; want its fields only under data", body)
	}
}
