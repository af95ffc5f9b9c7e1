package pki

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// failingReads is a storage whose reads fail, for the path where an
// issuer cannot be resolved for a reason other than its absence.
type failingReads struct{ logical.Storage }

var errRead = errors.New("storage unavailable")

func (failingReads) Get(context.Context, string) ([]byte, error)    { return nil, errRead }
func (failingReads) List(context.Context, string) ([]string, error) { return nil, errRead }

// OtherNames gives the issuer-scoped path under each of the issuer's
// other names (id, issuer_name, default while it is the default), for the
// issuer in the path or in issuer_ref; nothing for other paths or unknown
// issuers; and an error, not an empty list, when storage fails.
func TestOtherNames(t *testing.T) {
	b := newBackend(time.Now)
	s := &logicaltest.InmemStorage{}
	myca, _ := call(t, b, s, "root/generate/internal", map[string]any{"common_name": "A", "key_type": "ec", "issuer_name": "myca"}).Data["issuer_id"].(string)
	other, _ := call(t, b, s, "root/generate/internal", map[string]any{"common_name": "B", "key_type": "ec"}).Data["issuer_id"].(string)
	if myca == "" || other == "" {
		t.Fatal("no issuer ids")
	}
	for _, tc := range []struct {
		path string
		data map[string]any
		want []string
	}{
		{"issuer/myca/issue/web", nil, []string{"issuer/" + myca + "/issue/web", "issuer/default/issue/web"}},
		{"issuer/" + myca + "/sign/web/", nil, []string{"issuer/myca/sign/web", "issuer/default/sign/web"}},
		{"issuer/default/sign-verbatim", nil, []string{"issuer/" + myca + "/sign-verbatim", "issuer/myca/sign-verbatim"}},
		{"issuer/myca", nil, []string{"issuer/" + myca, "issuer/default"}},
		{"issuer/myca/crl/delta/pem", nil, []string{"issuer/" + myca + "/crl/delta/pem", "issuer/default/crl/delta/pem"}},
		{"issuer/" + other + "/pem", nil, nil}, // no name, not the default
		{"issue/web", map[string]any{"issuer_ref": myca}, []string{"issuer/myca/issue/web", "issuer/default/issue/web"}},
		{"sign-verbatim/web", map[string]any{"issuer_ref": "default"}, []string{"issuer/" + myca + "/sign-verbatim", "issuer/myca/sign-verbatim"}},
		{"root/sign-intermediate", map[string]any{"issuer_ref": "myca"}, []string{"issuer/" + myca + "/sign-intermediate", "issuer/default/sign-intermediate"}},
		{"issue/web", nil, nil},
		{"issuer/nosuch/issue/web", nil, nil},
		{"issue/web", map[string]any{"issuer_ref": "nosuch"}, nil},
		{"issuers", nil, nil},
		{"roles/myca", nil, nil},
	} {
		got, err := b.OtherNames(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: tc.path, Data: tc.data, Storage: s})
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("OtherNames(%s, %v) = %q, %v; want %q", tc.path, tc.data, got, err, tc.want)
		}
	}
	if got, err := b.OtherNames(context.Background(), &logical.Request{Path: "issuer/myca/issue/web", Storage: failingReads{s}}); !errors.Is(err, errRead) {
		t.Errorf("OtherNames with failing storage = %q, %v; want the storage error", got, err)
	}
}

// OtherNames gives key/REF under the key's id, key_name and "default"
// (the default issuer's key), so a deny on any form covers the others.
func TestKeyOtherNames(t *testing.T) {
	b := newBackend(time.Now)
	s := &logicaltest.InmemStorage{}
	resp := call(t, b, s, "root/generate/internal", map[string]any{"common_name": "A", "key_type": "ec", "issuer_name": "myca", "key_name": "mykey"})
	kid, _ := resp.Data["key_id"].(string)
	call(t, b, s, "root/generate/internal", map[string]any{"common_name": "B", "key_type": "ec"})
	if kid == "" {
		t.Fatal("no key id")
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"key/mykey", []string{"key/" + kid, "key/default"}},
		{"key/" + kid, []string{"key/mykey", "key/default"}},
		{"key/default", []string{"key/" + kid, "key/mykey"}},
		{"key/nosuch", nil},
		{"keys", nil},
	} {
		got, err := b.OtherNames(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: tc.path, Storage: s})
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("OtherNames(%s) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
}
