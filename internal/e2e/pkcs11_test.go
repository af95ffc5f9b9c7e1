//go:build cgo

package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
)

// softHSM makes a SoftHSM2 token "keyward" (user PIN pin) in a private
// SOFTHSM2_CONF directory and returns the module path and the environment
// setting. A missing SoftHSM2 fails under KEYWARD_REQUIRE_SERVICES=1 and
// skips otherwise.
func softHSM(t *testing.T, pin string) (lib, env string) {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("KEYWARD_REQUIRE_SERVICES") == "1" {
			t.Fatalf("SoftHSM2 is required (KEYWARD_REQUIRE_SERVICES=1) but %s; install it with apt-get install softhsm2", what)
		}
		t.Skipf("SoftHSM2 not installed (%s)", what)
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		missing("softhsm2-util is not on PATH")
	}
	for _, p := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so"} {
		if _, err := os.Stat(p); err == nil {
			lib = p
			break
		}
	}
	if lib == "" {
		missing("libsofthsm2.so was not found")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env = "SOFTHSM2_CONF=" + conf
	cmd := exec.Command(util, "--init-token", "--free", "--label", "keyward", "--pin", pin, "--so-pin", "so-"+pin)
	cmd.Env = append(os.Environ(), env)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return lib, env
}

func TestPKCS11SealUnsealsItselfAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	const pin = "4821-canary-pin"
	lib, env := softHSM(t, pin)
	addr, dir := freeAddr(t), t.TempDir()
	stanza := fmt.Sprintf("seal \"pkcs11\" {\n  lib = %q\n  token_label = \"keyward\"\n  pin = %q\n  key_label = \"keyward-seal\"\n  mechanism = \"CKM_AES_GCM\"\n  generate_key = true\n}\n", lib, pin)
	cfg := writeServerConfig(t, addr, dir, stanza)
	s := startConfigured(t, cfg, addr, env)
	base := "http://" + addr + "/v1/"
	if st := sealStatus(t, addr); st["type"] != "pkcs11" || st["recovery_seal"] != true {
		t.Fatalf("seal-status before init: %v", st)
	}
	code, out := sealCall(t, "PUT", base+"sys/init", "", map[string]any{"recovery_shares": 3, "recovery_threshold": 2})
	if code != 200 {
		t.Fatalf("init: %d %v\n%s", code, out, s.output())
	}
	recovery, root := strList(out["recovery_keys_base64"]), fmt.Sprint(out["root_token"])
	if len(recovery) != 3 {
		t.Fatalf("init returned %d recovery keys, want 3", len(recovery))
	}
	if st := waitUnsealed(t, s); st["type"] != "pkcs11" || st["t"] != float64(2) || st["n"] != float64(3) {
		t.Fatalf("seal-status after init: %v", st)
	}
	mountKV(t, addr, root)
	putSecret(t, addr, root, "hsm", "kept-by-the-hsm")

	s.kill()
	s = startConfigured(t, cfg, addr, env)
	waitUnsealed(t, s)
	if got := getSecret(t, addr, root, "hsm"); got != "kept-by-the-hsm" {
		t.Fatalf("secret after kill -9 = %q", got)
	}
	if tok := generateRoot(t, addr, recovery[:2]); tok == "" {
		t.Fatal("no token from generate-root with the recovery keys")
	}
	if strings.Contains(s.output(), pin) {
		t.Fatal("the HSM PIN appears in the server's output")
	}

	// Without the token directory the HSM has no key: the server stays
	// sealed and says why.
	s.kill()
	s = startConfigured(t, cfg, addr, "SOFTHSM2_CONF="+filepath.Join(t.TempDir(), "missing.conf"))
	clocktest.Eventually(t, "seal-status to report the missing HSM token", func() bool {
		st := sealStatus(t, addr)
		if st["sealed"] != true {
			t.Fatalf("server without its HSM is unsealed: %v", st)
		}
		return strings.Contains(fmt.Sprint(st["auto_unseal_error"]), "pkcs11 seal could not unwrap") && strings.Contains(s.output(), "auto-unseal failed")
	})
}

// runCLI runs the keyward CLI against addr and returns its stdout.
func runCLI(t *testing.T, addr string, wantCode int, args ...string) string {
	t.Helper()
	cmd := keyward(args...)
	cmd.Env = append(cmd.Env, "KEYWARD_ADDR=http://"+addr, "KEYWARD_TOKEN=", "VAULT_TOKEN=", "HOME="+t.TempDir())
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != wantCode {
		t.Fatalf("keyward %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// Transit to pkcs11 with the CLI: init prints recovery keys, unseal
// -migrate moves the store, and the new seal alone unseals it afterwards.
func TestSealMigrationTransitToPKCS11WithTheCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	const pin = "9137-canary-pin"
	lib, env := softHSM(t, pin)
	tr, _ := transitProvider(t)
	addr, dir := freeAddr(t), t.TempDir()
	pkcs11 := fmt.Sprintf("seal \"pkcs11\" {\n  lib = %q\n  token_label = \"keyward\"\n  key_label = \"keyward-seal\"\n  generate_key = true\n}\n", lib)
	transitCfg := writeServerConfig(t, addr, dir, transitStanza(tr.addr, true, false))
	migrateCfg := writeServerConfig(t, addr, dir, transitStanza(tr.addr, true, true)+pkcs11)
	pkcs11Cfg := writeServerConfig(t, addr, dir, pkcs11)
	pinEnv := "KEYWARD_HSM_PIN=" + pin

	s := startConfigured(t, transitCfg, addr)
	var init struct {
		Recovery []string `json:"recovery_keys_b64"`
		Root     string   `json:"root_token"`
	}
	if err := json.Unmarshal([]byte(runCLI(t, addr, 0, "operator", "init", "-recovery-shares=3", "-recovery-threshold=2", "-format=json")), &init); err != nil {
		t.Fatal(err)
	}
	if len(init.Recovery) != 3 {
		t.Fatalf("operator init printed %d recovery keys", len(init.Recovery))
	}
	waitUnsealed(t, s)
	if out := runCLI(t, addr, 0, "status"); !strings.Contains(out, "Recovery Seal Type") || !strings.Contains(out, "transit") {
		t.Fatalf("status under transit:\n%s", out)
	}
	mountKV(t, addr, init.Root)
	putSecret(t, addr, init.Root, "moved", "from-transit-to-hsm")
	s.kill()

	s = startConfigured(t, migrateCfg, addr, env, pinEnv)
	if out := runCLI(t, addr, 2, "status"); !strings.Contains(out, "Seal Migration in Progress") {
		t.Fatalf("status during the migration:\n%s", out)
	}
	runCLI(t, addr, 0, "operator", "unseal", "-migrate", init.Recovery[2])
	runCLI(t, addr, 0, "operator", "unseal", "-migrate", init.Recovery[0])
	if st := sealStatus(t, addr); st["sealed"] != false || st["type"] != "pkcs11" {
		t.Fatalf("after migrating to pkcs11: %v", st)
	}
	s.kill()

	// The transit server is no longer needed.
	tr.kill()
	s = startConfigured(t, pkcs11Cfg, addr, env, pinEnv)
	waitUnsealed(t, s)
	if got := getSecret(t, addr, init.Root, "moved"); got != "from-transit-to-hsm" {
		t.Fatalf("secret after migrating to pkcs11 = %q", got)
	}
	if tok := generateRoot(t, addr, init.Recovery[1:]); tok == "" {
		t.Fatal("the recovery keys do not survive an auto to auto migration")
	}
	if strings.Contains(s.output(), pin) {
		t.Fatal("the HSM PIN appears in the server's output")
	}
}
