package node_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Derived and convergent keys through the official Vault client: a
// derived key needs a context and decrypts only under the same one; a
// convergent key gives the same ciphertext for the same plaintext,
// context and associated data and another for any change; Vault's
// creation rules; batches with a per-item context.
func TestTransitDerivedVaultClient(t *testing.T) {
	l, write, status := transitClient(t)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	pt, ctxA, ctxB := b64("derived-canary-51ab"), b64("tenant-a"), b64("tenant-b")
	refused := func(path string, data map[string]any) {
		t.Helper()
		if _, err := l.Write(path, data); status(err) != http.StatusBadRequest {
			t.Fatalf("%s %v: %v, want 400", path, data, err)
		}
	}

	write("transit/keys/d", map[string]any{"derived": true})
	info, _ := l.Read("transit/keys/d")
	if info.Data["derived"] != true || info.Data["kdf"] != "hkdf_sha256" || info.Data["convergent_encryption"] != false {
		t.Fatalf("derived key read: %v", info.Data)
	}
	refused("transit/encrypt/d", map[string]any{"plaintext": pt})
	refused("transit/encrypt/d", map[string]any{"plaintext": pt, "context": "not base64!"})
	ct := write("transit/encrypt/d", map[string]any{"plaintext": pt, "context": ctxA}).Data["ciphertext"].(string)
	if got := write("transit/decrypt/d", map[string]any{"ciphertext": ct, "context": ctxA}).Data["plaintext"]; got != pt {
		t.Fatalf("derived round trip: %v", got)
	}
	refused("transit/decrypt/d", map[string]any{"ciphertext": ct, "context": ctxB})
	refused("transit/decrypt/d", map[string]any{"ciphertext": ct})
	if again := write("transit/encrypt/d", map[string]any{"plaintext": pt, "context": ctxA}).Data["ciphertext"]; again == ct {
		t.Fatal("a derived (not convergent) key repeated a ciphertext")
	}
	write("transit/keys/d/rotate", nil)
	rw := write("transit/rewrap/d", map[string]any{"ciphertext": ct, "context": ctxA}).Data["ciphertext"].(string)
	if !strings.HasPrefix(rw, "vault:v2:") || write("transit/decrypt/d", map[string]any{"ciphertext": rw, "context": ctxA}).Data["plaintext"] != pt {
		t.Fatalf("derived rewrap: %q", rw)
	}
	dk := write("transit/datakey/plaintext/d", map[string]any{"context": ctxB}).Data
	if got := write("transit/decrypt/d", map[string]any{"ciphertext": dk["ciphertext"], "context": ctxB}).Data["plaintext"]; got != dk["plaintext"] {
		t.Fatalf("derived datakey: %v", got)
	}
	refused("transit/datakey/plaintext/d", nil)

	// Convergent.
	write("transit/keys/c", map[string]any{"derived": true, "convergent_encryption": true, "type": "chacha20-poly1305"})
	enc := func(data map[string]any) string {
		t.Helper()
		return write("transit/encrypt/c", data).Data["ciphertext"].(string)
	}
	c1 := enc(map[string]any{"plaintext": pt, "context": ctxA})
	if c2 := enc(map[string]any{"plaintext": pt, "context": ctxA}); c2 != c1 {
		t.Fatalf("convergent: same input, different ciphertexts %q %q", c1, c2)
	}
	seen := map[string]string{c1: "base"}
	for what, data := range map[string]map[string]any{
		"other context":         {"plaintext": pt, "context": ctxB},
		"other plaintext":       {"plaintext": b64("derived-canary-51ac"), "context": ctxA},
		"with associated data":  {"plaintext": pt, "context": ctxA, "associated_data": b64("x")},
		"other associated data": {"plaintext": pt, "context": ctxA, "associated_data": b64("y")},
	} {
		c := enc(data)
		if prev, dup := seen[c]; dup {
			t.Fatalf("convergent: %s gives the ciphertext of %s", what, prev)
		}
		seen[c] = what
	}
	if got := write("transit/decrypt/c", map[string]any{"ciphertext": c1, "context": ctxA}).Data["plaintext"]; got != pt {
		t.Fatalf("convergent decrypt: %v", got)
	}
	res := write("transit/encrypt/c", map[string]any{"partial_failure_response_code": 200, "batch_input": []any{
		map[string]any{"plaintext": pt, "context": ctxA, "reference": "a"},
		map[string]any{"plaintext": pt, "reference": "no-context"},
		map[string]any{"plaintext": pt, "context": ctxA, "nonce": "AAAAAAAAAAAAAAAA", "reference": "nonce"},
	}}).Data["batch_results"].([]any)
	if res[0].(map[string]any)["ciphertext"] != c1 || res[1].(map[string]any)["error"] == nil || res[2].(map[string]any)["error"] == nil {
		t.Fatalf("convergent batch: %v", res)
	}
	// A convergent key's rotation gives new ciphertexts; the old decrypt.
	write("transit/keys/c/rotate", nil)
	if c3 := enc(map[string]any{"plaintext": pt, "context": ctxA}); c3 == c1 || !strings.HasPrefix(c3, "vault:v2:") {
		t.Fatalf("convergent after rotate: %q", c3)
	}

	// Vault's creation rules; encrypt with a context creates a derived key.
	refused("transit/keys/bad1", map[string]any{"convergent_encryption": true})
	refused("transit/keys/bad2", map[string]any{"derived": true, "type": "rsa-2048"})
	refused("transit/keys/bad3", map[string]any{"derived": true, "type": "hmac"})
	write("transit/encrypt/upsert", map[string]any{"plaintext": pt, "context": ctxA})
	if info, _ := l.Read("transit/keys/upsert"); info.Data["derived"] != true {
		t.Fatalf("encrypt with a context created %v", info.Data)
	}
	// A context is ignored by a key that is not derived, as in Vault.
	write("transit/keys/plain", nil)
	pc := write("transit/encrypt/plain", map[string]any{"plaintext": pt, "context": ctxA}).Data["ciphertext"]
	if got := write("transit/decrypt/plain", map[string]any{"ciphertext": pc}).Data["plaintext"]; got != pt {
		t.Fatalf("context on a plain key: %v", got)
	}
}

