package e2e_test

import (
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/keyward/keyward/internal/clocktest"
)

// kvInput is one operation on a KV v2 key: a read, a write, or a
// check-and-set write expecting version cas.
type kvInput struct {
	op    string // read, write, cas
	key   string
	value string
	cas   int
}

// kvOutput is what the operation returned. unknown: the outcome is not
// known (a timeout, a 5xx, a node that died): the write may or may not
// have happened.
type kvOutput struct {
	version int
	value   string
	casFail bool
	unknown bool
	why     string // for an unknown outcome: what was seen
}

type kvState struct {
	version int
	value   string
}

// kvModel is a KV v2 key as a register with a version: porcupine checks a
// history against it, key by key.
var kvModel = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(kvInput).key
			by[k] = append(by[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() []any { return []any{kvState{}} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(kvState), input.(kvInput), output.(kvOutput)
		next := kvState{version: s.version + 1, value: in.value}
		switch in.op {
		case "read":
			if out.version == s.version && out.value == s.value {
				return []any{s}
			}
		case "write":
			if out.unknown {
				return []any{s, next}
			}
			if out.version == next.version {
				return []any{next}
			}
		case "cas":
			switch {
			case out.unknown && s.version == in.cas:
				return []any{s, next}
			case out.unknown:
				return []any{s}
			case out.casFail && s.version != in.cas:
				return []any{s}
			case !out.casFail && s.version == in.cas && out.version == next.version:
				return []any{next}
			}
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		return fmt.Sprintf("%s(%s,%q,cas=%d) -> %+v", in.op, in.key, in.value, in.cas, out)
	},
}

// TestClusterLinearizable (issue 14): a history of concurrent reads,
// writes and check-and-set writes on a few keys, through every node,
// across a kill -9 of the active node, its restart, a step-down, and a
// SIGSTOP of the active node, is linearizable.
func TestClusterLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster processes")
	}
	c := startCluster(t, 3, nil, nil)
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	var (
		mu   sync.Mutex
		hist []porcupine.Operation
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	keys := []string{"lin-a", "lin-b", "lin-c"}
	// A failed wait ends the test early: stop the clients first.
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
	for client := range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(client), 1))
			seen := map[string]int{}
			for seq := 0; !stop.Load(); seq++ {
				live := c.live()
				if len(live) == 0 {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				n := live[rng.IntN(len(live))]
				in := kvInput{key: keys[rng.IntN(len(keys))], value: fmt.Sprintf("c%d-%d", client, seq)}
				switch r := rng.IntN(4); {
				case r < 2:
					in.op = "read"
				case r == 2:
					in.op = "write"
				default:
					in.op, in.cas = "cas", seen[in.key]
				}
				call0 := now()
				out, keep := doKV(c, n, in)
				ret := now()
				if !keep {
					// A read that failed observed nothing; a write refused
					// before it began did nothing.
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if out.unknown {
					ret = math.MaxInt64 // it may take effect at any time after the call
				} else if in.op == "read" || !out.casFail {
					seen[in.key] = out.version
				}
				mu.Lock()
				hist = append(hist, porcupine.Operation{ClientId: client, Input: in, Call: call0, Output: out, Return: ret})
				mu.Unlock()
				if out.unknown {
					// Each unknown outcome stays open to the end of the
					// history and widens the check: keep them few.
					time.Sleep(250 * time.Millisecond)
				}
			}
		}()
	}
	ops := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(hist)
	}
	waitOps := func(what string, more int) {
		t.Helper()
		base := ops()
		clocktest.Eventually(t, what, func() bool { return ops() >= base+more })
	}
	waitOps("operations before the failover", 100)
	old := c.active()
	old.kill()
	waitOps("operations after the kill", 100)
	old.start(t)
	c.unseal(old)
	waitOps("operations after the restart", 100)
	if a := c.active(); a != nil {
		mustCall(t, a.api, c.token, "PUT", "sys/step-down", nil)
	}
	waitOps("operations after the step-down", 100)
	// Freeze the active node past its lease while the others elect and
	// serve; requests sent to it meanwhile are answered when it resumes.
	if a := c.active(); a != nil {
		a.signal(syscall.SIGSTOP)
		// Clients that pick the frozen node wait for it, so the others
		// may not reach a count: the freeze lasts 80 operations or 6 s
		// (several election timeouts), whichever comes first.
		base, until := ops(), time.Now().Add(6*time.Second)
		for ops() < base+80 && time.Now().Before(until) {
			time.Sleep(50 * time.Millisecond)
		}
		a.signal(syscall.SIGCONT)
	}
	waitOps("operations after the frozen node resumed", 100)
	stop.Store(true)
	wg.Wait()

	unknown := 0
	for _, op := range hist {
		if op.Output.(kvOutput).unknown {
			unknown++
		}
	}
	res, info := porcupine.CheckOperationsVerbose(kvModel.ToModel(), hist, 4*time.Minute)
	t.Logf("%d operations checked (%d with an unknown outcome): %s", len(hist), unknown, res)
	if res != porcupine.Ok {
		if f, err := os.CreateTemp("", "keyward-lin-*.html"); err == nil {
			porcupine.Visualize(kvModel.ToModel(), info, f)
			f.Close()
			t.Logf("visualization: %s", f.Name())
		}
		for _, op := range hist {
			in, out := op.Input.(kvInput), op.Output.(kvOutput)
			t.Logf("c%d [%d,%d] %s %s %q cas=%d -> %+v", op.ClientId, op.Call/1e6, op.Return/1e6, in.key, in.op, in.value, in.cas, out)
		}
	}
	switch res {
	case porcupine.Illegal:
		for _, part := range info.PartialLinearizationsOperations() {
			t.Logf("partial linearization: %d operations", len(part))
		}
		t.Fatalf("the history is not linearizable")
	case porcupine.Unknown:
		t.Fatalf("the linearizability check did not finish in time (%d operations): make the history smaller", len(hist))
	}
}

