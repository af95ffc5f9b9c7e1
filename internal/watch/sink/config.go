package sink

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/watch"
)

// Type is a sink's kind of delivery.
type Type string

// Sink types.
const (
	Webhook Type = "webhook"
	Slack   Type = "slack"
	Syslog  Type = "syslog"
	SMTP    Type = "smtp"
)

// STARTTLS modes of an SMTP sink.
const (
	StartTLSRequired = "required"
	StartTLSDisabled = "disabled"
)

// Syslog TCP framings (RFC 6587).
const (
	FramingOctet   = "octet-counting"
	FramingNewline = "newline"
)

// Defaults and bounds of the retry settings.
const (
	DefaultMaxAttempts = 5
	MaxMaxAttempts     = 20
	DefaultBackoff     = time.Second
	DefaultMaxBackoff  = 5 * time.Minute
	DefaultTimeout     = 10 * time.Second
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidName reports whether name may name a sink: letters, digits, ". _ -",
// at most 64 characters, starting with a letter or digit.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Config is one sink. Secret, Password and (for Slack, whose incoming
// webhook URL is itself the credential) URL are secrets: Public never
// shows them, and errors and logs never hold them. A Config is not
// changed once built; Apply returns a new one.
type Config struct {
	Name string
	Type Type
	// URL is where to deliver (see Endpoint); for Slack it is a secret.
	URL string
	// Secret is the webhook's HMAC-SHA256 key.
	Secret      sensitive.String
	MinSeverity watch.Severity
	// SMTP: envelope and header sender, recipients, AUTH PLAIN
	// credentials, STARTTLS mode.
	From     string
	To       []string
	Username string
	Password sensitive.String
	StartTLS string
	// CAFile is a PEM file of the CAs to trust (SMTP STARTTLS, HTTPS
	// webhooks, Slack) instead of the system's.
	CAFile string
	// Framing (syslog over TCP), Facility (syslog), and the syslog
	// APP-NAME are fixed per sink.
	Framing  string
	Facility int
	// Escalation: a critical alert still open EscalateAfter after it was
	// delivered here is sent to the sink named EscalateTo.
	EscalateAfter time.Duration
	EscalateTo    string
	// EscalationOnly: the sink receives no alert routed by severity, only
	// escalations (and the acknowledgement or resolution of what it got).
	EscalationOnly bool
	// Retries: at most MaxAttempts tries, waiting Backoff, 2*Backoff, ...
	// (at most MaxBackoff) between them; each try has Timeout.
	MaxAttempts int
	Backoff     time.Duration
	MaxBackoff  time.Duration
	Timeout     time.Duration
}

// Fields are the request fields of sys/watch/sinks/NAME.
var Fields = logical.Fields{
	{Name: "name", InPath: true, Description: "The sink's name: letters, digits, . _ - (at most 64)."},
	{Name: "type", Description: "webhook, slack, syslog or smtp. Fixed once created."},
	{Name: "url", Description: "webhook/slack: http(s) URL (a Slack URL is a credential: never returned); syslog: udp://host:port, tcp://host:port or unix:///path; smtp: smtp://host:port."},
	{Name: "secret", Description: "webhook: the HMAC-SHA256 key signing each delivery (at least 16 bytes). Never returned."},
	{Name: "min_severity", Description: "Lowest severity delivered: info, low, medium, high, critical.", Default: "info"},
	{Name: "from", Description: "smtp: the sender address."},
	{Name: "to", Type: logical.TypeSlice, Description: "smtp: the recipient addresses."},
	{Name: "username", Description: "smtp: the AUTH PLAIN user."},
	{Name: "password", Description: "smtp: the AUTH PLAIN password. Never returned."},
	{Name: "starttls", Description: "smtp: required (the default) or disabled (no credentials then).", Default: StartTLSRequired},
	{Name: "ca_file", Description: "PEM file of the CAs trusted for SMTP STARTTLS and HTTPS, instead of the system's."},
	{Name: "framing", Description: "syslog over tcp: octet-counting (the default) or newline.", Default: FramingOctet},
	{Name: "facility", Type: logical.TypeInt, Description: "syslog facility number (0 to 23).", Default: 10},
	{Name: "escalate_after", Type: logical.TypeDuration, Description: "Send a critical alert still open this long after delivery here to escalate_to (0: never)."},
	{Name: "escalate_to", Description: "The sink escalated to."},
	{Name: "escalation_only", Type: logical.TypeBool, Description: "Receive only escalations, nothing routed by severity.", Default: false},
	{Name: "max_attempts", Type: logical.TypeInt, Description: "Tries per delivery before it becomes a dead letter (1 to 20).", Default: DefaultMaxAttempts},
	{Name: "backoff", Type: logical.TypeDuration, Description: "Wait before the second try; doubled for each next one.", Default: "1s"},
	{Name: "max_backoff", Type: logical.TypeDuration, Description: "Longest wait between tries.", Default: "5m"},
	{Name: "timeout", Type: logical.TypeDuration, Description: "Time allowed for one try.", Default: "10s"},
}

// Apply returns the sink prev (nil to create one named name) with the
// fields in data applied, validated. A secret field left out keeps its
// value; an empty string clears it. Errors name fields, never values.
func Apply(name string, prev *Config, data map[string]any) (*Config, error) {
	if !ValidName(name) {
		return nil, logical.BadRequest("invalid sink name (letters, digits, . _ -, at most 64)")
	}
	if err := Fields.Unknown(data); err != nil {
		return nil, err
	}
	c := &Config{Name: name, MinSeverity: watch.SeverityInfo, StartTLS: StartTLSRequired, Framing: FramingOctet,
		Facility: 10, MaxAttempts: DefaultMaxAttempts, Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff,
		Timeout: DefaultTimeout}
	if prev != nil {
		*c = *prev
		c.To = slices.Clone(prev.To)
	}
	var errs []error
	str := func(key string, dst *string) {
		v, ok, err := logical.Str(data, key)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			*dst = strings.TrimSpace(v)
		}
	}
	secret := func(key string, dst *sensitive.String) {
		v, ok, err := logical.Str(data, key)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			*dst = sensitive.NewString(v)
		}
	}
	dur := func(key string, dst *time.Duration) {
		v, ok, err := logical.Duration(data, key)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			*dst = v
		}
	}
	num := func(key string, dst *int) {
		v, ok, err := logical.Int(data, key)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			*dst = v
		}
	}
	var typ string
	str("type", &typ)
	if typ != "" {
		if prev != nil && Type(typ) != prev.Type {
			errs = append(errs, logical.BadRequest("type: a sink's type cannot change (delete and create it)"))
		}
		c.Type = Type(typ)
	}
	if raw, ok, err := logical.Str(data, "url"); err != nil {
		errs = append(errs, err)
	} else if ok {
		c.URL = strings.TrimSpace(raw)
	}
	secret("secret", &c.Secret)
	var sev string
	str("min_severity", &sev)
	if sev != "" {
		s, err := watch.ParseSeverity(sev)
		if err != nil {
			errs = append(errs, logical.BadRequest("min_severity: want info, low, medium, high or critical"))
		}
		c.MinSeverity = s
	}
	str("from", &c.From)
	if to, ok, err := logical.Strings(data, "to"); err != nil {
		errs = append(errs, err)
	} else if ok {
		c.To = to
	}
	str("username", &c.Username)
	secret("password", &c.Password)
	str("starttls", &c.StartTLS)
	str("ca_file", &c.CAFile)
	str("framing", &c.Framing)
	num("facility", &c.Facility)
	dur("escalate_after", &c.EscalateAfter)
	str("escalate_to", &c.EscalateTo)
	if v, ok, err := logical.Bool(data, "escalation_only"); err != nil {
		errs = append(errs, err)
	} else if ok {
		c.EscalationOnly = v
	}
	num("max_attempts", &c.MaxAttempts)
	dur("backoff", &c.Backoff)
	dur("max_backoff", &c.MaxBackoff)
	dur("timeout", &c.Timeout)
	if len(errs) > 0 {
		return nil, logical.BadRequest("%s", errors.Join(errs...))
	}
	if _, given := data["password"]; prev != nil && prev.Type == SMTP && !given && !c.Password.Empty() && c.URL != prev.URL {
		// The stored password would go to a server the writer picked:
		// update on a sink must not reveal what a read never shows.
		return nil, logical.BadRequest("password: a new url needs the password again (a stored password is never sent to another server)")
	}
	if err := c.Validate(); err != nil {
		return nil, logical.BadRequest("%s", err)
	}
	return c, nil
}