// min_decryption_version, min_encryption_version and trim through the
// official Vault client: versions below min_decryption_version never
// decrypt, rewrap or verify; encryption below min_encryption_version is
// refused; trim refuses to go above either minimum or down, and a trimmed
// version is gone for good.
func TestTransitMinVersionsAndTrimVaultClient(t *testing.T) {
	l, write, status := transitClient(t)
	pt := base64.StdEncoding.EncodeToString([]byte("trim-canary"))
	refused := func(path string, data map[string]any) {
		t.Helper()
		if _, err := l.Write(path, data); status(err) != http.StatusBadRequest {
			t.Fatalf("%s %v: %v, want 400", path, data, err)
		}
	}
	write("transit/keys/t", nil)
	write("transit/keys/s", map[string]any{"type": "ed25519"})
	cts, macs, sigs := map[int]string{}, map[int]string{}, map[int]string{}
	for v := 1; v <= 4; v++ {
		if v > 1 {
			write("transit/keys/t/rotate", nil)
			write("transit/keys/s/rotate", nil)
		}
		cts[v] = write("transit/encrypt/t", map[string]any{"plaintext": pt}).Data["ciphertext"].(string)
		macs[v] = write("transit/hmac/t", map[string]any{"input": pt}).Data["hmac"].(string)
		sigs[v] = write("transit/sign/s", map[string]any{"input": pt}).Data["signature"].(string)
	}
	write("transit/keys/t/config", map[string]any{"min_decryption_version": 3})
	write("transit/keys/s/config", map[string]any{"min_decryption_version": 3})
	for v := 1; v <= 4; v++ {
		ok := v >= 3
		for path, data := range map[string]map[string]any{
			"transit/decrypt/t": {"ciphertext": cts[v]},
			"transit/rewrap/t":  {"ciphertext": cts[v]},
			"transit/verify/t":  {"input": pt, "hmac": macs[v]},
			"transit/verify/s":  {"input": pt, "signature": sigs[v]},
		} {
			_, err := l.Write(path, data)
			if ok && err != nil {
				t.Fatalf("v%d %s: %v", v, path, err)
			}
			if !ok && status(err) != http.StatusBadRequest {
				t.Fatalf("v%d %s below min_decryption_version: %v, want 400", v, path, err)
			}
		}
	}
	refused("transit/encrypt/t", map[string]any{"plaintext": pt, "key_version": 2})
	write("transit/keys/t/config", map[string]any{"min_encryption_version": 4})
	refused("transit/encrypt/t", map[string]any{"plaintext": pt, "key_version": 3})
	refused("transit/hmac/t", map[string]any{"input": pt, "key_version": 3})
	if ct := write("transit/encrypt/t", map[string]any{"plaintext": pt}).Data["ciphertext"].(string); !strings.HasPrefix(ct, "vault:v4:") {
		t.Fatalf("encrypt with min_encryption_version 4: %q", ct)
	}

	// Trim.
	refused("transit/keys/t/trim", map[string]any{"min_available_version": 4}) // above min_decryption_version 3
	refused("transit/keys/t/trim", map[string]any{"min_available_version": 0})
	refused("transit/keys/t/trim", nil)
	refused("transit/keys/nope/trim", map[string]any{"min_available_version": 1})
	info := write("transit/keys/t/trim", map[string]any{"min_available_version": 3})
	if fmt.Sprint(info.Data["min_available_version"]) != "3" {
		t.Fatalf("trim: %v", info.Data)
	}
	refused("transit/keys/t/trim", map[string]any{"min_available_version": 2}) // down
	refused("transit/keys/t/config", map[string]any{"min_decryption_version": 2})
	refused("transit/keys/t/config", map[string]any{"min_encryption_version": 2})
	refused("transit/decrypt/t", map[string]any{"ciphertext": cts[2]})
	if got := write("transit/decrypt/t", map[string]any{"ciphertext": cts[3]}).Data["plaintext"]; got != pt {
		t.Fatalf("v3 after trim: %v", got)
	}
	read, err := l.Read("transit/keys/t")
	if err != nil || len(read.Data["keys"].(map[string]any)) != 2 || fmt.Sprint(read.Data["min_available_version"]) != "3" {
		t.Fatalf("read after trim: %v %v", read, err)
	}
	// Configuration keeps min_available <= min_decryption <= min_encryption
	// (when set), so trim can never pass min_encryption_version either.
	write("transit/keys/s/config", map[string]any{"min_encryption_version": 3})
	refused("transit/keys/s/config", map[string]any{"min_decryption_version": 4})
	refused("transit/keys/s/trim", map[string]any{"min_available_version": 4})
}