// patient is the client of the linearizability test's writes.
var patient = &http.Client{Timeout: clocktest.Wait}

// doKV runs in through n. keep is false for a read that failed.
func doKV(c *testCluster, n *clusterNode, in kvInput) (out kvOutput, keep bool) {
	switch in.op {
	case "read":
		status, body, err := call(n.api, c.token, "GET", "secret/data/"+in.key, nil)
		switch {
		case err == nil && status == 404:
			return kvOutput{}, true
		case err != nil || status != 200:
			return kvOutput{}, false
		}
		data, _ := body["data"].(map[string]any)
		inner, _ := data["data"].(map[string]any)
		meta, _ := data["metadata"].(map[string]any)
		v, _ := inner["v"].(string)
		ver, _ := meta["version"].(float64)
		return kvOutput{version: int(ver), value: v}, true
	}
	req := map[string]any{"data": map[string]any{"v": in.value}}
	if in.op == "cas" {
		req["options"] = map[string]any{"cas": in.cas}
	}
	// A long timeout: a request to a frozen node is answered when it
	// resumes (refused by its lease check, so known not applied) instead
	// of timing out into an unknown outcome, each of which widens the
	// check exponentially.
	status, body, err := callWith(patient, n.api, c.token, "PUT", "secret/data/"+in.key, req)
	switch {
	case notApplied(status, body, err):
		// Refused before anything was written: the operation did not
		// happen, and a history without it is the true one.
		return kvOutput{}, false
	case err != nil || status >= 500:
		return kvOutput{unknown: true, why: fmt.Sprintf("%d %v %v", status, err, body["errors"])}, true
	case status == 400 && in.op == "cas":
		return kvOutput{casFail: true}, true
	case status != 200:
		return kvOutput{unknown: true, why: fmt.Sprintf("%d %v", status, body["errors"])}, true
	}
	data, _ := body["data"].(map[string]any)
	ver, _ := data["version"].(float64)
	return kvOutput{version: int(ver)}, true
}

// notApplied reports whether a write certainly did nothing: the connection
// was refused, or the node refused it before writing (sealed, a standby
// that could not forward, a node that failed its leadership check).
func notApplied(status int, body map[string]any, err error) bool {
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	if status != 503 {
		return false
	}
	errs, _ := body["errors"].([]any)
	if len(errs) == 0 {
		return false
	}
	msg, _ := errs[0].(string)
	for _, m := range []string{"is no longer the active node; retry", "could not be forwarded to the active node", "no active node is known yet", "the request was not forwarded", "Vault is sealed"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}
