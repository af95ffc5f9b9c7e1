// Command loadgen drives a running Keyward (or Vault-compatible) server over
// HTTP and reports throughput and latency percentiles. It is a benchmark
// tool: it runs a bounded number of requests for a bounded time against the
// address it is given (loopback in our runs) and stops by itself.
//
//	go run ./bench/loadgen -addr http://127.0.0.1:8200 -token ROOT -workload kv-read -c 16 -d 10s
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "http://127.0.0.1:8200", "server address (plain http for -client=raw)")
	token := flag.String("token", os.Getenv("KEYWARD_TOKEN"), "token with rights on secret/ and auth/token/create (default $KEYWARD_TOKEN)")
	workload := flag.String("workload", "kv-read", "kv-read, kv-write, token-create, token-create-batch, approle-login, approle-login-batch, mixed (90% reads, 10% writes), transit-encrypt, transit-decrypt, transit-encrypt-batch or transit-decrypt-batch")
	conc := flag.Int("c", 16, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "duration (after warm-up)")
	warm := flag.Duration("warmup", 2*time.Second, "warm-up, not measured")
	keys := flag.Int("keys", 1000, "distinct KV keys")
	maxReq := flag.Int64("max-requests", 5_000_000, "stop after this many requests")
	jsonOut := flag.Bool("json", false, "print the result as JSON")
	seed := flag.Bool("seed", true, "write the KV keys before the run (needs write on secret/data/bench/); -seed=false reuses them, e.g. to read with a narrower token")
	payload := flag.Int("payload", 1024, "transit: plaintext bytes per item")
	batch := flag.Int("batch", 1000, "transit-*-batch: items per request (batch_input)")
	cpuPID := flag.Int("server-pid", 0, "Linux: also report the CPU time this process (the server, on this machine) spent per request while measuring, from /proc/PID/stat")
	clientKind := flag.String("client", "raw", "raw: one keep-alive connection per worker with a minimal HTTP/1.1 client (little client CPU, so the server gets the cores); std: net/http's client")
	flag.Parse()
	if *token == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -token or KEYWARD_TOKEN is required")
		os.Exit(2)
	}
	if *dur > 10*time.Minute {
		fmt.Fprintln(os.Stderr, "loadgen: -d is capped at 10m")
		os.Exit(2)
	}
	g := &gen{addr: strings.TrimSuffix(*addr, "/"), token: *token, keys: *keys, raw: *clientKind == "raw", payload: *payload, batch: *batch,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *conc * 2, MaxConnsPerHost: *conc * 2}}}
	if *clientKind != "raw" && *clientKind != "std" {
		fmt.Fprintln(os.Stderr, "loadgen: -client must be raw or std")
		os.Exit(2)
	}
	if *seed && !strings.HasPrefix(*workload, "transit-") {
		if err := g.seed(); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: seed:", err)
			os.Exit(1)
		}
	}
	op, err := g.op(*workload)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	res := g.run(op, *conc, *warm, *dur, *maxReq, *cpuPID)
	res.Workload, res.Concurrency = *workload, *conc
	if *jsonOut {
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	fmt.Printf("%-12s c=%-3d %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d  (%d requests in %s)\n",
		res.Workload, res.Concurrency, res.RPS, res.P50ms, res.P99ms, res.Errors, res.Requests, res.Duration)
	if res.ServerCPUms > 0 {
		fmt.Printf("%-12s       server CPU %.3f ms per request\n", "", res.ServerCPUms)
	}
	if strings.HasSuffix(*workload, "-batch") && strings.HasPrefix(*workload, "transit-") {
		ok := 0.0
		if res.Requests > 0 {
			ok = res.RPS * float64(res.Requests-res.Errors) / float64(res.Requests)
		}
		fmt.Printf("%-12s       %9.0f items/s in successful requests (%d items of %d bytes per request)\n", "", ok*float64(*batch), *batch, *payload)
	}
}

type gen struct {
	addr, token    string
	keys           int
	client         *http.Client
	raw            bool
	payload, batch int
}

