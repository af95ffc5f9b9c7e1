package logical_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
)

// A request or response printed, logged or JSON-encoded whole never shows
// the caller's token or a login's new token.
func TestRequestAndAuthNeverShowTheirTokens(t *testing.T) {
	caller, issued := "kw.caller-"+rand.Text(), "kw.issued-"+rand.Text()
	req := &logical.Request{ID: "r1", Operation: logical.ReadOperation, Path: "secret/data/app",
		ClientToken: sensitive.NewString(caller)}
	resp := &logical.Response{Auth: &logical.Auth{ClientToken: sensitive.NewString(issued), Accessor: "acc"}}

	var out bytes.Buffer
	for _, v := range []any{req, *req, resp, *resp, resp.Auth} {
		fmt.Fprintf(&out, "%v %+v %#v %s %q %x\n", v, v, v, v, v, v)
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(j)
	}
	slog.New(slog.NewTextHandler(&out, nil)).Info("req", "req", req, "resp", resp)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("req", "req", req, "resp", resp)
	for _, tok := range []string{caller, issued} {
		if strings.Contains(out.String(), tok) {
			t.Fatalf("a token leaked:\n%s", out.String())
		}
	}
	if req.ClientToken.Reveal() != caller || resp.Auth.ClientToken.Reveal() != issued {
		t.Error("Reveal lost a token")
	}
}
