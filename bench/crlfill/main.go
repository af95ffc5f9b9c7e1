// Command crlfill measures how long a Vault-compatible PKI mount takes to
// build its CRL with many revoked certificates: it issues -n certificates
// from a role (with -c concurrent clients), revokes them all, then times
// -rotations forced rebuilds (GET MOUNT/crl/rotate) and checks that the CRL
// it then serves lists at least -n entries. -crl-config-after changes the
// CRL configuration between the revocations and the rebuilds (bench/pki.sh
// fills Keyward with CRLs disabled, see there). It is a benchmark tool for
// loopback servers set up by bench/pki.sh.
//
//	go run ./bench/crlfill -addr http://127.0.0.1:18299 -token ROOT -role ed25519 -n 10000
package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "http://127.0.0.1:8200", "server address")
	token := flag.String("token", os.Getenv("KEYWARD_TOKEN"), "root token (default $KEYWARD_TOKEN)")
	mount := flag.String("mount", "pki", "pki mount")
	role := flag.String("role", "ed25519", "role to issue from")
	n := flag.Int("n", 10000, "certificates to issue and revoke")
	conc := flag.Int("c", 16, "concurrent clients while filling")
	rotations := flag.Int("rotations", 3, "timed CRL rebuilds")
	cfgAfter := flag.String("crl-config-after", "", "JSON `body` to write to MOUNT/config/crl after the revocations, before the timed rebuilds")
	flag.Parse()
	if *token == "" || *n <= 0 || *n > 1_000_000 {
		fmt.Fprintln(os.Stderr, "crlfill: -token is required and -n must be in 1..1000000")
		os.Exit(2)
	}
	cl := &client{addr: *addr, token: *token, hc: &http.Client{Timeout: 10 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: *conc * 2}}}
	serials := make([]string, *n)
	start := time.Now()
	if err := parallel(*n, *conc, func(i int) error {
		var out struct {
			Data struct {
				Serial string `json:"serial_number"`
			} `json:"data"`
		}
		body := fmt.Sprintf(`{"common_name":"crl%d.example.com","ttl":"24h"}`, i)
		if err := cl.do("POST", *mount+"/issue/"+*role, body, &out); err != nil {
			return err
		}
		serials[i] = out.Data.Serial
		return nil
	}); err != nil {
		fail("issue", err)
	}
	issued := time.Since(start)
	start = time.Now()
	if err := parallel(*n, *conc, func(i int) error {
		return cl.do("POST", *mount+"/revoke", fmt.Sprintf(`{"serial_number":%q}`, serials[i]), nil)
	}); err != nil {
		fail("revoke", err)
	}
	revoked := time.Since(start)
	fmt.Printf("issued %d in %s (%.0f/s), revoked in %s (%.0f/s)\n", *n, issued.Round(time.Millisecond),
		float64(*n)/issued.Seconds(), revoked.Round(time.Millisecond), float64(*n)/revoked.Seconds())
	if *cfgAfter != "" {
		if err := cl.do("POST", *mount+"/config/crl", *cfgAfter, nil); err != nil {
			fail("config/crl", err)
		}
	}
	var times []time.Duration
	for range *rotations {
		t := time.Now()
		if err := cl.do("GET", *mount+"/crl/rotate", "", nil); err != nil {
			fail("crl/rotate", err)
		}
		times = append(times, time.Since(t))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	der, err := cl.raw("GET", *mount+"/crl")
	if err != nil {
		fail("crl", err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		fail("parse crl", err)
	}
	if len(crl.RevokedCertificateEntries) < *n {
		fail("crl", fmt.Errorf("lists %d entries, want at least %d", len(crl.RevokedCertificateEntries), *n))
	}
	fmt.Printf("crl/rotate with %d revoked (%d bytes of DER): min %s, median %s, max %s over %d rebuilds\n",
		len(crl.RevokedCertificateEntries), len(der), times[0].Round(time.Millisecond),
		times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), len(times))
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "crlfill: %s: %v\n", what, err)
	os.Exit(1)
}

// parallel runs f(0..n-1) on conc goroutines and returns the first error.
func parallel(n, conc int, f func(int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = fmt.Errorf("item %d: %w", i, err) })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

type client struct {
	addr, token string
	hc          *http.Client
}

func (c *client) raw(method, path string) ([]byte, error) {
	return c.send(method, path, "")
}

func (c *client) do(method, path, body string, out any) error {
	b, err := c.send(method, path, body)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func (c *client) send(method, path, body string) ([]byte, error) {
	var r io.Reader
	if body != "" {
		r = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, c.addr+"/v1/"+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Token", c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
	}
	return b, nil
}
