package sink_test

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/watch"
)

// mail is one message the test SMTP server accepted.
type mail struct {
	From   string
	To     []string
	Data   string
	TLS    bool
	AuthAs string
}

// smtpServer is a small SMTP server in the test: EHLO, STARTTLS (unless
// noTLS), AUTH PLAIN (checking user and pass), MAIL, RCPT, DATA, QUIT.
type smtpServer struct {
	Addr       string
	ln         net.Listener
	tls        *tls.Config
	user, pass string
	noTLS      bool
	mu         sync.Mutex
	mails      []mail
	sessions   []string // every line the clients sent, for sweeps
	wg         sync.WaitGroup
}

func newSMTPServer(t testing.TB, ca testCA, user, pass string, noTLS bool) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{Addr: ln.Addr().String(), ln: ln, user: user, pass: pass, noTLS: noTLS,
		tls: &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpServer) Mails() []mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mail(nil), s.mails...)
}

func (s *smtpServer) Sessions() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.sessions, "\n")
}

func (s *smtpServer) serve(c net.Conn) {
	defer func() { c.Close() }()
	tp := textproto.NewConn(c)
	_ = tp.PrintfLine("220 sinktest ESMTP")
	var m mail
	isTLS := false
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.sessions = append(s.sessions, line)
		s.mu.Unlock()
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			lines := []string{"sinktest"}
			if !s.noTLS && !isTLS {
				lines = append(lines, "STARTTLS")
			}
			if isTLS || s.noTLS {
				lines = append(lines, "AUTH PLAIN")
			}
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				_ = tp.PrintfLine("250%s%s", sep, l)
			}
		case "STARTTLS":
			if s.noTLS || isTLS {
				_ = tp.PrintfLine("502 not offered")
				continue
			}
			_ = tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, isTLS = tc, true
			tp = textproto.NewConn(tc)
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				_ = tp.PrintfLine("504 unknown mechanism")
				continue
			}
			if resp == "" {
				_ = tp.PrintfLine("334 ")
				if resp, err = tp.ReadLine(); err != nil {
					return
				}
			}
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass {
				_ = tp.PrintfLine("535 authentication failed")
				continue
			}
			m.AuthAs = parts[1]
			_ = tp.PrintfLine("235 ok")
		case "MAIL":
			m.From = strings.Trim(strings.TrimPrefix(arg, "FROM:"), "<>")
			_ = tp.PrintfLine("250 ok")
		case "RCPT":
			m.To = append(m.To, strings.Trim(strings.TrimPrefix(arg, "TO:"), "<>"))
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 send it")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.Data, m.TLS = string(data), isTLS
			s.mu.Lock()
			s.mails = append(s.mails, m)
			s.mu.Unlock()
			m = mail{AuthAs: m.AuthAs}
			_ = tp.PrintfLine("250 queued")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		case "RSET", "NOOP":
			_ = tp.PrintfLine("250 ok")
		default:
			_ = tp.PrintfLine("500 what")
		}
	}
}

func TestSMTPOverSTARTTLS(t *testing.T) {
	h := newHarness(t)
	ca := newTestCA(t)
	pass := randomText("smtp-pass-")
	srv := newSMTPServer(t, ca, "alerts@example.test", pass, false)
	h.put(t, "mail", map[string]any{"type": "smtp", "url": "smtp://" + srv.Addr, "from": "keyward@example.test",
		"to": []any{"oncall@example.test", "sec@example.test"}, "username": "alerts@example.test", "password": pass,
		"ca_file": ca.CAFile})
	h.d.Notify(alert("mail-1", watch.SeverityCritical))
	clocktest.Eventually(t, "the mail", func() bool { return len(srv.Mails()) == 1 })
	m := srv.Mails()[0]
	if !m.TLS || m.AuthAs != "alerts@example.test" {
		t.Errorf("mail TLS = %v, auth = %q; want TLS and the user", m.TLS, m.AuthAs)
	}
	if m.From != "keyward@example.test" || len(m.To) != 2 || m.To[1] != "sec@example.test" {
		t.Errorf("envelope = %q -> %v", m.From, m.To)
	}
	for _, want := range []string{"Subject: [CRITICAL] keyward alert bulk-read: jwt-ci read 120 distinct secrets in 60s",
		"Content-Type: text/plain; charset=utf-8", "Alert:     mail-1", "display_name=jwt-ci", "repository=acme/app",
		"paths: secret/data/prod/*"} {
		if !strings.Contains(m.Data, want) {
			t.Errorf("mail lacks %q:\n%s", want, m.Data)
		}
	}
	if strings.Contains(srv.Sessions()+m.Data, pass) {
		t.Error("the SMTP password appears in clear in the session (it must travel only base64 inside TLS)")
	}
}

