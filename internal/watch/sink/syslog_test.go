package sink_test

import (
	"bufio"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/watch"
)

// rfc5424 matches the header of the messages Keyward sends.
var rfc5424 = regexp.MustCompile(`^<(\d+)>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z kw-test keyward - alert \[keyward@32473 id="([^"]*)" rule="bulk-read" severity="(\w+)" status="open" kind="raised" delivery="[0-9a-f-]+" count="1" identity="[^"]*"\] `)

func checkSyslog(t *testing.T, msg string, wantPRI int, wantID string) {
	t.Helper()
	m := rfc5424.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("not the expected RFC 5424 message: %q", msg)
	}
	if pri, _ := strconv.Atoi(m[1]); pri != wantPRI || m[2] != wantID {
		t.Errorf("PRI %s id %s, want %d %s: %q", m[1], m[2], wantPRI, wantID, msg)
	}
	if !strings.HasSuffix(msg, "jwt-ci read 120 distinct secrets in 60s") {
		t.Errorf("message lacks the summary: %q", msg)
	}
}

func TestSyslogUDP(t *testing.T) {
	h := newHarness(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	h.put(t, "sys", map[string]any{"type": "syslog", "url": "udp://" + pc.LocalAddr().String(), "facility": 4})
	h.d.Notify(alert("u1", watch.SeverityCritical))
	buf := make([]byte, 8192)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	checkSyslog(t, string(buf[:n]), 4*8+2, "u1") // auth.crit
}

// tcpSyslog accepts connections and collects what each sent.
func tcpSyslog(t *testing.T, network, addr string) (net.Listener, func() []string) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b := new(strings.Builder)
				_, _ = bufio.NewReader(c).WriteTo(b)
				mu.Lock()
				got = append(got, b.String())
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

func TestSyslogTCPOctetCounting(t *testing.T) {
	h := newHarness(t)
	ln, got := tcpSyslog(t, "tcp", "127.0.0.1:0")
	h.put(t, "sys", map[string]any{"type": "syslog", "url": "tcp://" + ln.Addr().String()})
	h.d.Notify(alert("t1", watch.SeverityMedium))
	clocktest.Eventually(t, "the message", func() bool { return len(got()) == 1 })
	frame := got()[0]
	n, msg, ok := strings.Cut(frame, " ")
	if l, err := strconv.Atoi(n); !ok || err != nil || l != len(msg) {
		t.Fatalf("frame %q: length prefix %q does not match %d bytes", frame, n, len(msg))
	}
	checkSyslog(t, msg, 10*8+4, "t1") // authpriv.warning (the default facility)
}

func TestSyslogTCPNewline(t *testing.T) {
	h := newHarness(t)
	ln, got := tcpSyslog(t, "tcp", "127.0.0.1:0")
	h.put(t, "sys", map[string]any{"type": "syslog", "url": "tcp://" + ln.Addr().String(), "framing": "newline"})
	h.d.Notify(alert("t2", watch.SeverityInfo))
	clocktest.Eventually(t, "the message", func() bool { return len(got()) == 1 })
	frame := got()[0]
	if !strings.HasSuffix(frame, "\n") || strings.Count(frame, "\n") != 1 {
		t.Fatalf("frame %q: want one line", frame)
	}
	checkSyslog(t, strings.TrimSuffix(frame, "\n"), 10*8+6, "t2")
}

func TestSyslogUnixSocket(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(t.TempDir(), "log.sock")
	pc, err := net.ListenPacket("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	h.put(t, "sys", map[string]any{"type": "syslog", "url": "unix://" + path})
	h.d.Notify(alert("x1", watch.SeverityHigh))
	buf := make([]byte, 8192)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	checkSyslog(t, string(buf[:n]), 10*8+3, "x1")

	// A stream socket works too (octet-counted).
	spath := filepath.Join(t.TempDir(), "stream.sock")
	_, got := tcpSyslog(t, "unix", spath)
	h.put(t, "sys2", map[string]any{"type": "syslog", "url": "unix://" + spath, "min_severity": "critical"})
	h.d.Notify(alert("x2", watch.SeverityCritical))
	clocktest.Eventually(t, "the stream message", func() bool { return len(got()) == 1 })
	_, msg, _ := strings.Cut(got()[0], " ")
	checkSyslog(t, msg, 10*8+2, "x2")
}