// Validate reports every problem of c at once. Messages name fields,
// never values.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Type {
	case Webhook, Slack, Syslog, SMTP:
		if _, err := ParseEndpoint(c.Type, c.URL); err != nil {
			errs = append(errs, err)
		}
	case "":
		bad("type: missing (webhook, slack, syslog or smtp)")
	default:
		bad("type: want webhook, slack, syslog or smtp")
	}
	if c.MinSeverity < watch.SeverityInfo || c.MinSeverity > watch.SeverityCritical {
		bad("min_severity: want info, low, medium, high or critical")
	}
	if c.Type == Webhook {
		if n := len(c.Secret.Reveal()); n < 16 {
			bad("secret: the webhook's HMAC key must be at least 16 bytes")
		}
	} else if !c.Secret.Empty() {
		bad("secret: only a webhook sink has an HMAC key")
	}
	if c.Type == SMTP {
		if !validAddress(c.From) {
			bad("from: want one e-mail address")
		}
		if len(c.To) == 0 {
			bad("to: want at least one recipient")
		}
		for i, to := range c.To {
			if !validAddress(to) {
				bad("to: entry %d is not an e-mail address", i+1)
			}
		}
		switch c.StartTLS {
		case StartTLSRequired:
		case StartTLSDisabled:
			if c.Username != "" || !c.Password.Empty() {
				bad("starttls: credentials are never sent without TLS; remove username and password or require starttls")
			}
		default:
			bad("starttls: want required or disabled")
		}
		if (c.Username == "") != c.Password.Empty() {
			bad("username, password: set both or neither")
		}
	} else {
		if c.From != "" || len(c.To) > 0 || c.Username != "" || !c.Password.Empty() {
			bad("from, to, username, password: only an smtp sink has them")
		}
	}
	if c.CAFile != "" && (c.Type == Syslog || !strings.HasPrefix(c.CAFile, "/")) {
		bad("ca_file: want an absolute path, for smtp, webhook or slack sinks")
	}
	if c.Framing != FramingOctet && c.Framing != FramingNewline {
		bad("framing: want octet-counting or newline")
	}
	if c.Facility < 0 || c.Facility > 23 {
		bad("facility: want 0 to 23")
	}
	if c.EscalateAfter < 0 {
		bad("escalate_after: must not be negative")
	}
	if (c.EscalateAfter > 0) != (c.EscalateTo != "") {
		bad("escalate_after, escalate_to: set both or neither")
	}
	if c.EscalateTo != "" && !ValidName(c.EscalateTo) {
		bad("escalate_to: not a valid sink name")
	}
	if c.EscalateTo == c.Name && c.Name != "" {
		bad("escalate_to: a sink cannot escalate to itself")
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > MaxMaxAttempts {
		bad("max_attempts: want 1 to %d", MaxMaxAttempts)
	}
	if c.Backoff <= 0 || c.MaxBackoff < c.Backoff || c.MaxBackoff > 24*time.Hour {
		bad("backoff, max_backoff: want 0 < backoff <= max_backoff <= 24h")
	}
	if c.Timeout <= 0 || c.Timeout > 5*time.Minute {
		bad("timeout: want more than 0 and at most 5m")
	}
	return errors.Join(errs...)
}