type result struct {
	Workload    string  `json:"workload"`
	Concurrency int     `json:"concurrency"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	Duration    string  `json:"duration"`
	RPS         float64 `json:"rps"`
	P50ms       float64 `json:"p50_ms"`
	P90ms       float64 `json:"p90_ms"`
	P99ms       float64 `json:"p99_ms"`
	// ServerCPUms is the server's user+system CPU time per request while
	// measuring (-server-pid), which load from other jobs sways less than
	// throughput does.
	ServerCPUms float64 `json:"server_cpu_ms_per_request,omitempty"`
}

// cpuTime returns the user+system CPU time of process pid (Linux
// /proc/PID/stat, in clock ticks of 10 ms), or 0 when it cannot.
func cpuTime(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func (g *gen) do(method, path string, body []byte) error {
	_, err := g.call(method, path, body)
	return err
}

// call sends one request with the token and returns the response body.
func (g *gen) call(method, path string, body []byte) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, g.addr+"/v1/"+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Token", g.token)
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
	}
	return out, nil
}

// approleLogin sets up an AppRole role issuing tokens of type typ (a
// secret_id without a use limit, so a login writes nothing but its token)
// and returns a login request body.
func (g *gen) approleLogin(typ string) ([]byte, error) {
	// Already enabled on a second run: the 400 is fine.
	_, _ = g.call("POST", "sys/auth/bench-approle", []byte(`{"type":"approle"}`))
	role := "auth/bench-approle/role/" + typ
	if _, err := g.call("POST", role, []byte(`{"token_policies":["default"],"token_ttl":"10m","token_type":"`+typ+`"}`)); err != nil {
		return nil, err
	}
	var rid, sid struct {
		Data map[string]any `json:"data"`
	}
	b, err := g.call("GET", role+"/role-id", nil)
	if err == nil {
		err = json.Unmarshal(b, &rid)
	}
	if err != nil {
		return nil, err
	}
	if b, err = g.call("POST", role+"/secret-id", nil); err == nil {
		err = json.Unmarshal(b, &sid)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"role_id": rid.Data["role_id"], "secret_id": sid.Data["secret_id"]})
}

func kvBody(i int) []byte {
	b, _ := json.Marshal(map[string]any{"data": map[string]any{"user": fmt.Sprintf("svc-%d", i), "password": fmt.Sprintf("%032x", rand.Uint64())}})
	return b
}

func (g *gen) seed() error {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < g.keys; i += 16 {
				if err := g.do("PUT", fmt.Sprintf("secret/data/bench/k%d", i), kvBody(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// doer sends one request and checks its status.
type doer func(method, path string, body []byte) error

func (g *gen) op(workload string) (func(r *rand.Rand, do doer) error, error) {
	if op, ok := g.pkiOp(workload); ok {
		return op, nil
	}
	read := func(r *rand.Rand, do doer) error {
		return do("GET", "secret/data/bench/k"+strconv.Itoa(r.IntN(g.keys)), nil)
	}
	write := func(r *rand.Rand, do doer) error {
		i := r.IntN(g.keys)
		return do("PUT", "secret/data/bench/k"+strconv.Itoa(i), kvBody(i))
	}
	tokenBody, _ := json.Marshal(map[string]any{"policies": []string{"default"}, "ttl": "10m"})
	switch workload {
	case "kv-read":
		return read, nil
	case "kv-write":
		return write, nil
	case "token-create":
		return func(_ *rand.Rand, do doer) error { return do("POST", "auth/token/create", tokenBody) }, nil
	case "token-create-batch":
		batchBody, _ := json.Marshal(map[string]any{"policies": []string{"default"}, "ttl": "10m", "type": "batch"})
		return func(_ *rand.Rand, do doer) error { return do("POST", "auth/token/create", batchBody) }, nil
	case "approle-login", "approle-login-batch":
		typ := "service"
		if workload == "approle-login-batch" {
			typ = "batch"
		}
		login, err := g.approleLogin(typ)
		if err != nil {
			return nil, fmt.Errorf("set up approle: %w", err)
		}
		return func(_ *rand.Rand, do doer) error { return do("POST", "auth/bench-approle/login", login) }, nil
	case "transit-encrypt", "transit-decrypt", "transit-encrypt-batch", "transit-decrypt-batch":
		return g.transit(workload)
	case "mixed":
		return func(r *rand.Rand, do doer) error {
			if r.IntN(10) == 0 {
				return write(r, do)
			}
			return read(r, do)
		}, nil
	}
	return nil, fmt.Errorf("unknown workload %q", workload)
}

// transit mounts transit at transit/ (a 400 when it is already there is
// fine), creates the aes256-gcm96 key bench, and returns the operation:
// one item of g.payload random bytes per request, or g.batch of them in
// batch_input. Decryption decrypts ciphertexts made here beforehand.
func (g *gen) transit(workload string) (func(*rand.Rand, doer) error, error) {
	_, _ = g.call("POST", "sys/mounts/transit", []byte(`{"type":"transit"}`))
	if _, err := g.call("POST", "transit/keys/bench", nil); err != nil {
		return nil, fmt.Errorf("create transit key: %w", err)
	}
	n := 1
	if strings.HasSuffix(workload, "-batch") {
		n = g.batch
	}
	items := make([]map[string]string, n)
	for i := range items {
		pt := make([]byte, g.payload)
		for j := range pt {
			pt[j] = byte(rand.Uint32())
		}
		items[i] = map[string]string{"plaintext": base64.StdEncoding.EncodeToString(pt)}
	}
	body := func(items []map[string]string) []byte {
		var b []byte
		if len(items) == 1 {
			b, _ = json.Marshal(items[0])
		} else {
			b, _ = json.Marshal(map[string]any{"batch_input": items})
		}
		return b
	}
	enc := body(items)
	if strings.HasPrefix(workload, "transit-encrypt") {
		return func(_ *rand.Rand, do doer) error { return do("POST", "transit/encrypt/bench", enc) }, nil
	}
	out, err := g.call("POST", "transit/encrypt/bench", enc)
	if err != nil {
		return nil, fmt.Errorf("encrypt the ciphertexts to decrypt: %w", err)
	}
	var r struct {
		Data struct {
			Ciphertext   string `json:"ciphertext"`
			BatchResults []struct {
				Ciphertext string `json:"ciphertext"`
			} `json:"batch_results"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("encrypt the ciphertexts to decrypt: %w", err)
	}
	cts := make([]map[string]string, 0, n)
	if n == 1 {
		cts = append(cts, map[string]string{"ciphertext": r.Data.Ciphertext})
	}
	for _, br := range r.Data.BatchResults {
		cts = append(cts, map[string]string{"ciphertext": br.Ciphertext})
	}
	if len(cts) != n || cts[0]["ciphertext"] == "" {
		return nil, fmt.Errorf("encrypt the ciphertexts to decrypt: got %d of %d", len(cts), n)
	}
	dec := body(cts)
	return func(_ *rand.Rand, do doer) error { return do("POST", "transit/decrypt/bench", dec) }, nil
}

