package kv_test

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/engine/kv"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

const (
	read   = logical.ReadOperation
	create = logical.CreateOperation
	update = logical.UpdateOperation
	patch  = logical.PatchOperation
	del    = logical.DeleteOperation
	list   = logical.ListOperation
)

func TestFactoryVersion(t *testing.T) {
	tests := []struct {
		version string
		wantErr bool
		v2      bool
	}{
		{version: "", v2: false},
		{version: "1", v2: false},
		{version: "2", v2: true},
		{version: "3", wantErr: true},
		{version: "v2", wantErr: true},
	}
	for _, tt := range tests {
		t.Run("version="+tt.version, func(t *testing.T) {
			b, err := kv.Factory(t.Context(), &logical.BackendConfig{Options: map[string]string{"version": tt.version}})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Factory(version=%q) succeeded, want error", tt.version)
				}
				return
			}
			if err != nil {
				t.Fatalf("Factory(version=%q): %v", tt.version, err)
			}
			s := &logicaltest.InmemStorage{}
			// Only v2 answers a read of config on an empty mount.
			resp, err := b.HandleRequest(t.Context(), &logical.Request{Operation: read, Path: "config", Storage: s, Data: map[string]any{}})
			if isV2 := err == nil && resp != nil; isV2 != tt.v2 {
				t.Errorf("read config on version %q = %+v, %v; want v2=%v", tt.version, resp, err, tt.v2)
			}
		})
	}
}

func TestV2WriteRead(t *testing.T) {
	h := newHarness(t, "2")
	resp := h.must(create, "data/app/db", `{"data":{"user":"admin","port":5432,"nested":{"a":[1,"x"]}}}`)
	want := map[string]any{
		"created_time":    "2026-01-02T03:04:05.000000006Z",
		"custom_metadata": nil,
		"deletion_time":   "",
		"destroyed":       false,
		"version":         1,
	}
	if !reflect.DeepEqual(resp.Data, want) {
		t.Errorf("write response = %#v, want %#v", resp.Data, want)
	}

	h.clock.Add(time.Second)
	h.must(update, "data/app/db", `{"data":{"user":"admin2"}}`)

	tests := []struct {
		name     string
		version  int
		wantData string
		wantVer  int
		created  string
	}{
		{name: "latest", version: 0, wantData: `{"user":"admin2"}`, wantVer: 2, created: "2026-01-02T03:04:06.000000006Z"},
		{name: "v1", version: 1, wantData: `{"nested":{"a":[1,"x"]},"port":5432,"user":"admin"}`, wantVer: 1, created: "2026-01-02T03:04:05.000000006Z"},
		{name: "v2", version: 2, wantData: `{"user":"admin2"}`, wantVer: 2, created: "2026-01-02T03:04:06.000000006Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.read("app/db", tt.version)
			if got := secretData(t, resp); got != tt.wantData {
				t.Errorf("data = %s, want %s", got, tt.wantData)
			}
			m := versionMeta(t, resp)
			if m["version"] != tt.wantVer || m["created_time"] != tt.created || m["deletion_time"] != "" || m["destroyed"] != false {
				t.Errorf("metadata = %#v", m)
			}
			if resp.Status != 0 {
				t.Errorf("status = %d, want default", resp.Status)
			}
		})
	}

	for _, v := range []int{3, 99} {
		if resp := h.read("app/db", v); resp != nil {
			t.Errorf("read version %d = %+v, want nil", v, resp)
		}
	}
	if resp := h.read("app/missing", 0); resp != nil {
		t.Errorf("read missing = %+v, want nil", resp)
	}
	h.fails(read, "data/app/db", `{"version":"x"}`, 400)
	h.fails(read, "data/app/db", `{"version":-1}`, 400)
}

func TestV2WriteEmptyObject(t *testing.T) {
	h := newHarness(t, "2")
	h.must(create, "data/empty", `{"data":{}}`)
	if got := secretData(t, h.read("empty", 0)); got != `{}` {
		t.Errorf("data = %s, want {}", got)
	}
}

