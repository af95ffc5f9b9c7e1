package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"math/big"
	"testing"

	"golang.org/x/crypto/ocsp"

	"github.com/keyward/keyward/internal/logical"
)

// The responder answers good, revoked and unknown, refuses a malformed
// request with the OCSP error status (not an HTTP error), and answers
// unauthorized when ocsp_disable is set or the issuer is not ours.
func TestOCSPResponder(t *testing.T) {
	b, s := testMount(t)
	call(t, b, s, "roles/r", map[string]any{"allow_any_name": true, "key_type": "ec", "ttl": "1h"})
	good := leafOf(t, call(t, b, s, "issue/r", map[string]any{"common_name": "good.test"}))
	bad := leafOf(t, call(t, b, s, "issue/r", map[string]any{"common_name": "bad.test"}))
	call(t, b, s, "revoke", map[string]any{"serial_number": formatSerial(bad.SerialNumber)})
	caResp, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "ca", Storage: s})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caResp.Raw)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(der []byte) []byte {
		t.Helper()
		r, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "ocsp",
			Body: bytes.NewReader(der), Storage: s})
		if err != nil || r.ContentType != "application/ocsp-response" {
			t.Fatalf("ocsp: %v %v", r, err)
		}
		return r.Raw
	}
	status := func(c *x509.Certificate) int {
		t.Helper()
		req, err := ocsp.CreateRequest(c, ca, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ocsp.ParseResponseForCert(ask(req), c, ca)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Status
	}
	if got := status(good); got != ocsp.Good {
		t.Errorf("good cert: %d", got)
	}
	if got := status(bad); got != ocsp.Revoked {
		t.Errorf("revoked cert: %d", got)
	}
	unknown := *good
	unknown.SerialNumber = big.NewInt(424242)
	if got := status(&unknown); got != ocsp.Unknown {
		t.Errorf("unknown serial: %d", got)
	}
	// GET form, with the request base64 in the path.
	req, _ := ocsp.CreateRequest(good, ca, nil)
	r, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation,
		Path: "ocsp/" + base64.StdEncoding.EncodeToString(req), Storage: s})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := ocsp.ParseResponseForCert(r.Raw, good, ca); err != nil || resp.Status != ocsp.Good {
		t.Errorf("GET: %v %v", resp, err)
	}
	if _, err := ocsp.ParseResponse(ask([]byte("not der")), nil); err == nil || err.Error() != (ocsp.ResponseError{Status: ocsp.Malformed}).Error() {
		t.Errorf("malformed request: %v", err)
	}
	// A request naming another issuer.
	other, _ := newTestCA(t)
	oreq, _ := ocsp.CreateRequest(good, other, nil)
	if _, err := ocsp.ParseResponse(ask(oreq), nil); err == nil || err.Error() != (ocsp.ResponseError{Status: ocsp.Unauthorized}).Error() {
		t.Errorf("foreign issuer: %v", err)
	}
	call(t, b, s, "config/crl", map[string]any{"ocsp_disable": true})
	if _, err := ocsp.ParseResponse(ask(req), nil); err == nil || err.Error() != (ocsp.ResponseError{Status: ocsp.Unauthorized}).Error() {
		t.Errorf("ocsp_disable: %v", err)
	}
}

func newTestCA(t *testing.T) (*x509.Certificate, error) {
	t.Helper()
	b, s := testMount(t)
	r, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "ca", Storage: s})
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(r.Raw)
}