// rawConn is a minimal HTTP/1.1 keep-alive client for one worker: it writes
// requests by hand and reads status, Content-Length and body, nothing else.
type rawConn struct {
	g    *gen
	host string
	c    net.Conn
	br   *bufio.Reader
	buf  []byte
}

func (rc *rawConn) do(method, path string, body []byte) error {
	if rc.c == nil {
		c, err := net.Dial("tcp", rc.host)
		if err != nil {
			return err
		}
		rc.c, rc.br = c, bufio.NewReaderSize(c, 64<<10)
	}
	b := rc.buf[:0]
	b = append(b, method...)
	b = append(b, " /v1/"...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, rc.host...)
	b = append(b, "\r\nX-Vault-Token: "...)
	b = append(b, rc.g.token...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	rc.buf = b
	if _, err := rc.c.Write(b); err != nil {
		rc.close()
		return err
	}
	status, err := rc.readResponse()
	if err != nil {
		rc.close()
		return err
	}
	if status >= 300 {
		return fmt.Errorf("%s %s: %d", method, path, status)
	}
	return nil
}

func (rc *rawConn) readResponse() (int, error) {
	line, err := rc.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, fmt.Errorf("short status line")
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line")
	}
	length, chunked := 0, false
	for {
		h, err := rc.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 18 && (h[0] == 'T' || h[0] == 't') && strings.EqualFold(string(h[:18]), "transfer-encoding:") {
			chunked = strings.Contains(strings.ToLower(string(h[18:])), "chunked")
		}
		if len(h) > 15 && (h[0] == 'C' || h[0] == 'c') && strings.EqualFold(string(h[:15]), "content-length:") {
			length, err = strconv.Atoi(strings.TrimSpace(string(h[15:])))
			if err != nil {
				return 0, fmt.Errorf("bad content-length")
			}
		}
	}
	if chunked {
		// Large bodies (batch results) may come chunked; the reader
		// stops after the last chunk, and the empty trailer follows it.
		if _, err := io.Copy(io.Discard, httputil.NewChunkedReader(rc.br)); err != nil {
			return 0, err
		}
		if _, err := rc.br.ReadSlice('\n'); err != nil {
			return 0, err
		}
		return status, nil
	}
	if _, err := rc.br.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
}

func (rc *rawConn) close() {
	if rc.c != nil {
		rc.c.Close()
		rc.c = nil
	}
}

func (g *gen) run(op func(*rand.Rand, doer) error, conc int, warm, dur time.Duration, maxReq int64, cpuPID int) result {
	ctx, cancel := context.WithTimeout(context.Background(), warm+dur)
	defer cancel()
	start := time.Now()
	measureFrom := start.Add(warm)
	var measuring atomic.Bool
	var count, errs atomic.Int64
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			do := doer(g.do)
			if g.raw {
				rc := &rawConn{g: g, host: strings.TrimPrefix(strings.TrimPrefix(g.addr, "http://"), "https://")}
				defer rc.close()
				do = rc.do
			}
			for ctx.Err() == nil && count.Load() < maxReq {
				t0 := time.Now()
				err := op(r, do)
				if !measuring.Load() {
					if t0.After(measureFrom) {
						measuring.Store(true)
					} else {
						continue
					}
				}
				count.Add(1)
				if err != nil {
					errs.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	time.Sleep(warm)
	measuring.Store(true)
	t0, cpu0 := time.Now(), cpuTime(cpuPID)
	wg.Wait()
	elapsed, cpu := time.Since(t0), cpuTime(cpuPID)-cpu0
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(float64(len(all)-1)*p)]) / float64(time.Millisecond)
	}
	res := result{Requests: count.Load(), Errors: errs.Load(), Duration: elapsed.Round(time.Millisecond).String(),
		RPS: float64(count.Load()) / elapsed.Seconds(), P50ms: pct(0.50), P90ms: pct(0.90), P99ms: pct(0.99)}
	if cpu > 0 && res.Requests > 0 {
		res.ServerCPUms = float64(cpu) / float64(time.Millisecond) / float64(res.Requests)
	}
	return res
}