func TestV2CheckAndSet(t *testing.T) {
	tests := []struct {
		name   string
		config string // written to config first
		meta   string // written to metadata/k first
		writes []string
		want   []int // status per write: 0 ok
	}{
		{name: "cas 0 creates", writes: []string{`{"data":{"a":"1"},"options":{"cas":0}}`}, want: []int{0}},
		{name: "cas 0 on existing", writes: []string{`{"data":{"a":"1"}}`, `{"data":{"a":"2"},"options":{"cas":0}}`}, want: []int{0, 400}},
		{name: "cas matches", writes: []string{`{"data":{"a":"1"}}`, `{"data":{"a":"2"},"options":{"cas":1}}`, `{"data":{"a":"3"},"options":{"cas":"2"}}`}, want: []int{0, 0, 0}},
		{name: "cas stale", writes: []string{`{"data":{"a":"1"}}`, `{"data":{"a":"2"}}`, `{"data":{"a":"3"},"options":{"cas":1}}`}, want: []int{0, 0, 400}},
		{name: "cas ahead", writes: []string{`{"data":{"a":"1"},"options":{"cas":5}}`}, want: []int{400}},
		{name: "mount requires cas", config: `{"cas_required":true}`, writes: []string{`{"data":{"a":"1"}}`, `{"data":{"a":"1"},"options":{"cas":0}}`, `{"data":{"a":"1"},"options":{}}`}, want: []int{400, 0, 400}},
		{name: "key requires cas", meta: `{"cas_required":"true"}`, writes: []string{`{"data":{"a":"1"}}`, `{"data":{"a":"1"},"options":{"cas":0}}`}, want: []int{400, 0}},
		{name: "negative cas", writes: []string{`{"data":{"a":"1"},"options":{"cas":-1}}`}, want: []int{400}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "2")
			if tt.config != "" {
				h.must(update, "config", tt.config)
			}
			if tt.meta != "" {
				h.must(create, "metadata/k", tt.meta)
			}
			for i, w := range tt.writes {
				_, err := h.do(update, "data/k", w)
				got := 0
				if err != nil {
					got = statusOf(err)
				}
				if got != tt.want[i] {
					t.Fatalf("write %d %s: status %d (err %v), want %d", i, w, got, err, tt.want[i])
				}
			}
		})
	}
}

