package scan_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/scan"
	"github.com/keyward/keyward/internal/tokenfmt"
)

// Every Keyward token is found, batch tokens of any length included (they
// carry a sealed payload, so their length varies).
func TestKeywardTokensFound(t *testing.T) {
	s := newScanner(t, scan.Options{})
	toks := []string{tokenfmt.Generate(tokenfmt.Service)}
	for _, n := range []int{40, 200, 1500, 2800} {
		p := make([]byte, n)
		rand.Read(p)
		tok := tokenfmt.EncodeBatch(p)
		if tok == "" {
			t.Fatalf("no batch token for a %d-byte payload", n)
		}
		toks = append(toks, tok)
	}
	for _, tok := range toks {
		res, err := s.ScanReader(context.Background(), "deploy.sh", strings.NewReader("export KEYWARD_TOKEN="+tok+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range res.Findings {
			found = found || f.RuleID == "keyward-token" && f.Secret.Reveal() == tok
		}
		if !found {
			t.Errorf("token of %d characters (%s…) not found: %+v", len(tok), tok[:6], res.Findings)
		}
	}
}
