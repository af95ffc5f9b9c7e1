package sink_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/watch"
	"github.com/keyward/keyward/internal/watch/sink"
)

// TestDialRefusesMetadataAddresses: a host name that resolves to a
// link-local, unspecified or multicast address is refused when it is
// dialled, not only when the URL spells the address.
func TestDialRefusesMetadataAddresses(t *testing.T) {
	for _, addr := range []string{"169.254.169.254:80", "[::ffff:169.254.169.254]:80", "[fe80::1%eth0]:25",
		"0.0.0.0:8200", "[::]:25", "[fd00:ec2::254]:80", "239.1.1.1:514"} {
		err := sink.DialRefused("tcp4", addr, nil)
		if err == nil || !strings.Contains(err.Error(), "link-local") {
			t.Errorf("dial %s = %v, want it refused", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:514", "[::1]:25", "10.0.0.5:587", "192.168.1.1:443", "203.0.113.7:443"} {
		if err := sink.DialRefused("tcp", addr, nil); err != nil {
			t.Errorf("dial %s = %v, want it allowed", addr, err)
		}
	}
}

// TestSMTPErrorDoesNotEchoAnotherService: pointed at a service that is not
// an SMTP server (an IMAP daemon, a database), the error a test delivery
// shows and logs does not quote what that service said, so a sink cannot
// be used to read internal services' banners.
func TestSMTPErrorDoesNotEchoAnotherService(t *testing.T) {
	banner := randomText("banner-")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "* OK [CAPABILITY IMAP4rev1] "+banner+" ready\r\n")
			_ = c.Close()
		}
	}()
	h := newHarness(t)
	h.put(t, "mail", map[string]any{"type": "smtp", "url": "smtp://" + ln.Addr().String(), "from": "k@example.test",
		"to": "o@example.test", "starttls": "disabled", "max_attempts": 1})
	_, err = h.d.Test(t.Context(), "mail", watch.SeverityHigh)
	if err == nil || !strings.Contains(err.Error(), "not an SMTP reply") {
		t.Fatalf("Test = %v, want an error saying the answer is not SMTP", err)
	}
	if strings.Contains(err.Error(), banner) || strings.Contains(h.logs.String(), banner) {
		t.Errorf("the other service's banner is shown: %v", err)
	}
}

// TestHungSinkDoesNotHoldUpOthers: a receiver that accepts and never
// answers holds at most one worker (for its timeout), so the other sinks'
// deliveries keep going out, however many alerts queue for the hung one.
func TestHungSinkDoesNotHoldUpOthers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c) }() // reads, never answers
		}
	}()
	ok := newReceiver(t, nil)
	h := newHarness(t)
	h.put(t, "hung", map[string]any{"type": "webhook", "url": "http://" + ln.Addr().String() + "/", "secret": hmacKey,
		"timeout": "5m", "max_attempts": 1})
	h.put(t, "ok", map[string]any{"type": "webhook", "url": ok.URL, "secret": hmacKey, "max_attempts": 1})
	const n = 12
	for i := range n {
		h.d.Notify(alert(fmt.Sprintf("a%d", i), watch.SeverityHigh))
	}
	clocktest.Eventually(t, "every delivery to the healthy sink", func() bool { return len(ok.Got()) == n })
}

// TestWebhookRedirectIsNotFollowed: a 302 sends nothing to where it points
// and is final (a dead letter), and a receiver's error body is not quoted.
func TestWebhookRedirectIsNotFollowed(t *testing.T) {
	target := newReceiver(t, nil)
	canary := randomText("body-")
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", target.URL+"/stolen")
		w.WriteHeader(http.StatusFound)
		_, _ = io.WriteString(w, canary)
	}))
	t.Cleanup(redirect.Close)
	h := newHarness(t)
	h.put(t, "hook", map[string]any{"type": "webhook", "url": redirect.URL, "secret": hmacKey, "max_attempts": 3})
	h.d.Notify(alert("r1", watch.SeverityHigh))
	clocktest.Eventually(t, "the dead letter", func() bool { return h.d.Stats().DeadLettered == 1 })
	if n := len(target.Got()); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}
	ids, _ := h.d.DeadLetters()
	dl, _ := h.d.DeadLetter(t.Context(), ids[0])
	if dl == nil || dl.Error != "endpoint answered 302" || dl.Attempts != 1 || strings.Contains(h.logs.String(), canary) {
		t.Errorf("dead letter = %+v", dl)
	}
}