func validAddress(s string) bool {
	if s == "" || strings.ContainsAny(s, "\r\n<>,; \t\"") {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1
}

// Endpoint is a parsed sink URL.
type Endpoint struct {
	// Network is "tcp", "udp" or "unix" for syslog and smtp; "" for HTTP.
	Network string
	// Addr is host:port (or the socket path for unix).
	Addr string
	// Host is the host name, for TLS verification.
	Host string
}

// ParseEndpoint checks raw as the URL of a sink of type t. The error never
// holds raw: a Slack URL is a credential, and any URL may carry one.
func ParseEndpoint(t Type, raw string) (Endpoint, error) {
	if raw == "" {
		return Endpoint{}, errors.New("url: missing")
	}
	if len(raw) > 2048 || strings.ContainsAny(raw, " \t\r\n\x00") {
		return Endpoint{}, errors.New("url: malformed")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Endpoint{}, errors.New("url: malformed")
	}
	if u.Fragment != "" || u.Opaque != "" {
		return Endpoint{}, errors.New("url: a fragment or opaque URL is not allowed")
	}
	hostPort := func(defPort string) (Endpoint, error) {
		host, port := u.Hostname(), u.Port()
		if host == "" {
			return Endpoint{}, errors.New("url: missing host")
		}
		if refusedHost(host) {
			return Endpoint{}, errRefusedAddr
		}
		if port == "" {
			if defPort == "" {
				return Endpoint{}, errors.New("url: missing port")
			}
			port = defPort
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return Endpoint{}, errors.New("url: bad port")
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return Endpoint{}, errors.New("url: want scheme://host:port, nothing more")
		}
		return Endpoint{Network: "tcp", Addr: net.JoinHostPort(host, port), Host: host}, nil
	}
	switch t {
	case Webhook, Slack:
		if u.Scheme != "https" && (u.Scheme != "http" || t == Slack) {
			if t == Slack {
				return Endpoint{}, errors.New("url: a slack webhook must be https")
			}
			return Endpoint{}, errors.New("url: want http or https")
		}
		if u.Hostname() == "" {
			return Endpoint{}, errors.New("url: missing host")
		}
		if refusedHost(u.Hostname()) {
			return Endpoint{}, errRefusedAddr
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return Endpoint{}, errors.New("url: bad port")
			}
		}
		return Endpoint{Host: u.Hostname()}, nil
	case Syslog:
		switch u.Scheme {
		case "udp", "tcp":
			e, err := hostPort("")
			e.Network = u.Scheme
			return e, err
		case "unix":
			if u.Host != "" || u.User != nil || u.RawQuery != "" || !strings.HasPrefix(u.Path, "/") {
				return Endpoint{}, errors.New("url: want unix:///absolute/path")
			}
			return Endpoint{Network: "unix", Addr: u.Path}, nil
		}
		return Endpoint{}, errors.New("url: want udp://host:port, tcp://host:port or unix:///path")
	case SMTP:
		if u.Scheme != "smtp" {
			return Endpoint{}, errors.New("url: want smtp://host:port")
		}
		return hostPort("587")
	}
	return Endpoint{}, errors.New("url: unknown sink type")
}