func TestV2CheckAndSetRace(t *testing.T) {
	inmem := &logicaltest.InmemStorage{}
	// Yielding between a read and the write that depends on it gives
	// concurrent writers every chance to interleave.
	h := newHarnessOn(t, "2", yieldingStorage{inmem}, inmem)
	const writers, rounds = 100, 3
	for round := range rounds {
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []int
			start   = make(chan struct{})
		)
		for g := range writers {
			wg.Go(func() {
				<-start
				_, err := h.doData(update, "data/race", map[string]any{
					"data":    map[string]any{"writer": fmt.Sprint(g)},
					"options": map[string]any{"cas": jsonNum(round)},
				})
				switch {
				case err == nil:
					mu.Lock()
					winners = append(winners, g)
					mu.Unlock()
				case statusOf(err) != 400 || !strings.Contains(err.Error(), "check-and-set"):
					t.Errorf("writer %d: unexpected error %v", g, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: %d writers succeeded, want exactly 1", round, len(winners))
		}
		resp := h.read("race", 0)
		if got, want := secretData(t, resp), fmt.Sprintf(`{"writer":"%d"}`, winners[0]); got != want {
			t.Errorf("round %d: stored %s, want the winner's %s", round, got, want)
		}
		if v := versionMeta(t, resp)["version"]; v != round+1 {
			t.Errorf("round %d: version %v, want %d", round, v, round+1)
		}
	}
}

func TestV2MaxVersions(t *testing.T) {
	tests := []struct {
		name       string
		storage    string // "batch" or "ordered"
		config     string
		meta       string
		writes     int
		wantKept   []int
		wantOldest int
	}{
		{name: "default 10", storage: "batch", writes: 12, wantKept: []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, wantOldest: 3},
		{name: "under limit", storage: "batch", writes: 3, wantKept: []int{1, 2, 3}, wantOldest: 0},
		{name: "mount limit", storage: "batch", config: `{"max_versions":3}`, writes: 5, wantKept: []int{3, 4, 5}, wantOldest: 3},
		{name: "key limit wins", storage: "batch", config: `{"max_versions":3}`, meta: `{"max_versions":2}`, writes: 5, wantKept: []int{4, 5}, wantOldest: 4},
		{name: "ordered storage", storage: "ordered", config: `{"max_versions":2}`, writes: 4, wantKept: []int{3, 4}, wantOldest: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inmem := &logicaltest.InmemStorage{}
			var s logical.Storage = inmem
			if tt.storage == "ordered" {
				s = noBatch{inmem}
			}
			h := newHarnessOn(t, "2", s, inmem)
			if tt.config != "" {
				h.must(update, "config", tt.config)
			}
			if tt.meta != "" {
				h.must(create, "metadata/k", tt.meta)
			}
			for i := range tt.writes {
				h.must(update, "data/k", fmt.Sprintf(`{"data":{"n":%d}}`, i+1))
			}
			meta := h.must(read, "metadata/k", "")
			var kept []int
			for v := 1; v <= tt.writes; v++ {
				_, inMeta := meta.Data["versions"].(map[string]any)[fmt.Sprint(v)]
				resp := h.read("k", v)
				blob, _ := inmem.Get(t.Context(), kv.VersionKey("k", v))
				if inMeta != (resp != nil) || inMeta != (blob != nil) {
					t.Errorf("version %d: in metadata %v, readable %v, blob stored %v", v, inMeta, resp != nil, blob != nil)
				}
				if inMeta {
					kept = append(kept, v)
					if got, want := secretData(t, resp), fmt.Sprintf(`{"n":%d}`, v); got != want {
						t.Errorf("version %d data = %s, want %s", v, got, want)
					}
				}
			}
			if !reflect.DeepEqual(kept, tt.wantKept) {
				t.Errorf("kept versions %v, want %v", kept, tt.wantKept)
			}
			if meta.Data["oldest_version"] != tt.wantOldest || meta.Data["current_version"] != tt.writes {
				t.Errorf("oldest_version=%v current_version=%v, want %d and %d", meta.Data["oldest_version"], meta.Data["current_version"], tt.wantOldest, tt.writes)
			}
		})
	}
}

func TestV2DeleteUndeleteDestroy(t *testing.T) {
	h := newHarness(t, "2")
	for i := 1; i <= 3; i++ {
		h.must(update, "data/k", fmt.Sprintf(`{"data":{"n":%d}}`, i))
	}
	deletedAt := h.clock.Now().Format(time.RFC3339Nano)
	type state struct {
		readable  bool
		deletion  string
		destroyed bool
	}
	steps := []struct {
		name string
		op   logical.Operation
		path string
		body string
		want map[int]state
	}{
		{name: "delete latest", op: del, path: "data/k", want: map[int]state{1: {readable: true}, 2: {readable: true}, 3: {deletion: deletedAt}}},
		{name: "delete latest again is a no-op", op: del, path: "data/k", want: map[int]state{1: {readable: true}, 2: {readable: true}, 3: {deletion: deletedAt}}},
		{name: "delete versions", op: update, path: "delete/k", body: `{"versions":[1,"2",99]}`, want: map[int]state{1: {deletion: deletedAt}, 2: {deletion: deletedAt}, 3: {deletion: deletedAt}}},
		{name: "undelete", op: update, path: "undelete/k", body: `{"versions":[1,3]}`, want: map[int]state{1: {readable: true}, 2: {deletion: deletedAt}, 3: {readable: true}}},
		{name: "destroy", op: update, path: "destroy/k", body: `{"versions":"2,3"}`, want: map[int]state{1: {readable: true}, 2: {deletion: deletedAt, destroyed: true}, 3: {destroyed: true}}},
		{name: "undelete destroyed is a no-op", op: update, path: "undelete/k", body: `{"versions":[2,3]}`, want: map[int]state{1: {readable: true}, 2: {deletion: deletedAt, destroyed: true}, 3: {destroyed: true}}},
		{name: "missing key", op: update, path: "delete/nope", body: `{"versions":[1]}`, want: map[int]state{1: {readable: true}, 2: {deletion: deletedAt, destroyed: true}, 3: {destroyed: true}}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if resp := h.must(st.op, st.path, st.body); resp != nil {
				t.Errorf("%s %s = %+v, want nil (204)", st.op, st.path, resp)
			}
			meta := h.must(read, "metadata/k", "").Data["versions"].(map[string]any)
			for v, want := range st.want {
				resp := h.read("k", v)
				vm := versionMeta(t, resp)
				if want.readable != (resp.Status == 0) || want.readable != (resp.Data["data"] != nil) {
					t.Errorf("version %d: status %d data %v, want readable=%v", v, resp.Status, resp.Data["data"], want.readable)
				}
				if !want.readable && resp.Status != http.StatusNotFound {
					t.Errorf("version %d: status %d, want 404 with data", v, resp.Status)
				}
				if vm["deletion_time"] != want.deletion || vm["destroyed"] != want.destroyed {
					t.Errorf("version %d: metadata %v, want deletion %q destroyed %v", v, vm, want.deletion, want.destroyed)
				}
				mv := meta[fmt.Sprint(v)].(map[string]any)
				if mv["deletion_time"] != want.deletion || mv["destroyed"] != want.destroyed {
					t.Errorf("metadata versions[%d] = %v", v, mv)
				}
				blob, _ := h.inmem.Get(t.Context(), kv.VersionKey("k", v))
				if (blob == nil) != want.destroyed {
					t.Errorf("version %d: blob present %v, destroyed %v", v, blob != nil, want.destroyed)
				}
			}
		})
	}
	h.fails(update, "delete/k", `{}`, 400)
	h.fails(update, "destroy/k", `{"versions":[]}`, 400)
	h.fails(update, "undelete/k", `{"versions":[0]}`, 400)
	h.fails(update, "delete/k", `{"versions":[1.5]}`, 400)
	if resp := h.must(del, "data/nope", ""); resp != nil {
		t.Errorf("delete missing = %+v, want nil", resp)
	}
}

func TestV2DeleteVersionAfter(t *testing.T) {
	tests := []struct {
		name   string
		config string
		meta   string
		after  time.Duration // effective
	}{
		{name: "mount", config: `{"delete_version_after":"1h"}`, after: time.Hour},
		{name: "key", meta: `{"delete_version_after":"30m"}`, after: 30 * time.Minute},
		{name: "shorter wins", config: `{"delete_version_after":"1h"}`, meta: `{"delete_version_after":"2h"}`, after: time.Hour},
		{name: "seconds", meta: `{"delete_version_after":90}`, after: 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "2")
			if tt.config != "" {
				h.must(update, "config", tt.config)
			}
			if tt.meta != "" {
				h.must(create, "metadata/k", tt.meta)
			}
			w := h.must(create, "data/k", `{"data":{"a":"b"}}`)
			wantDeletion := h.clock.Now().Add(tt.after).Format(time.RFC3339Nano)
			if w.Data["deletion_time"] != wantDeletion {
				t.Errorf("write deletion_time = %v, want %s", w.Data["deletion_time"], wantDeletion)
			}
			h.clock.Add(tt.after - time.Nanosecond)
			// As Vault does, a live version reports its scheduled deletion
			// time (clients compare it with the current time).
			if resp := h.read("k", 0); resp.Status != 0 || secretData(t, resp) != `{"a":"b"}` || versionMeta(t, resp)["deletion_time"] != wantDeletion {
				t.Fatalf("read before expiry = %d %v", resp.Status, resp.Data)
			}
			h.clock.Add(time.Nanosecond)
			resp := h.read("k", 0)
			if resp.Status != http.StatusNotFound || resp.Data["data"] != nil || versionMeta(t, resp)["deletion_time"] != wantDeletion {
				t.Fatalf("read after expiry = %d %v, want 404 with metadata", resp.Status, resp.Data)
			}
			if _, err := h.do(patch, "data/k", `{"data":{"c":"d"}}`); statusOf(err) != 404 {
				t.Errorf("patch of expired version: %v, want 404", err)
			}
			h.must(update, "undelete/k", `{"versions":[1]}`)
			if resp := h.read("k", 0); resp.Status != 0 {
				t.Errorf("read after undelete = %d, want readable", resp.Status)
			}
		})
	}
	h := newHarness(t, "2")
	h.fails(update, "config", `{"delete_version_after":"-1h"}`, 400)
	h.fails(update, "metadata/k", `{"delete_version_after":"soon"}`, 400)
}

