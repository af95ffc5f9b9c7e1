package e2e_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"

	vault "github.com/hashicorp/vault/api"
)

// Auto-unseal end to end: a second Keyward server (a persisted dev server)
// provides transit; the sealed server is a real process with a config file.

// proc is a server process whose output may be read while it runs.
type proc struct {
	cmd     *exec.Cmd
	addr    string
	out     *clocktest.Buffer
	started time.Time
}

func (s *proc) kill() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
		s.cmd.Wait()
	}
}

func (s *proc) output() string { return s.out.String() }

// startDevAt is startDev on a fixed address, so a restarted transit
// provider comes back where the sealed server looks for it.
func startDevAt(t *testing.T, dir, addr string) *proc {
	t.Helper()
	cmd := keyward("server", "-dev-persist", dir, "-dev-listen-address", addr, "-dev-root-token-id", rootToken)
	out := &clocktest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &proc{cmd: cmd, addr: addr, out: out}
	t.Cleanup(func() { s.kill() })
	waitUp(t, s, "/v1/sys/health", 200)
	return s
}

// startConfigured starts `keyward server -config cfg` with extra
// environment and waits until it answers seal-status.
func startConfigured(t *testing.T, cfg, addr string, env ...string) *proc {
	t.Helper()
	cmd := keyward("server", "-config", cfg)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "KEYWARD_TOKEN=") || strings.HasPrefix(kv, "VAULT_TOKEN=") || strings.HasPrefix(kv, "SOFTHSM2_CONF=")
	}), "KEYWARD_E2E_MAIN=1")
	cmd.Env = append(cmd.Env, env...)
	out := &clocktest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &proc{cmd: cmd, addr: addr, out: out, started: time.Now()}
	t.Cleanup(func() { s.kill() })
	waitUp(t, s, "/v1/sys/seal-status", 200)
	return s
}

func waitUp(t *testing.T, s *proc, path string, want int) {
	t.Helper()
	deadline := time.Now().Add(clocktest.Wait) // a bound for a loaded machine
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.addr + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if s.cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	t.Fatalf("server did not come up:\n%s", s.output())
}