// TestWebhookHugeAnswerIsNotReadToTheEnd: a receiver answering 200 with an
// endless body gets its delivery counted at once; the body is not read
// past a small bound.
func TestWebhookHugeAnswerIsNotReadToTheEnd(t *testing.T) {
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil || sent.Load() > 1<<30 {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	h := newHarness(t)
	h.put(t, "hook", map[string]any{"type": "webhook", "url": srv.URL, "secret": hmacKey, "timeout": "5m", "max_attempts": 1})
	h.d.Notify(alert("big", watch.SeverityHigh))
	clocktest.Eventually(t, "the delivery", func() bool { return h.d.Stats().Delivered == 1 })
	if n := sent.Load(); n > 64<<20 {
		t.Errorf("the receiver could send %d bytes: the body was read unbounded", n)
	}
}

// TestCAFileIsReadBounded: ca_file naming something that is not a regular
// file (a FIFO no one writes, /dev/zero) makes a delivery fail at once
// with a message naming ca_file: it neither blocks the try nor reads
// without end.
func TestCAFileIsReadBounded(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "ca.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(t.TempDir(), "big.pem")
	if err := os.WriteFile(big, make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{fifo, "/dev/zero", big} {
		h := newHarness(t)
		h.put(t, "hook", map[string]any{"type": "webhook", "url": "https://127.0.0.1:9/", "secret": hmacKey, "ca_file": file})
		done := make(chan error, 1)
		go func() { _, err := h.d.Test(t.Context(), "hook", watch.SeverityHigh); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "ca_file") {
				t.Errorf("ca_file %s: Test = %v, want an error naming ca_file", file, err)
			}
		case <-time.After(clocktest.Wait):
			t.Fatalf("ca_file %s: the try is stuck reading the file", file)
		}
	}
}

// TestAllowedNetworks: with the server config's watch sink_networks set,
// a sink reaches only addresses inside them.
func TestAllowedNetworks(t *testing.T) {
	rcv := newReceiver(t, nil)
	for _, tc := range []struct {
		nets    []netip.Prefix
		deliver bool
	}{
		{[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, false},
		{[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}, true},
	} {
		d := sink.New(sink.Options{AllowedNetworks: tc.nets})
		if err := d.Attach(t.Context(), &logicaltest.InmemStorage{}); err != nil {
			t.Fatal(err)
		}
		c, err := sink.Apply("hook", nil, map[string]any{"type": "webhook", "url": rcv.URL, "secret": hmacKey})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.PutSink(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		_, err = d.Test(t.Context(), "hook", watch.SeverityHigh)
		d.Detach()
		if tc.deliver && err != nil {
			t.Errorf("networks %v: Test = %v, want delivered", tc.nets, err)
		}
		if !tc.deliver && (err == nil || !strings.Contains(err.Error(), "sink_networks")) {
			t.Errorf("networks %v: Test = %v, want refused naming sink_networks", tc.nets, err)
		}
	}
}

// TestWebhookHugeHeadersAreRefused: the answer's headers are bounded too
// (64 KiB), so a receiver cannot make each try hold megabytes.
func TestWebhookHugeHeadersAreRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 64 {
			w.Header().Set(fmt.Sprintf("X-Pad-%d", i), strings.Repeat("p", 16<<10))
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	h := newHarness(t)
	h.put(t, "hook", map[string]any{"type": "webhook", "url": srv.URL, "secret": hmacKey, "max_attempts": 1})
	if _, err := h.d.Test(t.Context(), "hook", watch.SeverityHigh); err == nil || !strings.Contains(err.Error(), "header") {
		t.Errorf("Test = %v, want the 1 MiB of headers refused", err)
	}
}