// Undelete never makes a version immune to delete_version_after: a
// deletion it scheduled and that is still ahead stays, an undeleted version
// keeps its scheduled deletion when that is ahead and otherwise gets a new
// period, and a version deleted by hand is deleted again on schedule.
func TestV2UndeleteKeepsDeleteVersionAfter(t *testing.T) {
	const after = time.Hour
	tests := []struct {
		name string
		// Times after the write: a delete by hand (0: none), the
		// undelete, and the deletion time the undelete leaves.
		deleteAt, undeleteAt, want time.Duration
	}{
		{name: "scheduled deletion still ahead stays", undeleteAt: 10 * time.Minute, want: after},
		{name: "deleted by hand, schedule ahead", deleteAt: 10 * time.Minute, undeleteAt: 20 * time.Minute, want: after},
		{name: "expired, a new period from the undelete", undeleteAt: after + 30*time.Minute, want: after + 30*time.Minute + after},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "2")
			h.must(update, "config", `{"delete_version_after":"1h"}`)
			written := h.clock.Now()
			h.must(create, "data/k", `{"data":{"a":"b"}}`)
			if tt.deleteAt > 0 {
				h.clock.Add(tt.deleteAt)
				h.must(del, "data/k", "")
			}
			h.clock.Add(tt.undeleteAt - tt.deleteAt)
			h.must(update, "undelete/k", `{"versions":[1]}`)
			want := written.Add(tt.want)
			resp := h.read("k", 1)
			if resp.Status != 0 || versionMeta(t, resp)["deletion_time"] != want.Format(time.RFC3339Nano) {
				t.Fatalf("after undelete: status %d metadata %v, want readable with deletion_time %s", resp.Status, versionMeta(t, resp), want.Format(time.RFC3339Nano))
			}
			h.clock.Add(want.Sub(h.clock.Now()) - time.Nanosecond)
			if resp := h.read("k", 1); resp.Status != 0 {
				t.Fatalf("read just before the deletion time = %d, want readable", resp.Status)
			}
			h.clock.Add(time.Nanosecond)
			if resp := h.read("k", 1); resp.Status != http.StatusNotFound {
				t.Fatalf("read at the deletion time = %d, want 404: undelete made the version immune", resp.Status)
			}
		})
	}
	// Without delete_version_after, undelete clears the deletion for good.
	h := newHarness(t, "2")
	h.must(create, "data/k", `{"data":{"a":"b"}}`)
	h.must(del, "data/k", "")
	h.must(update, "undelete/k", `{"versions":[1]}`)
	if resp := h.read("k", 1); resp.Status != 0 || versionMeta(t, resp)["deletion_time"] != "" {
		t.Fatalf("undelete without delete_version_after: status %d metadata %v", resp.Status, versionMeta(t, resp))
	}
}

