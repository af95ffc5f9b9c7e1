package httpapi

import (
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

// Only a POST of the OCSP media type to a path ending in /ocsp hands its
// body to the engine; everything else is decoded as JSON.
func TestOCSPBody(t *testing.T) {
	for _, tc := range []struct {
		ct, path string
		op       logical.Operation
		want     bool
	}{
		{"application/ocsp-request", "pki/ocsp", logical.UpdateOperation, true},
		{"Application/OCSP-Request; charset=binary", "pki_int/ocsp", logical.CreateOperation, true},
		{"application/json", "pki/ocsp", logical.UpdateOperation, false},
		{"application/ocsp-request", "secret/data/x", logical.UpdateOperation, false},
		{"application/ocsp-request", "pki/ocsp", logical.ReadOperation, false},
		{"application/ocsp-request", "pki/ocsp/x", logical.UpdateOperation, false},
	} {
		r := httptest.NewRequest("POST", "/v1/"+tc.path, nil)
		r.Header.Set("Content-Type", tc.ct)
		if got := ocspBody(r, tc.path, tc.op); got != tc.want {
			t.Errorf("ocspBody(%q, %q, %s) = %v, want %v", tc.ct, tc.path, tc.op, got, tc.want)
		}
	}
}