// auto_rotate_period through the official Vault client: set at create and
// by config, read back in seconds, under an hour refused, 0 disables.
// (The rotation itself runs on an injected clock in the engine's tests.)
func TestTransitAutoRotatePeriodVaultClient(t *testing.T) {
	l, write, status := transitClient(t)
	period := func(name string) string {
		t.Helper()
		s, err := l.Read("transit/keys/" + name)
		if err != nil || s == nil {
			t.Fatalf("read %s: %v", name, err)
		}
		return fmt.Sprint(s.Data["auto_rotate_period"])
	}
	write("transit/keys/r", map[string]any{"auto_rotate_period": "2h"})
	if got := period("r"); got != "7200" {
		t.Fatalf("auto_rotate_period after create: %s", got)
	}
	write("transit/keys/r/config", map[string]any{"auto_rotate_period": 86400})
	if got := period("r"); got != "86400" {
		t.Fatalf("auto_rotate_period after config: %s", got)
	}
	for _, bad := range []any{"59m", "-1h", "soon"} {
		if _, err := l.Write("transit/keys/r/config", map[string]any{"auto_rotate_period": bad}); status(err) != http.StatusBadRequest {
			t.Fatalf("auto_rotate_period %v: %v", bad, err)
		}
	}
	write("transit/keys/r/config", map[string]any{"auto_rotate_period": "0"})
	if got := period("r"); got != "0" {
		t.Fatalf("auto_rotate_period off: %s", got)
	}
}