// errRefusedAddr is the error of a sink URL, or of a dial, to an address
// no sink may reach.
var errRefusedAddr = errors.New("url: a link-local (cloud metadata), unspecified or multicast address is refused")

var (
	// awsMetadataV6 is the IPv6 address of the EC2 instance-metadata
	// service (a unique-local address, so not link-local).
	awsMetadataV6 = netip.MustParseAddr("fd00:ec2::254")
	// nat64 embeds an IPv4 address in its last 32 bits.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// refusedAddr reports whether no sink may reach ip: link-local addresses
// (169.254.169.254 and the other instance-metadata and link-local
// services), the EC2 IPv6 metadata address, unspecified addresses (0.0.0.0
// and :: reach this host), multicast, and NAT64 spellings of these.
// Loopback and private addresses are allowed: a local syslog daemon or a
// mail relay is a sink's usual place (docs/watch.md, Where sinks may point).
func refusedAddr(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	return ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() || ip == awsMetadataV6
}

// refusedHost reports whether host is an IP literal refusedAddr refuses.
func refusedHost(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && refusedAddr(ip)
}

// errOutsideNetworks is the error of a dial outside the server config's
// watch.sink_networks.
var errOutsideNetworks = errors.New("the address is outside the networks sinks may reach (watch sink_networks in the server config)")

// dialControl returns the net.Dialer Control of every sink connection: it
// checks the address actually dialled, after name resolution, so a host
// name resolving to a refused address is refused too. When allowed is not
// empty the address must also be inside one of its prefixes.
func dialControl(allowed []netip.Prefix) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if strings.HasPrefix(network, "unix") {
			return nil
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return errRefusedAddr
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || refusedAddr(ip) {
			return errRefusedAddr
		}
		if len(allowed) == 0 {
			return nil
		}
		ip = ip.WithZone("").Unmap()
		for _, p := range allowed {
			if p.Contains(ip) {
				return nil
			}
		}
		return errOutsideNetworks
	}
}

// Public is what a read of the sink shows: every setting but the secrets,
// which are reported as set or not. A Slack URL is a secret; a webhook
// URL is shown with its user info and query values redacted.
func (c *Config) Public() map[string]any {
	out := map[string]any{
		"type":            string(c.Type),
		"min_severity":    c.MinSeverity.String(),
		"escalate_after":  int64(c.EscalateAfter / time.Second),
		"escalate_to":     c.EscalateTo,
		"escalation_only": c.EscalationOnly,
		"max_attempts":    c.MaxAttempts,
		"backoff":         int64(c.Backoff / time.Second),
		"max_backoff":     int64(c.MaxBackoff / time.Second),
		"timeout":         int64(c.Timeout / time.Second),
		"ca_file":         c.CAFile,
	}
	switch c.Type {
	case Webhook:
		out["url"] = redactURL(c.URL)
		out["secret_set"] = !c.Secret.Empty()
	case Slack:
		out["url_set"] = c.URL != ""
		out["secret_set"] = c.URL != ""
	case Syslog:
		out["url"] = c.URL
		out["framing"] = c.Framing
		out["facility"] = c.Facility
	case SMTP:
		out["url"] = c.URL
		out["from"] = c.From
		out["to"] = slices.Clone(c.To)
		out["username"] = c.Username
		out["password_set"] = !c.Password.Empty()
		out["secret_set"] = !c.Password.Empty()
		out["starttls"] = c.StartTLS
	}
	return out
}

