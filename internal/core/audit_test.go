package core_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage/inmem"
)

// switchBroker is an audit broker whose devices can be made to fail.
type switchBroker struct {
	failRequest, failResponse atomic.Bool
	responses                 atomic.Int64
}

var errDeviceDown = errors.New("audit device down")

func (b *switchBroker) LogRequest(context.Context, *logical.Request, error) error {
	if b.failRequest.Load() {
		return errDeviceDown
	}
	return nil
}

func (b *switchBroker) LogResponse(context.Context, *logical.Request, *logical.Response, error) error {
	if b.failResponse.Load() {
		return errDeviceDown
	}
	b.responses.Add(1)
	return nil
}

func (b *switchBroker) HandleRequest(context.Context, *logical.Request) (*logical.Response, error) {
	return nil, logical.ErrUnsupportedPath
}
func (b *switchBroker) Close() error { return nil }

// Audit fails closed in the core itself: when the request cannot be
// recorded nothing runs, and when the response cannot be, nothing from it
// is returned.
func TestAuditFailsClosed(t *testing.T) {
	b := &switchBroker{}
	c, root := newCoreWith(t, core.Config{Storage: inmem.New(),
		Services: []core.Service{{Name: "audit", Paths: []string{"audit"},
			New: func(context.Context, core.ServiceEnv) (core.ServiceBackend, error) { return b, nil }}}})
	write := func(v string) error {
		_, err := call(t, c, root, logical.UpdateOperation, "secret/data/app", map[string]any{"data": map[string]any{"v": v}})
		return err
	}
	if err := write("one"); err != nil {
		t.Fatal(err)
	}
	is500 := func(err error) bool { s, _, _ := logical.StatusOf(err); return s == http.StatusInternalServerError }

	b.failRequest.Store(true)
	if err := write("two"); !is500(err) {
		t.Fatalf("write with the request unrecordable: %v, want a 500", err)
	}
	b.failRequest.Store(false)
	resp := mustCall(t, c, root, logical.ReadOperation, "secret/data/app", nil)
	if v := resp.Data["data"].(map[string]any)["v"]; v != "one" {
		t.Fatalf("after an unaudited write the value is %v, want one: the write must not have run", v)
	}

	b.failResponse.Store(true)
	resp, err := call(t, c, root, logical.ReadOperation, "secret/data/app", nil)
	if !is500(err) || resp != nil {
		t.Fatalf("read with the response unrecordable = %v, %v; want a 500 and no response", resp, err)
	}
	if err != nil && strings.Contains(err.Error(), "one") {
		t.Fatalf("the error carries the value: %v", err)
	}
	// Logins are withheld the same way: no token leaves unaudited.
	resp, err = call(t, c, root, logical.UpdateOperation, "auth/token/create", map[string]any{"policies": []any{"default"}})
	if !is500(err) || resp != nil {
		t.Fatalf("token create with the response unrecordable = %v, %v; want a 500 and no token", resp, err)
	}
}
