package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// permanentError is a failure a retry cannot fix (the receiver refused the
// request as malformed or unauthorized): the delivery goes straight to the
// dead letters.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// IsPermanent reports whether err says retrying is pointless.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// sender makes one try of a delivery.
type sender struct {
	now  func() time.Time
	host string // this server's name, for syslog and mail
	// control checks every address dialled (dialControl).
	control func(network, address string, c syscall.RawConn) error
}

// send makes one try of d to c, bounded by c.Timeout. The error it returns
// is safe to log and show: it holds none of c's secrets.
func (s *sender) send(ctx context.Context, c *Config, d *Delivery) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var err error
	switch c.Type {
	case Webhook, Slack:
		err = s.sendHTTP(ctx, c, d)
	case Syslog:
		err = s.sendSyslog(ctx, c, d)
	case SMTP:
		err = s.sendMail(ctx, c, d)
	default:
		err = &permanentError{"unknown sink type"}
	}
	if err == nil {
		return nil
	}
	msg := redact(errText(err), c.secrets())
	if IsPermanent(err) {
		return &permanentError{msg}
	}
	return errors.New(msg)
}

// errText is err's message without the URL a *url.Error quotes (a Slack
// URL is a credential).
func errText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return strings.ToLower(ue.Op) + ": timed out"
		}
		return strings.ToLower(ue.Op) + ": " + errText(ue.Err)
	}
	return err.Error()
}

// redact replaces each secret in msg.
func redact(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}

// maxAnswerHeader bounds the headers of a webhook's or Slack's answer
// (the default is 10 MiB); its body is read to at most 64 KiB.
const maxAnswerHeader = 64 << 10

// maxCAFile bounds a ca_file: a bundle of every public CA is ~250 KiB.
const maxCAFile = 1 << 20

// readCAFile reads a regular file of at most maxCAFile bytes. It opens
// without blocking and refuses anything else (a FIFO would block the try,
// /dev/zero would be read without end).
func readCAFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &permanentError{"ca_file: cannot read the file"}
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, &permanentError{"ca_file: not a regular file"}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxCAFile+1))
	if err != nil {
		return nil, &permanentError{"ca_file: cannot read the file"}
	}
	if len(b) > maxCAFile {
		return nil, &permanentError{"ca_file: larger than 1 MiB"}
	}
	return b, nil
}