// redactURL hides a URL's user info and query values.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[redacted]"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"redacted"}
		}
		u.RawQuery = q.Encode()
	}
	if u.User != nil {
		// A token is often given as the user name (https://TOKEN@host/).
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword("redacted", "redacted")
		} else {
			u.User = url.User("redacted")
		}
	}
	return u.String()
}

// secrets are the values of c that must never appear in an error, a log
// line or a payload (other than as what they are for).
func (c *Config) secrets() []string {
	var out []string
	for _, s := range []string{c.Secret.Reveal(), c.Password.Reveal()} {
		if s != "" {
			out = append(out, s)
		}
	}
	if c.Type == Slack && c.URL != "" {
		out = append(out, c.URL)
		if u, err := url.Parse(c.URL); err == nil && len(u.Path) > 1 {
			out = append(out, u.Path, strings.TrimPrefix(u.Path, "/"))
		}
	}
	if u, err := url.Parse(c.URL); err == nil {
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p)
		}
		if n := u.User.Username(); len(n) >= 6 {
			out = append(out, n)
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				if len(v) >= 6 {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// stored is a Config as persisted behind the barrier (secrets included).
type stored struct {
	Type           Type          `json:"type"`
	URL            string        `json:"url"`
	Secret         string        `json:"secret,omitempty"`
	MinSeverity    string        `json:"min_severity"`
	From           string        `json:"from,omitempty"`
	To             []string      `json:"to,omitempty"`
	Username       string        `json:"username,omitempty"`
	Password       string        `json:"password,omitempty"`
	StartTLS       string        `json:"starttls,omitempty"`
	CAFile         string        `json:"ca_file,omitempty"`
	Framing        string        `json:"framing,omitempty"`
	Facility       int           `json:"facility"`
	EscalateAfter  time.Duration `json:"escalate_after,omitempty"`
	EscalateTo     string        `json:"escalate_to,omitempty"`
	EscalationOnly bool          `json:"escalation_only,omitempty"`
	MaxAttempts    int           `json:"max_attempts"`
	Backoff        time.Duration `json:"backoff"`
	MaxBackoff     time.Duration `json:"max_backoff"`
	Timeout        time.Duration `json:"timeout"`
}

func (c *Config) toStored() stored {
	return stored{Type: c.Type, URL: c.URL, Secret: c.Secret.Reveal(), MinSeverity: c.MinSeverity.String(),
		From: c.From, To: c.To, Username: c.Username, Password: c.Password.Reveal(), StartTLS: c.StartTLS,
		CAFile: c.CAFile, Framing: c.Framing, Facility: c.Facility, EscalateAfter: c.EscalateAfter,
		EscalateTo: c.EscalateTo, EscalationOnly: c.EscalationOnly, MaxAttempts: c.MaxAttempts, Backoff: c.Backoff, MaxBackoff: c.MaxBackoff,
		Timeout: c.Timeout}
}

func (s stored) config(name string) (*Config, error) {
	sev, err := watch.ParseSeverity(s.MinSeverity)
	if err != nil {
		return nil, fmt.Errorf("sink %q: stored min_severity: %w", name, err)
	}
	c := &Config{Name: name, Type: s.Type, URL: s.URL, MinSeverity: sev, From: s.From, To: s.To,
		Username: s.Username, StartTLS: s.StartTLS, CAFile: s.CAFile, Framing: s.Framing, Facility: s.Facility,
		EscalateAfter: s.EscalateAfter, EscalateTo: s.EscalateTo, EscalationOnly: s.EscalationOnly, MaxAttempts: s.MaxAttempts, Backoff: s.Backoff,
		MaxBackoff: s.MaxBackoff, Timeout: s.Timeout}
	if s.Secret != "" {
		c.Secret = sensitive.NewString(s.Secret)
	}
	if s.Password != "" {
		c.Password = sensitive.NewString(s.Password)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("sink %q: stored settings: %w", name, err)
	}
	return c, nil
}

// String names the sink without its settings: its URL may be a secret.
func (c Config) String() string { return "sink " + c.Name + " (" + string(c.Type) + ")" }

// GoString is String: %#v must not print the URL either.
func (c Config) GoString() string { return c.String() }

// LogValue is String, for slog.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }
