package barrier_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/storage/inmem"
)

// TestLogsAndErrorsCarryNoSecrets runs every logging path with debug enabled
// and checks neither logs nor errors hold a value or key, in any encoding.
func TestLogsAndErrorsCarryNoSecrets(t *testing.T) {
	ctx := t.Context()
	var logs bytes.Buffer
	backend := inmem.New()
	b := barrier.New(backend, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	key, err := b.Initialize(ctx, defaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	errs = append(errs, b.Unseal(ctx, bytes.Repeat([]byte{1}, 32)))
	if err := b.Unseal(ctx, key); err != nil {
		t.Fatal(err)
	}
	canary := make([]byte, 24)
	rand.Read(canary)
	mustPut(t, b, "secret/canary", canary)
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	secrets := append([][]byte{canary, key}, b.KeyMaterialForTest()...)
	secrets = cloneAll(secrets)

	raw := rawGet(t, backend, "secret/canary")
	raw[len(raw)-1] ^= 1
	rawPut(t, backend, "secret/canary", raw)
	_, err = b.Get(ctx, "secret/canary")
	errs = append(errs, err)
	b.Seal()
	rawPut(t, backend, barrier.KeyringPath, raw)
	errs = append(errs, b.Unseal(ctx, key))

	if !strings.Contains(logs.String(), `"component":"barrier"`) || !strings.Contains(logs.String(), "integrity check failed") {
		t.Errorf("expected component-tagged logs including the integrity warning, got:\n%s", logs.String())
	}
	text := logs.String() + errors.Join(errs...).Error()
	for i, s := range secrets {
		for _, form := range []string{string(s), hex.EncodeToString(s), base64.StdEncoding.EncodeToString(s), base64.RawURLEncoding.EncodeToString(s)} {
			if strings.Contains(text, form) {
				t.Errorf("secret %d appears in logs or errors", i)
			}
		}
	}
}

func cloneAll(in [][]byte) [][]byte {
	out := make([][]byte, len(in))
	for i, b := range in {
		out[i] = bytes.Clone(b)
	}
	return out
}