func TestV2Patch(t *testing.T) {
	tests := []struct {
		name   string
		before string
		patch  string
		want   string
		status int
	}{
		{name: "add and replace", before: `{"a":"1","b":"2"}`, patch: `{"data":{"b":"3","c":"4"}}`, want: `{"a":"1","b":"3","c":"4"}`},
		{name: "null removes", before: `{"a":"1","b":"2"}`, patch: `{"data":{"a":null}}`, want: `{"b":"2"}`},
		{name: "nested merge", before: `{"db":{"user":"u","pw":"p"},"x":1}`, patch: `{"data":{"db":{"pw":null,"host":"h"}}}`, want: `{"db":{"host":"h","user":"u"},"x":1}`},
		{name: "object replaces scalar", before: `{"a":"1"}`, patch: `{"data":{"a":{"b":null,"c":"d"}}}`, want: `{"a":{"c":"d"}}`},
		{name: "array replaced whole", before: `{"a":[1,2]}`, patch: `{"data":{"a":[3]}}`, want: `{"a":[3]}`},
		{name: "cas matches", before: `{"a":"1"}`, patch: `{"data":{"a":"2"},"options":{"cas":1}}`, want: `{"a":"2"}`},
		{name: "cas stale", before: `{"a":"1"}`, patch: `{"data":{"a":"2"},"options":{"cas":0}}`, status: 400},
		{name: "missing data", before: `{"a":"1"}`, patch: `{}`, status: 400},
		{name: "data not object", before: `{"a":"1"}`, patch: `{"data":["a"]}`, status: 400},
		{name: "no secret", patch: `{"data":{"a":"2"}}`, status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "2")
			if tt.before != "" {
				h.must(create, "data/k", `{"data":`+tt.before+`}`)
			}
			if tt.status != 0 {
				h.fails(patch, "data/k", tt.patch, tt.status)
				return
			}
			resp := h.must(patch, "data/k", tt.patch)
			if resp.Data["version"] != 2 {
				t.Errorf("patch response version = %v, want 2", resp.Data["version"])
			}
			if got := secretData(t, h.read("k", 0)); got != tt.want {
				t.Errorf("after patch data = %s, want %s", got, tt.want)
			}
			if got := secretData(t, h.read("k", 1)); got != compact(t, body(t, tt.before)) {
				t.Errorf("version 1 changed to %s", got)
			}
		})
	}

	t.Run("deleted or destroyed current", func(t *testing.T) {
		h := newHarness(t, "2")
		h.must(create, "data/k", `{"data":{"a":"1"}}`)
		h.must(del, "data/k", "")
		h.fails(patch, "data/k", `{"data":{"a":"2"}}`, 404)
		h.must(update, "undelete/k", `{"versions":[1]}`)
		h.must(update, "destroy/k", `{"versions":[1]}`)
		h.fails(patch, "data/k", `{"data":{"a":"2"}}`, 404)
	})
}