// call sends a JSON request and decodes the JSON answer.
func sealCall(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func sealMustCall(t *testing.T, method, url, token string, body any) map[string]any {
	t.Helper()
	code, out := sealCall(t, method, url, token, body)
	if code/100 != 2 {
		t.Fatalf("%s %s: status %d: %v", method, url, code, out)
	}
	return out
}

func sealStatus(t *testing.T, addr string) map[string]any {
	t.Helper()
	return sealMustCall(t, "GET", "http://"+addr+"/v1/sys/seal-status", "", nil)
}

func waitUnsealed(t *testing.T, s *proc) map[string]any {
	t.Helper()
	var st map[string]any
	clocktest.Eventually(t, "the server to unseal itself", func() bool {
		st = sealStatus(t, s.addr)
		return st["sealed"] == false
	})
	t.Logf("%s seal: unsealed %v after the process started", st["type"], time.Since(s.started).Round(time.Millisecond))
	return st
}

// transitProvider starts the transit server with a key "seal-key" and
// returns it with its data directory.
func transitProvider(t *testing.T) (*proc, string) {
	t.Helper()
	dir := t.TempDir()
	tr := startDevAt(t, dir, freeAddr(t))
	base := "http://" + tr.addr + "/v1/"
	sealMustCall(t, "POST", base+"sys/mounts/transit", rootToken, map[string]any{"type": "transit"})
	sealMustCall(t, "POST", base+"transit/keys/seal-key", rootToken, map[string]any{})
	return tr, dir
}

// writeServerConfig writes a bolt-backed config with the extra blocks.
func writeServerConfig(t *testing.T, addr, dir, extra string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.hcl")
	cfg := fmt.Sprintf("listener \"tcp\" {\n  address = %q\n  tls_disable = true\n}\nstorage \"bolt\" {\n  path = %q\n}\n%s", addr, dir, extra)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func transitStanza(addr string, withToken, disabled bool) string {
	s := fmt.Sprintf("seal \"transit\" {\n  address = %q\n  key_name = \"seal-key\"\n  mount_path = \"transit/\"\n", "http://"+addr)
	if withToken {
		s += fmt.Sprintf("  token = %q\n", rootToken)
	}
	if disabled {
		s += "  disabled = true\n"
	}
	return s + "}\n"
}

func strList(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, e := range l {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

func putSecret(t *testing.T, addr, token, key, value string) {
	t.Helper()
	sealMustCall(t, "POST", "http://"+addr+"/v1/secret/data/"+key, token, map[string]any{"data": map[string]any{"v": value}})
}

func getSecret(t *testing.T, addr, token, key string) string {
	t.Helper()
	out := sealMustCall(t, "GET", "http://"+addr+"/v1/secret/data/"+key, token, nil)
	d, _ := out["data"].(map[string]any)
	dd, _ := d["data"].(map[string]any)
	return fmt.Sprint(dd["v"])
}

func mountKV(t *testing.T, addr, token string) {
	t.Helper()
	sealMustCall(t, "POST", "http://"+addr+"/v1/sys/mounts/secret", token, map[string]any{"type": "kv", "options": map[string]any{"version": "2"}})
}

// generateRoot runs a root token generation with keys and returns the new
// token.
func generateRoot(t *testing.T, addr string, keys []string) string {
	t.Helper()
	st := sealMustCall(t, "PUT", "http://"+addr+"/v1/sys/generate-root/attempt", "", map[string]any{})
	otp, nonce := fmt.Sprint(st["otp"]), fmt.Sprint(st["nonce"])
	var last map[string]any
	for _, k := range keys {
		last = sealMustCall(t, "PUT", "http://"+addr+"/v1/sys/generate-root/update", "", map[string]any{"key": k, "nonce": nonce})
	}
	if last["complete"] != true {
		t.Fatalf("generate-root did not complete: %v", last)
	}
	enc, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(fmt.Sprint(last["encoded_token"]), "="))
	if err != nil || len(enc) != len(otp) {
		t.Fatalf("encoded token: %v (len %d, otp %d)", err, len(enc), len(otp))
	}
	tok := make([]byte, len(enc))
	for i := range enc {
		tok[i] = enc[i] ^ otp[i]
	}
	return string(tok)
}

// rekey runs a rekey at prefix (sys/rekey or sys/rekey-recovery-key) with
// keys and returns the new shares.
func rekey(t *testing.T, addr, prefix string, keys []string, shares, threshold int) []string {
	t.Helper()
	base := "http://" + addr + "/v1/" + prefix
	st := sealMustCall(t, "PUT", base+"/init", "", map[string]any{"secret_shares": shares, "secret_threshold": threshold})
	nonce := fmt.Sprint(st["nonce"])
	var last map[string]any
	for _, k := range keys {
		last = sealMustCall(t, "PUT", base+"/update", "", map[string]any{"key": k, "nonce": nonce})
	}
	if last["complete"] != true {
		t.Fatalf("rekey did not complete: %v", last)
	}
	return strList(last["keys_base64"])
}

func TestTransitSealUnsealsItselfAfterKill9AndWaitsForTransit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	tr, trDir := transitProvider(t)
	addr, dir := freeAddr(t), t.TempDir()
	// The token comes from the environment, not the file.
	cfg := writeServerConfig(t, addr, dir, transitStanza(tr.addr, false, false))
	env := "KEYWARD_TOKEN=" + rootToken
	s := startConfigured(t, cfg, addr, env)

	st := sealStatus(t, addr)
	if st["type"] != "transit" || st["recovery_seal"] != true || st["initialized"] != false {
		t.Fatalf("seal-status before init: %v", st)
	}
	// The official Vault client initializes it: secret_shares are ignored,
	// the recovery key gets the default 5 shares, threshold 3.
	vc := nodetest.VaultClient(t, "http://"+addr, "")
	res, err := vc.Sys().Init(&vault.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	recovery := res.RecoveryKeysB64
	if len(recovery) != 5 || len(res.RecoveryKeys) != 5 || len(res.Keys) != 0 {
		t.Fatalf("init with an auto seal returned %d recovery keys (want the default 5) and %d unseal keys", len(recovery), len(res.Keys))
	}
	_, badRec := sealCall(t, "PUT", "http://"+addr+"/v1/sys/init", "", map[string]any{"recovery_shares": 3, "recovery_threshold": 2})
	if len(strList(badRec["errors"])) == 0 {
		t.Fatalf("second init: %v", badRec)
	}
	root := res.RootToken
	waitUnsealed(t, s)
	vst, err := vc.Sys().SealStatus()
	if err != nil || vst.Type != "transit" || !vst.RecoverySeal || vst.T != 3 || vst.N != 5 || vst.Sealed {
		t.Fatalf("seal-status after init (official client): %+v, %v", vst, err)
	}
	mountKV(t, addr, root)
	putSecret(t, addr, root, "app", "survives-kill-9")

	// Unseal keys are refused: the server unseals itself.
	if code, _ := sealCall(t, "PUT", "http://"+addr+"/v1/sys/unseal", "", map[string]any{"key": recovery[0]}); code != 200 {
		// unsealed already: seal-status comes back
		t.Fatalf("unseal on an unsealed server: %d", code)
	}

	// kill -9 and restart: unseals by itself.
	s.kill()
	s = startConfigured(t, cfg, addr, env)
	waitUnsealed(t, s)
	if got := getSecret(t, addr, root, "app"); got != "survives-kill-9" {
		t.Fatalf("secret after kill -9 = %q", got)
	}

	// Recovery keys drive generate-root.
	newRoot := generateRoot(t, addr, recovery[:3])
	self := sealMustCall(t, "GET", "http://"+addr+"/v1/auth/token/lookup-self", newRoot, nil)
	if pol := strList(self["data"].(map[string]any)["policies"]); !slices.Contains(pol, "root") {
		t.Fatalf("generated token policies %v", pol)
	}

	// Rekey of the recovery key (Vault's sys/rekey-recovery-key): the new
	// recovery keys drive generate-root, the old ones no longer do.
	newRecovery := rekey(t, addr, "sys/rekey-recovery-key", recovery[:3], 3, 2)
	if len(newRecovery) != 3 {
		t.Fatalf("rekey returned %d recovery keys", len(newRecovery))
	}
	if tok := generateRoot(t, addr, newRecovery[1:]); tok == "" {
		t.Fatal("no token from generate-root with the new recovery keys")
	}
	st2 := sealMustCall(t, "PUT", "http://"+addr+"/v1/sys/generate-root/attempt", "", map[string]any{})
	sealMustCall(t, "PUT", "http://"+addr+"/v1/sys/generate-root/update", "", map[string]any{"key": recovery[0], "nonce": st2["nonce"]})
	if code, _ := sealCall(t, "PUT", "http://"+addr+"/v1/sys/generate-root/update", "", map[string]any{"key": recovery[1], "nonce": st2["nonce"]}); code != 400 {
		t.Fatalf("generate-root with the old recovery keys: status %d, want 400", code)
	}
	recovery = newRecovery

	// The transit server goes away: the restarted server stays sealed,
	// says why, and unseals once transit is back.
	tr.kill()
	s.kill()
	s = startConfigured(t, cfg, addr, env)
	clocktest.Eventually(t, "seal-status to report the unreachable seal", func() bool {
		st = sealStatus(t, addr)
		return st["sealed"] == true && strings.Contains(fmt.Sprint(st["auto_unseal_error"]), "transit seal could not unwrap")
	})
	if strings.Contains(fmt.Sprint(st["auto_unseal_error"]), tr.addr) {
		t.Fatalf("the anonymous seal-status names the transit server: %v", st["auto_unseal_error"])
	}
	clocktest.Eventually(t, "the retry to be logged with its cause", func() bool {
		out := s.output()
		return strings.Contains(out, "auto-unseal failed") && strings.Contains(out, tr.addr)
	})
	if code, _ := sealCall(t, "GET", "http://"+addr+"/v1/secret/data/app", root, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("read while sealed: status %d, want 503", code)
	}
	tr = startDevAt(t, trDir, tr.addr)
	waitUnsealed(t, s)
	if got := getSecret(t, addr, root, "app"); got != "survives-kill-9" {
		t.Fatalf("secret after transit came back = %q", got)
	}
	if strings.Contains(s.output(), rootToken) {
		t.Fatal("the seal's token appears in the server's output")
	}
}

func TestSealMigrationShamirToTransitToShamir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	tr, _ := transitProvider(t)
	addr, dir := freeAddr(t), t.TempDir()
	shamirCfg := writeServerConfig(t, addr, dir, "")
	transitCfg := writeServerConfig(t, addr, dir, transitStanza(tr.addr, true, false))
	backCfg := writeServerConfig(t, addr, dir, transitStanza(tr.addr, true, true))
	base := "http://" + addr + "/v1/"

	s := startConfigured(t, shamirCfg, addr)
	out := sealMustCall(t, "PUT", base+"sys/init", "", map[string]any{"secret_shares": 3, "secret_threshold": 2})
	keys, root := strList(out["keys_base64"]), fmt.Sprint(out["root_token"])
	for _, k := range keys[:2] {
		sealMustCall(t, "PUT", base+"sys/unseal", "", map[string]any{"key": k})
	}
	mountKV(t, addr, root)
	putSecret(t, addr, root, "db", "migrated-secret")
	s.kill()

	// Shamir -> transit: the old unseal keys, with migrate=true.
	s = startConfigured(t, transitCfg, addr)
	st := sealStatus(t, addr)
	if st["sealed"] != true || st["migration"] != true {
		t.Fatalf("seal-status before migration: %v", st)
	}
	if code, _ := sealCall(t, "PUT", base+"sys/unseal", "", map[string]any{"key": keys[0]}); code != 400 {
		t.Fatalf("unseal without migrate during a migration: status %d, want 400", code)
	}
	for _, k := range keys[1:] {
		st = sealMustCall(t, "PUT", base+"sys/unseal", "", map[string]any{"key": k, "migrate": true})
	}
	if st["sealed"] != false || st["type"] != "transit" || st["recovery_seal"] != true {
		t.Fatalf("after migration to transit: %v", st)
	}
	if got := getSecret(t, addr, root, "db"); got != "migrated-secret" {
		t.Fatalf("secret after migration to transit = %q", got)
	}
	s.kill()
	s = startConfigured(t, transitCfg, addr)
	waitUnsealed(t, s)
	if got := getSecret(t, addr, root, "db"); got != "migrated-secret" {
		t.Fatalf("secret after restart on transit = %q", got)
	}
	// The old unseal keys are now recovery keys.
	if tok := generateRoot(t, addr, keys[:2]); tok == "" {
		t.Fatal("no token from generate-root with the recovery keys")
	}
	s.kill()

	// transit -> Shamir: disabled = true, the recovery keys with migrate.
	s = startConfigured(t, backCfg, addr)
	if st := sealStatus(t, addr); st["migration"] != true || st["type"] != "transit" {
		t.Fatalf("seal-status before migration back: %v", st)
	}
	for _, k := range []string{keys[2], keys[0]} {
		st = sealMustCall(t, "PUT", base+"sys/unseal", "", map[string]any{"key": k, "migrate": true})
	}
	if st["sealed"] != false || st["type"] != "shamir" || st["recovery_seal"] != false {
		t.Fatalf("after migration to shamir: %v", st)
	}
	s.kill()

	// Plain Shamir again, unsealed with the same keys; the secret is there.
	s = startConfigured(t, shamirCfg, addr)
	for _, k := range keys[:2] {
		st = sealMustCall(t, "PUT", base+"sys/unseal", "", map[string]any{"key": k})
	}
	if st["sealed"] != false {
		t.Fatalf("unseal with the original keys after migrating back: %v", st)
	}
	if got := getSecret(t, addr, root, "db"); got != "migrated-secret" {
		t.Fatalf("secret after migration back to shamir = %q", got)
	}
	if strings.Contains(s.output(), rootToken) {
		t.Fatal("the seal's token appears in the server's output")
	}
}