func TestSMTPRefusesServerWithoutSTARTTLS(t *testing.T) {
	h := newHarness(t)
	ca := newTestCA(t)
	pass := randomText("smtp-pass-")
	srv := newSMTPServer(t, ca, "u", pass, true)
	h.put(t, "mail", map[string]any{"type": "smtp", "url": "smtp://" + srv.Addr, "from": "keyward@example.test",
		"to": "oncall@example.test", "username": "u", "password": pass, "max_attempts": 1})
	h.d.Notify(alert("mail-2", watch.SeverityHigh))
	clocktest.Eventually(t, "the dead letter", func() bool { return h.d.Stats().DeadLettered == 1 })
	if n := len(srv.Mails()); n != 0 {
		t.Fatalf("server got %d mails without TLS", n)
	}
	if strings.Contains(srv.Sessions(), "AUTH") {
		t.Error("credentials were offered over plain text")
	}
	ids, _ := h.d.DeadLetters()
	dl, _ := h.d.DeadLetter(t.Context(), ids[0])
	if !strings.Contains(dl.Error, "STARTTLS") {
		t.Errorf("dead letter error = %q, want it to name STARTTLS", dl.Error)
	}
}

func TestSMTPVerifiesTheCertificate(t *testing.T) {
	h := newHarness(t)
	ca, other := newTestCA(t), newTestCA(t)
	srv := newSMTPServer(t, ca, "u", "p", false)
	// The sink trusts another CA: the handshake must fail, no mail sent.
	h.put(t, "mail", map[string]any{"type": "smtp", "url": "smtp://" + srv.Addr, "from": "k@example.test",
		"to": "o@example.test", "ca_file": other.CAFile, "max_attempts": 1})
	h.d.Notify(alert("mail-3", watch.SeverityHigh))
	clocktest.Eventually(t, "the dead letter", func() bool { return h.d.Stats().DeadLettered == 1 })
	if n := len(srv.Mails()); n != 0 {
		t.Fatalf("server got %d mails over an unverified TLS", n)
	}
}

func TestSMTPWithoutTLSWhenDisabled(t *testing.T) {
	h := newHarness(t)
	srv := newSMTPServer(t, newTestCA(t), "", "", true)
	h.put(t, "mail", map[string]any{"type": "smtp", "url": "smtp://" + srv.Addr, "from": "k@example.test",
		"to": "o@example.test", "starttls": "disabled"})
	h.d.Notify(alert("mail-4", watch.SeverityHigh))
	clocktest.Eventually(t, "the mail", func() bool { return len(srv.Mails()) == 1 })
	if srv.Mails()[0].TLS {
		t.Error("TLS with starttls disabled")
	}
}

func TestSealDoesNotWaitForASlowServer(t *testing.T) {
	h := newHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c // and never greet
		}
	}()
	h.put(t, "mail", map[string]any{"type": "smtp", "url": "smtp://" + ln.Addr().String(), "from": "k@example.test",
		"to": "o@example.test", "timeout": "5m"})
	h.d.Notify(alert("slow", watch.SeverityHigh))
	c := <-accepted
	defer c.Close()
	h.d.Detach() // returns once the try is cancelled, not after 5m
	if s := h.d.Stats(); s.Dropped != 1 || s.Delivered != 0 {
		t.Errorf("stats = %+v, want the cancelled delivery dropped", s)
	}
}
