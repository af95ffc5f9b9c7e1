package httpapi_test

// The official Vault Go client is the compatibility harness: whatever it
// decodes from our responses is what every Vault tool will see.

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/httpapi"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
)

func vaultClient(t *testing.T, fn func(*logical.Request) (*logical.Response, error)) (*vault.Client, *fakeCore) {
	t.Helper()
	f := &fakeCore{fn: fn}
	srv := httptest.NewServer(httpapi.New(f, httpapi.Config{}, nil))
	t.Cleanup(srv.Close)
	cfg := vault.DefaultConfig()
	cfg.Address = srv.URL
	cfg.MaxRetries = 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken("kw.client-token")
	return c, f
}

func TestVaultClientRead(t *testing.T) {
	c, f := vaultClient(t, func(req *logical.Request) (*logical.Response, error) {
		switch req.Path {
		case "secret/data/deleted":
			return &logical.Response{Status: 404, Data: map[string]any{
				"data": nil, "metadata": map[string]any{"version": 2, "deletion_time": "2026-01-01T00:00:00Z"}}}, nil
		case "secret/data/missing":
			return nil, nil
		case "database/creds/ro":
			return &logical.Response{Data: map[string]any{"username": "u"},
				Secret: &logical.Secret{LeaseID: "database/creds/ro/1", TTL: time.Hour, Renewable: true}}, nil
		}
		return &logical.Response{Data: map[string]any{"data": map[string]any{"pw": "x"}}}, nil
	})
	s, err := c.Logical().Read("secret/data/app")
	if err != nil || s == nil || s.Data["data"].(map[string]any)["pw"] != "x" {
		t.Fatalf("Read = %+v, %v", s, err)
	}
	if tok := f.requests()[0].ClientToken.Reveal(); tok != "kw.client-token" {
		t.Errorf("token = %q", tok)
	}
	s, err = c.Logical().Read("secret/data/deleted")
	if err != nil || s == nil || s.Data["metadata"] == nil {
		t.Errorf("Read of a deleted version = %+v, %v; want the secret from the 404", s, err)
	}
	s, err = c.Logical().Read("secret/data/missing")
	if err != nil || s != nil {
		t.Errorf("Read of a missing secret = %+v, %v; want nil, nil", s, err)
	}
	s, err = c.Logical().Read("database/creds/ro")
	if err != nil || s.LeaseID != "database/creds/ro/1" || s.LeaseDuration != 3600 || !s.Renewable {
		t.Errorf("leased Read = %+v, %v", s, err)
	}
}

func TestVaultClientWriteListPatch(t *testing.T) {
	c, f := vaultClient(t, func(req *logical.Request) (*logical.Response, error) {
		if req.Operation == logical.ListOperation {
			return &logical.Response{Data: map[string]any{"keys": []string{"a", "b/"}}}, nil
		}
		return nil, nil
	})
	if _, err := c.Logical().Write("secret/data/app", map[string]any{"data": map[string]any{"n": 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().JSONMergePatch(t.Context(), "secret/data/app", map[string]any{"data": map[string]any{"n": nil}}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Logical().List("secret/metadata/team")
	if err != nil || s == nil || len(s.Data["keys"].([]any)) != 2 {
		t.Fatalf("List = %+v, %v", s, err)
	}
	if _, err := c.Logical().Write("auth/token/revoke-self", nil); err != nil {
		t.Fatalf("Write with nil data: %v", err)
	}
	reqs := f.requests()
	want := []struct {
		op   logical.Operation
		path string
	}{
		{logical.UpdateOperation, "secret/data/app"},
		{logical.PatchOperation, "secret/data/app"},
		{logical.ListOperation, "secret/metadata/team/"},
		{logical.UpdateOperation, "auth/token/revoke-self"},
	}
	if len(reqs) != len(want) {
		t.Fatalf("core saw %d requests, want %d", len(reqs), len(want))
	}
	for i, w := range want {
		if reqs[i].Operation != w.op || reqs[i].Path != w.path {
			t.Errorf("request %d = %s %q, want %s %q", i, reqs[i].Operation, reqs[i].Path, w.op, w.path)
		}
	}
	if n := reqs[0].Data["data"].(map[string]any)["n"]; n != json.Number("1") {
		t.Errorf("written number = %#v, want json.Number", n)
	}
}

func TestVaultClientHealthAuthWrapErrors(t *testing.T) {
	created := time.Now().UTC().Truncate(time.Second)
	c, f := vaultClient(t, func(req *logical.Request) (*logical.Response, error) {
		switch req.Path {
		case "sys/health":
			return &logical.Response{Raw: []byte(`{"initialized":true,"sealed":false,"standby":false,"version":"0.1.0"}`)}, nil
		case "auth/token/create":
			return &logical.Response{Auth: &logical.Auth{ClientToken: sensitive.NewString("kw.child"), Accessor: "acc", Policies: []string{"default"},
				TTL: time.Hour, Renewable: true, TokenType: "service"}}, nil
		case "secret/data/wrapped":
			return &logical.Response{WrapInfo: &logical.WrapInfo{Token: "kw.wrap", TTL: time.Minute, CreationTime: created, CreationPath: req.Path}}, nil
		case "sys/sealed":
			return nil, logical.ErrSealed
		}
		return nil, logical.ErrPermissionDenied
	})
	h, err := c.Sys().Health()
	if err != nil || !h.Initialized || h.Sealed || h.Version != "0.1.0" {
		t.Errorf("Health = %+v, %v", h, err)
	}
	if d := f.requests()[0].Data; d["standbycode"] != "299" {
		t.Errorf("health query data = %v, want the *code parameters", d)
	}
	s, err := c.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil || s.Auth == nil || s.Auth.ClientToken != "kw.child" || s.Auth.LeaseDuration != 3600 {
		t.Errorf("token create = %+v, %v", s, err)
	}
	c.SetWrappingLookupFunc(func(string, string) string { return "" })
	s, err = c.Logical().Read("secret/data/wrapped")
	if err != nil || s.WrapInfo == nil || s.WrapInfo.Token != "kw.wrap" || s.WrapInfo.TTL != 60 ||
		!s.WrapInfo.CreationTime.Equal(created) || s.Data != nil {
		t.Errorf("wrapped read = %+v, %v", s, err)
	}
	_, err = c.Logical().Read("secret/data/forbidden")
	var re *vault.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || len(re.Errors) != 1 || re.Errors[0] != "permission denied" {
		t.Errorf("forbidden read error = %v", err)
	}
	_, err = c.Logical().Read("sys/sealed")
	if !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("sealed read error = %v", err)
	}
}