func tlsConfig(c *Config, serverName string) (*tls.Config, error) {
	tc := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := readCAFile(c.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &permanentError{"ca_file: no PEM certificate in the file"}
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func (s *sender) sendHTTP(ctx context.Context, c *Config, d *Delivery) error {
	var body []byte
	var err error
	if c.Type == Slack {
		body, err = SlackBody(d)
	} else {
		body, err = WebhookBody(d)
	}
	if err != nil {
		return &permanentError{"encode payload: " + err.Error()}
	}
	ep, err := ParseEndpoint(c.Type, c.URL)
	if err != nil {
		return &permanentError{err.Error()}
	}
	tc, err := tlsConfig(c, ep.Host)
	if err != nil {
		return err
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: tc, DisableKeepAlives: true,
		DialContext: (&net.Dialer{Timeout: c.Timeout, Control: s.control}).DialContext, ForceAttemptHTTP2: true,
		MaxResponseHeaderBytes: maxAnswerHeader}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr,
		// A redirect would take the signed body elsewhere: refuse it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return &permanentError{"build request: malformed url"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "keyward-alerts/1")
	if c.Type == Webhook {
		ts := strconv.FormatInt(s.now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign([]byte(c.Secret.Reveal()), ts, body))
		req.Header.Set(HeaderDelivery, d.ID)
		req.Header.Set(HeaderEvent, "alert."+string(d.Kind))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return fmt.Errorf("endpoint answered %d", code)
	default:
		// The body is not quoted: a receiver may echo what it was sent.
		return &permanentError{fmt.Sprintf("endpoint answered %d", code)}
	}
}

func (s *sender) sendSyslog(ctx context.Context, c *Config, d *Delivery) error {
	ep, err := ParseEndpoint(Syslog, c.URL)
	if err != nil {
		return &permanentError{err.Error()}
	}
	msg := SyslogMessage(d, c.Facility, s.host, s.now())
	dialer := net.Dialer{Control: s.control}
	network := ep.Network
	if network == "unix" {
		network = "unixgram" // /dev/log is a datagram socket
	}
	conn, err := dialer.DialContext(ctx, network, ep.Addr)
	if err != nil && ep.Network == "unix" && errors.Is(err, syscall.EPROTOTYPE) {
		network = "unix"
		conn, err = dialer.DialContext(ctx, network, ep.Addr)
	}
	if err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	defer conn.Close()
	bound(ctx, conn)
	frame := msg
	if network == "tcp" || network == "unix" {
		if c.Framing == FramingNewline {
			frame = append(bytes.ReplaceAll(msg, []byte("\n"), []byte(" ")), '\n')
		} else {
			frame = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
		}
	}
	if _, err := conn.Write(frame); err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	return nil
}

func (s *sender) sendMail(ctx context.Context, c *Config, d *Delivery) error {
	ep, err := ParseEndpoint(SMTP, c.URL)
	if err != nil {
		return &permanentError{err.Error()}
	}
	dialer := net.Dialer{Control: s.control}
	conn, err := dialer.DialContext(ctx, "tcp", ep.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	defer conn.Close()
	bound(ctx, conn)
	cl, err := smtp.NewClient(conn, ep.Host)
	if err != nil {
		return smtpErr("greeting", err)
	}
	defer cl.Close()
	host := s.host
	if host == "" || strings.ContainsAny(host, " \r\n") {
		host = "localhost"
	}
	if err := cl.Hello(host); err != nil {
		return smtpErr("hello", err)
	}
	if c.StartTLS == StartTLSRequired {
		if ok, _ := cl.Extension("STARTTLS"); !ok {
			return fmt.Errorf("smtp: the server does not offer STARTTLS, which this sink requires")
		}
		tc, err := tlsConfig(c, ep.Host)
		if err != nil {
			return err
		}
		if err := cl.StartTLS(tc); err != nil {
			return smtpErr("starttls", err)
		}
	}
	if c.Username != "" {
		if ok, _ := cl.Extension("AUTH"); !ok {
			return &permanentError{"smtp: the server does not offer AUTH"}
		}
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password.Reveal(), ep.Host)); err != nil {
			return smtpErr("auth", err)
		}
	}
	if err := cl.Mail(c.From); err != nil {
		return smtpErr("mail from", err)
	}
	for _, to := range c.To {
		if err := cl.Rcpt(to); err != nil {
			return smtpErr("rcpt to", err)
		}
	}
	w, err := cl.Data()
	if err != nil {
		return smtpErr("data", err)
	}
	if _, err := w.Write(MailMessage(d, c.From, c.To, host, s.now())); err != nil {
		return smtpErr("data", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("data", err)
	}
	if err := cl.Quit(); err != nil {
		return smtpErr("quit", err)
	}
	return nil
}

// smtpErr is err at an SMTP stage. An answer that is no SMTP reply is not
// quoted: the sink may point at another kind of service, whose banner is
// not for the caller to read through the sink.
func smtpErr(stage string, err error) error {
	var pe textproto.ProtocolError
	if errors.As(err, &pe) {
		return fmt.Errorf("smtp: %s: the server's answer is not an SMTP reply", stage)
	}
	return fmt.Errorf("smtp: %s: %w", stage, err)
}

// bound ends conn's blocking reads and writes at ctx's deadline or as soon
// as ctx is cancelled (a seal must not wait for a slow server).
func bound(ctx context.Context, conn net.Conn) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
}