func TestV2Subkeys(t *testing.T) {
	h := newHarness(t, "2")
	h.must(create, "data/k", `{"data":{"foo":"abc","bar":{"baz":{"qux":1},"zip":true},"list":[1,2]}}`)
	h.must(update, "data/k", `{"data":{"only":"v2"}}`)
	tests := []struct {
		name  string
		query string
		want  string
	}{
		{name: "all depth", query: `{"version":1}`, want: `{"bar":{"baz":{"qux":null},"zip":null},"foo":null,"list":null}`},
		{name: "depth 1", query: `{"version":"1","depth":"1"}`, want: `{"bar":null,"foo":null,"list":null}`},
		{name: "depth 2", query: `{"version":1,"depth":2}`, want: `{"bar":{"baz":null,"zip":null},"foo":null,"list":null}`},
		{name: "latest", query: `{}`, want: `{"only":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.must(read, "subkeys/k", tt.query)
			if got := compact(t, resp.Data["subkeys"]); got != tt.want {
				t.Errorf("subkeys = %s, want %s", got, tt.want)
			}
			if _, ok := resp.Data["metadata"].(map[string]any)["version"]; !ok {
				t.Errorf("subkeys response lacks metadata: %v", resp.Data)
			}
		})
	}
	h.fails(read, "subkeys/k", `{"depth":-1}`, 400)
	h.must(del, "data/k", "")
	if resp := h.must(read, "subkeys/k", ""); resp.Status != 404 || resp.Data["subkeys"] != nil {
		t.Errorf("subkeys of deleted = %d %v, want 404 with metadata", resp.Status, resp.Data)
	}
	if resp := h.must(read, "subkeys/missing", ""); resp != nil {
		t.Errorf("subkeys of missing = %+v, want nil", resp)
	}
}

func TestV2Paths(t *testing.T) {
	h := newHarness(t, "2")
	tests := []struct {
		op      logical.Operation
		path    string
		body    string
		wantErr error
		status  int
	}{
		{op: update, path: "data/", body: `{"data":{"a":"b"}}`, status: 400},
		{op: update, path: "data", body: `{"data":{"a":"b"}}`, status: 400},
		{op: update, path: "data/dir/", body: `{"data":{"a":"b"}}`, status: 400},
		{op: update, path: "data/a//b", body: `{"data":{"a":"b"}}`, status: 400},
		{op: read, path: "data/", status: 400},
		{op: update, path: "metadata/", body: `{}`, status: 400},
		{op: update, path: "destroy/", body: `{"versions":[1]}`, status: 400},
		{op: read, path: "unknown/x", wantErr: logical.ErrUnsupportedPath},
		{op: read, path: "", wantErr: logical.ErrUnsupportedPath},
		{op: list, path: "unknown/", wantErr: logical.ErrUnsupportedPath},
		{op: read, path: "delete/x", wantErr: logical.ErrUnsupportedOperation},
		{op: patch, path: "destroy/x", body: `{}`, wantErr: logical.ErrUnsupportedOperation},
		{op: update, path: "subkeys/x", body: `{}`, wantErr: logical.ErrUnsupportedOperation},
	}
	for _, tt := range tests {
		t.Run(string(tt.op)+" "+tt.path, func(t *testing.T) {
			_, err := h.do(tt.op, tt.path, tt.body)
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			case tt.status != 0 && statusOf(err) != tt.status:
				t.Errorf("err = %v (status %d), want status %d", err, statusOf(err), tt.status)
			}
		})
	}
	// Slashes inside a name are ordinary path segments.
	h.must(create, "data/a/b/c", `{"data":{"x":"y"}}`)
	if got := secretData(t, h.read("a/b/c", 0)); got != `{"x":"y"}` {
		t.Errorf("nested path data = %s", got)
	}
	if resp := h.read("a/b", 0); resp != nil {
		t.Errorf("parent path read = %+v, want nil", resp)
	}
}

func TestV2ExistenceCheck(t *testing.T) {
	h := newHarness(t, "2")
	h.must(create, "data/there", `{"data":{"a":"b"}}`)
	h.must(create, "metadata/meta-only", `{}`)
	ec := h.b.(logical.ExistenceChecker)
	tests := []struct {
		path          string
		found, exists bool
	}{
		{path: "data/there", found: true, exists: true},
		{path: "metadata/there", found: true, exists: true},
		{path: "data/meta-only", found: true, exists: true},
		{path: "data/absent", found: true, exists: false},
		{path: "metadata/absent", found: true, exists: false},
		{path: "config", found: false},
		{path: "delete/there", found: false},
		{path: "data/", found: false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			found, exists, err := ec.ExistenceCheck(t.Context(), &logical.Request{Operation: update, Path: tt.path, Storage: h.storage})
			if err != nil || found != tt.found || exists != tt.exists {
				t.Errorf("ExistenceCheck(%s) = %v, %v, %v; want %v, %v", tt.path, found, exists, err, tt.found, tt.exists)
			}
		})
	}
}

// TestV2Rollback replays what `kv rollback -version=N` does client-side:
// read version N, write its data back with cas = current version.
func TestV2Rollback(t *testing.T) {
	h := newHarness(t, "2")
	h.must(create, "data/k", `{"data":{"pw":"one"}}`)
	h.must(update, "data/k", `{"data":{"pw":"two"}}`)
	h.must(update, "data/k", `{"data":{"pw":"three"}}`)

	old := h.read("k", 1)
	current := h.must(read, "metadata/k", "").Data["current_version"].(int)
	resp, err := h.doData(update, "data/k", map[string]any{
		"data":    old.Data["data"],
		"options": map[string]any{"cas": current},
	})
	if err != nil {
		t.Fatalf("rollback write: %v", err)
	}
	if resp.Data["version"] != 4 {
		t.Errorf("rollback created version %v, want 4", resp.Data["version"])
	}
	if got := secretData(t, h.read("k", 0)); got != `{"pw":"one"}` {
		t.Errorf("after rollback data = %s, want version 1's", got)
	}
	// A concurrent writer that got in first makes the rollback fail.
	h.must(update, "data/k", `{"data":{"pw":"five"}}`)
	if _, err := h.doData(update, "data/k", map[string]any{"data": old.Data["data"], "options": map[string]any{"cas": 4}}); statusOf(err) != 400 {
		t.Errorf("stale rollback: %v, want 400", err)
	}
}

func TestV2StorageLayout(t *testing.T) {
	h := newHarness(t, "2")
	h.must(create, "data/team/db", `{"data":{"pw":"x"}}`)
	h.must(update, "config", `{"max_versions":3}`)
	keys, err := h.inmem.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"config", "meta/", "ver/"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("top-level keys = %v, want %v", keys, want)
	}
	if got, _ := h.inmem.List(t.Context(), "meta/team/"); !reflect.DeepEqual(got, []string{"db"}) {
		t.Errorf("meta/team/ = %v", got)
	}
	if blob, _ := h.inmem.Get(t.Context(), kv.VersionKey("team/db", 1)); string(blob) != `{"pw":"x"}` {
		t.Errorf("version blob = %q", blob)
	}
}

// TestV2OrderedWriteFailures checks the write order used when storage has
// no batches: a failed metadata write leaves the previous version current,
// and a failed blob deletion after destroy still leaves the version
// destroyed.
func TestV2OrderedWriteFailures(t *testing.T) {
	inmem := &logicaltest.InmemStorage{}
	fs := &failingStorage{noBatch: noBatch{inmem}}
	h := newHarnessOn(t, "2", fs, inmem)
	h.must(create, "data/k", `{"data":{"v":"1"}}`)

	fs.setFail("meta/")
	if _, err := h.do(update, "data/k", `{"data":{"v":"2"}}`); !errors.Is(err, errInjected) {
		t.Fatalf("write with failing metadata put: %v, want the storage error", err)
	}
	fs.setFail("")
	if got := secretData(t, h.read("k", 0)); got != `{"v":"1"}` {
		t.Errorf("after failed write, current data = %s, want version 1", got)
	}
	if w := h.must(update, "data/k", `{"data":{"v":"2"}}`); w.Data["version"] != 2 {
		t.Errorf("retry created version %v, want 2", w.Data["version"])
	}
	if got := secretData(t, h.read("k", 2)); got != `{"v":"2"}` {
		t.Errorf("retried version 2 = %s", got)
	}

	fs.setFail("ver/")
	if _, err := h.do(update, "destroy/k", `{"versions":[2]}`); !errors.Is(err, errInjected) {
		t.Fatalf("destroy with failing blob delete: %v, want the storage error", err)
	}
	fs.setFail("")
	if resp := h.read("k", 2); resp.Status != http.StatusNotFound || versionMeta(t, resp)["destroyed"] != true {
		t.Errorf("version 2 after partial destroy = %d %v, want destroyed", resp.Status, resp.Data)
	}
	if blob, _ := inmem.Get(t.Context(), kv.VersionKey("k", 2)); blob == nil {
		t.Fatal("test setup: blob should have survived the failed delete")
	}
	h.must(update, "destroy/k", `{"versions":[2]}`)
	if blob, _ := inmem.Get(t.Context(), kv.VersionKey("k", 2)); blob != nil {
		t.Error("retried destroy left the version's data in storage")
	}
	// A prune whose blob deletion fails leaves an orphan that metadata
	// delete still removes.
	h.must(update, "metadata/k", `{"max_versions":1}`)
	fs.setFailDeletes("ver/")
	if _, err := h.do(update, "data/k", `{"data":{"v":"3"}}`); !errors.Is(err, errInjected) {
		t.Fatalf("write with failing prune: %v, want the storage error", err)
	}
	fs.setFail("")
	if blob, _ := inmem.Get(t.Context(), kv.VersionKey("k", 1)); blob == nil {
		t.Fatal("test setup: pruned blob should have survived the failed delete")
	}
	if got := secretData(t, h.read("k", 3)); got != `{"v":"3"}` {
		t.Errorf("version 3 = %s; the metadata write precedes the prune", got)
	}
	h.must(del, "metadata/k", "")
	if left, _ := inmem.List(t.Context(), ""); len(left) != 0 {
		t.Errorf("after metadata delete, storage holds %v", left)
	}
}
