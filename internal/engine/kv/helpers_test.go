package kv_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/engine/kv"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// harness is one mounted KV backend over in-memory storage.
type harness struct {
	t       testing.TB
	b       logical.Backend
	storage logical.Storage
	inmem   *logicaltest.InmemStorage
	clock   *clocktest.Clock
	mount   logical.MountConfig
}

func newHarness(t testing.TB, version string) *harness {
	t.Helper()
	inmem := &logicaltest.InmemStorage{}
	return newHarnessOn(t, version, inmem, inmem)
}

func newHarnessOn(t testing.TB, version string, s logical.Storage, inmem *logicaltest.InmemStorage) *harness {
	t.Helper()
	opts := map[string]string{}
	if version != "" {
		opts["version"] = version
	}
	b, err := kv.Factory(t.Context(), &logical.BackendConfig{MountPoint: "secret/", Options: opts, Storage: s})
	if err != nil {
		t.Fatalf("Factory(version=%q): %v", version, err)
	}
	clk := clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
	kv.SetClock(b, clk.Now)
	return &harness{t: t, b: b, storage: s, inmem: inmem, clock: clk}
}

// body decodes a JSON request body the way the HTTP layer does.
func body(t testing.TB, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("bad test body %q: %v", s, err)
	}
	return m
}

func (h *harness) do(op logical.Operation, path, jsonBody string) (*logical.Response, error) {
	h.t.Helper()
	return h.doData(op, path, body(h.t, jsonBody))
}

func (h *harness) doData(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	req := &logical.Request{
		Operation:   op,
		Path:        path,
		Data:        data,
		MountPoint:  "secret/",
		MountType:   "kv",
		MountConfig: h.mount,
		Storage:     h.storage,
	}
	return h.b.HandleRequest(context.Background(), req)
}

// must runs a request that has to succeed.
func (h *harness) must(op logical.Operation, path, jsonBody string) *logical.Response {
	h.t.Helper()
	resp, err := h.do(op, path, jsonBody)
	if err != nil {
		h.t.Fatalf("%s %s: %v", op, path, err)
	}
	return resp
}

// fails runs a request that has to fail with the given HTTP status.
func (h *harness) fails(op logical.Operation, path, jsonBody string, code int) string {
	h.t.Helper()
	resp, err := h.do(op, path, jsonBody)
	if err == nil {
		h.t.Fatalf("%s %s %s = %+v, want error %d", op, path, jsonBody, resp, code)
	}
	if got := statusOf(err); got != code {
		h.t.Fatalf("%s %s %s: error %q has status %d, want %d", op, path, jsonBody, err, got, code)
	}
	return err.Error()
}

// statusOf maps an error to the status the HTTP layer would send.
func statusOf(err error) int {
	var ce *logical.CodedError
	switch {
	case errors.As(err, &ce):
		return ce.Code
	case errors.Is(err, logical.ErrUnsupportedPath):
		return http.StatusNotFound
	case errors.Is(err, logical.ErrUnsupportedOperation):
		return http.StatusMethodNotAllowed
	}
	return http.StatusInternalServerError
}

// read reads data/name (with an optional version) and returns the response.
func (h *harness) read(name string, version int) *logical.Response {
	h.t.Helper()
	data := map[string]any{}
	if version > 0 {
		data["version"] = jsonNum(version)
	}
	resp, err := h.doData(logical.ReadOperation, "data/"+name, data)
	if err != nil {
		h.t.Fatalf("read data/%s version %d: %v", name, version, err)
	}
	return resp
}

func jsonNum(n int) json.Number {
	b, _ := json.Marshal(n)
	return json.Number(b)
}

// secretData returns resp.Data["data"] re-encoded as compact JSON.
func secretData(t testing.TB, resp *logical.Response) string {
	t.Helper()
	if resp == nil {
		t.Fatal("nil response")
	}
	return compact(t, resp.Data["data"])
}

func compact(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func versionMeta(t testing.TB, resp *logical.Response) map[string]any {
	t.Helper()
	if resp == nil {
		t.Fatal("nil response")
	}
	m, ok := resp.Data["metadata"].(map[string]any)
	if !ok {
		t.Fatalf("response has no metadata: %+v", resp.Data)
	}
	return m
}

// noBatch hides InmemStorage's Batch method, to test the ordered fallback.
type noBatch struct{ s *logicaltest.InmemStorage }

func (n noBatch) Get(ctx context.Context, k string) ([]byte, error) { return n.s.Get(ctx, k) }
func (n noBatch) Put(ctx context.Context, k string, v []byte) error { return n.s.Put(ctx, k, v) }
func (n noBatch) Delete(ctx context.Context, k string) error        { return n.s.Delete(ctx, k) }
func (n noBatch) List(ctx context.Context, p string) ([]string, error) {
	return n.s.List(ctx, p)
}

// yieldingStorage yields the processor after every read, so concurrent
// read-modify-write sequences interleave.
type yieldingStorage struct{ *logicaltest.InmemStorage }

func (y yieldingStorage) Get(ctx context.Context, k string) ([]byte, error) {
	v, err := y.InmemStorage.Get(ctx, k)
	runtime.Gosched()
	return v, err
}

// failingStorage is ordered (no Batch) storage whose writes to keys with
// failPrefix fail while fail is set.
type failingStorage struct {
	noBatch
	mu         sync.Mutex
	fail       bool
	failPrefix string
	onlyDelete bool
}

var errInjected = errors.New("injected storage failure")

func (f *failingStorage) setFail(prefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.failPrefix, f.onlyDelete = prefix != "", prefix, false
}

// setFailDeletes makes only deletions under prefix fail.
func (f *failingStorage) setFailDeletes(prefix string) {
	f.setFail(prefix)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onlyDelete = true
}

func (f *failingStorage) check(k string, isDelete bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail && strings.HasPrefix(k, f.failPrefix) && (isDelete || !f.onlyDelete) {
		return errInjected
	}
	return nil
}

func (f *failingStorage) Put(ctx context.Context, k string, v []byte) error {
	if err := f.check(k, false); err != nil {
		return err
	}
	return f.noBatch.Put(ctx, k, v)
}

func (f *failingStorage) Delete(ctx context.Context, k string) error {
	if err := f.check(k, true); err != nil {
		return err
	}
	return f.noBatch.Delete(ctx, k)
}
