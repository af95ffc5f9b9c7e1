package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
	"github.com/keyward/keyward/internal/sensitive"
)

// Handler is the core's request entry point. It is called concurrently.
type Handler interface {
	HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error)
}

// Config bounds what the API accepts. The zero value is usable: every zero
// field takes the default named in its comment.
type Config struct {
	// MaxRequestSize caps a request body in bytes (32 MiB).
	MaxRequestSize int64
	// MaxUnauthenticatedRequestSize caps the body of a request served
	// without a client token (64 KiB, and never more than MaxRequestSize):
	// one without a token header, or to a route the core serves without
	// one (logins, unwrap, unseal, init, root generation), whatever
	// headers it carries, and one whose token the core does not know
	// (see tokenChecker). It is decided from the headers and the route
	// before any byte is read.
	MaxUnauthenticatedRequestSize int64
	// MaxInFlightBodyBytes bounds the memory of all request bodies being
	// read and handled at once (256 MiB): each body is charged its buffer
	// as it grows and six bytes per byte read plus 160 per JSON value for
	// decoding. It is never less than what one body of MaxRequestSize
	// with MaxJSONValues values costs (about 239 MiB for the defaults). A
	// request whose body no longer fits is answered 503 with Retry-After.
	MaxInFlightBodyBytes int64
	// MaxJSONDepth caps the nesting of arrays and objects in a body (300).
	MaxJSONDepth int
	// MaxJSONValues caps the object keys plus values of every kind (strings,
	// numbers, literals, arrays, objects) in a body (100,000). It bounds the
	// memory a body can expand into once decoded.
	MaxJSONValues int
	// RateLimit, when positive, caps each client address at this many
	// requests per second (burst RateBurst) before any body is read; over
	// it the answer is 429 with Retry-After. sys/health and sys/seal-status
	// are exempt, so monitoring keeps working.
	RateLimit float64
	RateBurst int
	// Forward, when set, sends the requests a standby node cannot serve to
	// the active node (see Forwarder).
	Forward Forwarder
}

// Forwarder carries requests from a standby node to the active one.
type Forwarder interface {
	// Standby reports whether this node is a standby now.
	Standby() bool
	// Forward sends r to the active node and writes its answer to w;
	// client is the client address this listener resolved (trusted
	// proxies applied), which the active node uses as the client's.
	Forward(w http.ResponseWriter, r *http.Request, client string)
}

// standbyLocal are the paths a standby answers itself: its own health,
// seal state and unsealing, who leads, and joining a cluster.
func standbyLocal(path string) bool {
	switch path {
	case "sys/health", "sys/seal-status", "sys/leader", "sys/unseal", "sys/init", "sys/storage/raft/join":
		return true
	}
	return false
}

// streamsBody reports whether the request's body is a stream for its
// handler rather than JSON: a snapshot restore.
func streamsBody(path string, op logical.Operation) bool {
	switch path {
	case "sys/storage/raft/snapshot", "sys/storage/raft/snapshot-force":
		return op == logical.UpdateOperation || op == logical.CreateOperation
	}
	return false
}

// maxOCSPBody bounds an OCSP request body.
const maxOCSPBody = 64 << 10

// ocspBody reports whether r is an OCSP POST (to a path ending in
// "/ocsp", with the OCSP media type), whose DER body the pki engine reads
// itself.
func ocspBody(r *http.Request, path string, op logical.Operation) bool {
	if op != logical.UpdateOperation && op != logical.CreateOperation || !strings.HasSuffix(path, "/ocsp") {
		return false
	}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "application/ocsp-request")
}

// backendHeaders are the response headers a backend may set (with a Raw
// body): those ACME needs. Any other is dropped.
var backendHeaders = map[string]bool{"Replay-Nonce": true, "Location": true, "Link": true, "Retry-After": true}

// maxJOSEBody bounds an ACME request body (a JWS in flattened JSON).
const maxJOSEBody = 64 << 10

// joseBody reports whether r is an ACME POST (RFC 8555 section 6.2: a
// path with an "acme/" segment, with the JOSE media type), whose JWS the
// pki engine verifies itself from the raw bytes.
func joseBody(r *http.Request, path string, op logical.Operation) bool {
	if op != logical.UpdateOperation && op != logical.CreateOperation ||
		!strings.HasPrefix(path, "acme/") && !strings.Contains(path, "/acme/") {
		return false
	}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "application/jose+json")
}

type forwardedKey struct{}

// ServeForwarded serves a request a standby forwarded: client is the
// address the standby resolved, which stands as the client's own. The
// request is never forwarded again, so a node that has become a standby
// meanwhile answers 503 and the client retries.
func (a *API) ServeForwarded(w http.ResponseWriter, r *http.Request, client string) {
	r = r.WithContext(context.WithValue(r.Context(), forwardedKey{}, true))
	if ip, err := netip.ParseAddr(client); err == nil {
		r.RemoteAddr = netip.AddrPortFrom(ip, 0).String()
	} else {
		r.RemoteAddr = client
	}
	a.serve(w, r, &a.direct)
}

// Defaults for zero Config fields.
const (
	DefaultMaxRequestSize                = 32 << 20
	DefaultMaxUnauthenticatedRequestSize = 64 << 10
	DefaultMaxInFlightBodyBytes          = 256 << 20
	DefaultMaxJSONDepth                  = 300
	DefaultMaxJSONValues                 = 100_000
)

// MaxPathLength caps a request's path plus query in bytes, counted after
// percent-decoding; longer requests get 414 before routing.
const MaxPathLength = 4096

// maxTokenLength bounds the token header; real tokens are far shorter.
const maxTokenLength = 4096

func (c Config) withDefaults() Config {
	if c.MaxRequestSize <= 0 {
		c.MaxRequestSize = DefaultMaxRequestSize
	}
	if c.MaxUnauthenticatedRequestSize <= 0 {
		c.MaxUnauthenticatedRequestSize = DefaultMaxUnauthenticatedRequestSize
	}
	c.MaxUnauthenticatedRequestSize = min(c.MaxUnauthenticatedRequestSize, c.MaxRequestSize)
	if c.MaxInFlightBodyBytes <= 0 {
		c.MaxInFlightBodyBytes = DefaultMaxInFlightBodyBytes
	}
	if c.MaxJSONDepth <= 0 {
		c.MaxJSONDepth = DefaultMaxJSONDepth
	}
	if c.MaxJSONValues <= 0 {
		c.MaxJSONValues = DefaultMaxJSONValues
	}
	c.MaxInFlightBodyBytes = max(c.MaxInFlightBodyBytes, maxBodyCost(c.MaxRequestSize, c.MaxJSONValues))
	return c
}

// API serves the Vault-compatible HTTP API. It implements http.Handler and
// is safe for concurrent use.
type API struct {
	core   Handler
	cfg    Config
	lim    limits // for requests with a client token
	anon   limits // for requests served without one
	budget bodyBudget
	logger *slog.Logger
	mux    *http.ServeMux
	rl     *clientLimiter // nil without a rate limit
	// direct holds the listener settings ServeHTTP uses (the defaults: no
	// trusted proxies); each Server has its own.
	direct Listener
}

// New returns an API that sends requests under /v1/ to h. A nil logger
// discards logs.
func New(h Handler, cfg Config, logger *slog.Logger) *API {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	lim := limits{maxBytes: cfg.MaxRequestSize, maxDepth: cfg.MaxJSONDepth, maxValues: cfg.MaxJSONValues}
	anon := lim
	anon.maxBytes = cfg.MaxUnauthenticatedRequestSize
	a := &API{
		core:   h,
		cfg:    cfg,
		lim:    lim,
		anon:   anon,
		budget: bodyBudget{max: cfg.MaxInFlightBodyBytes},
		logger: logger.With("component", "httpapi"),
		mux:    http.NewServeMux(),
		direct: Listener{}.withDefaults(),
	}
	if cfg.RateLimit > 0 {
		a.rl = newClientLimiter(cfg.RateLimit, cfg.RateBurst)
	}
	return a
}

// Handle registers h for pattern (http.ServeMux syntax) outside /v1/, for
// the UI and similar. Requests under /v1/ always go to the core; Handle
// panics if pattern would shadow them, as ServeMux panics on conflicts.
// Handle must be called before serving.
func (a *API) Handle(pattern string, h http.Handler) {
	p := pattern
	if _, rest, ok := strings.Cut(p, " "); ok { // "GET /ui/"
		p = rest
	}
	if i := strings.IndexByte(p, '/'); i > 0 { // "host/path"
		p = p[i:]
	}
	if strings.HasPrefix(p, "/v1/") || p == "/v1" {
		panic(fmt.Sprintf("httpapi: pattern %q overlaps /v1/", pattern))
	}
	a.mux.Handle(pattern, h)
}

// ServeHTTP implements http.Handler with the default listener settings:
// no proxy is trusted. Servers from a.Server use their listener's.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.serve(w, r, &a.direct)
}

// serve handles one request arriving on a listener with settings l.
func (a *API) serve(w http.ResponseWriter, r *http.Request, l *Listener) {
	if r.ProtoMajor == 1 && (r.ProtoMinor == 0 || len(r.TransferEncoding) > 0) {
		closeAfterFraming(w)
	}
	if decodedLen(r.URL) > MaxPathLength {
		// Before routing, logging or audit: the path is never repeated.
		writeErrors(w, r, http.StatusRequestURITooLong, "request path too long")
		return
	}
	raw := r.URL.EscapedPath()
	if !strings.HasPrefix(raw, "/v1/") {
		if _, pattern := a.mux.Handler(r); pattern != "" {
			a.mux.ServeHTTP(w, r)
			return
		}
		writeErrors(w, r, http.StatusNotFound)
		return
	}
	id := newRequestID()
	defer a.recoverPanic(w, r, id)
	// Keep the slash after /v1: CleanRawPath strips exactly one, so
	// "/v1//secret" is refused as an empty segment.
	a.serveLogical(w, r, l, id, raw[len("/v1"):])
}

// decodedLen is the length of u's path and query once percent-decoded.
// u.Path is already decoded; each valid escape in the query shrinks by two.
func decodedLen(u *url.URL) int {
	n := len(u.Path)
	if q := u.RawQuery; q != "" {
		n += len(q) - 2*strings.Count(q, "%")
	}
	return n
}

// closeAfterFraming ends the connection after this response when the
// request's framing may not be what a proxy in front of us saw (RFC 9112
// section 6.3): net/http drops a Content-Length sent beside
// Transfer-Encoding: chunked, and drops Transfer-Encoding from HTTP/1.0
// requests, before a handler can see either. Both are smuggling shapes, so
// every chunked request and every HTTP/1.0 request closes its connection;
// nothing pipelined behind it is read.
func closeAfterFraming(w http.ResponseWriter) {
	w.Header()["Connection"] = connClose
}

var (
	connClose  = []string{"close"}
	retryAfter = []string{"1"}
)

// recoverPanic turns a panic in the core into a 500. It logs the panic's
// type and stack, never its value or the request, which may hold secrets.
func (a *API) recoverPanic(w http.ResponseWriter, r *http.Request, id string) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	a.logger.Error("panic serving request", "request_id", id, "method", r.Method,
		"panic_type", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
	writeErrors(w, r, http.StatusInternalServerError, "internal error; request id "+id)
}

// serveLogical handles one /v1/ request; rawPath is the still-escaped path
// after /v1, starting with "/".
func (a *API) serveLogical(w http.ResponseWriter, r *http.Request, l *Listener, id, rawPath string) {
	path, err := policy.CleanRawPath(rawPath)
	if err != nil {
		writeErrors(w, r, http.StatusBadRequest, "invalid request path")
		return
	}
	// The quota comes before the body is read, so a flood of large or
	// complex bodies is turned away cheaply (T02).
	if a.rl != nil && path != "sys/health" && path != "sys/seal-status" && !a.rl.allow(l.clientIP(r), time.Now()) {
		w.Header().Set("Retry-After", "1")
		writeErrors(w, r, http.StatusTooManyRequests, "request rate limit exceeded")
		return
	}
	if f := a.cfg.Forward; f != nil && !standbyLocal(path) && r.Context().Value(forwardedKey{}) == nil && f.Standby() {
		if path == "sys/seal" {
			writeErrors(w, r, http.StatusBadRequest, "this node is a standby: seal the active node, or stop this one")
			return
		}
		f.Forward(w, r, l.clientIP(r))
		return
	}
	var query url.Values
	if r.URL.RawQuery != "" {
		if query, err = parseQuery(r.URL.RawQuery); err != nil {
			a.respondError(w, r, &logical.Request{ID: id}, err)
			return
		}
	}
	op, status, msg := a.operation(r, query)
	if status != 0 {
		if status == http.StatusMethodNotAllowed {
			w.Header()["Allow"] = allowed
		}
		writeErrors(w, r, status, msg)
		return
	}
	if op == logical.ListOperation && !strings.HasSuffix(path, "/") {
		path += "/"
	}
	req := &logical.Request{ID: id, Operation: op, Path: path}
	if status, msg := a.fillRequest(r, l, req); status != 0 {
		writeErrors(w, r, status, msg)
		return
	}
	claim := bodyClaim{budget: &a.budget}
	defer claim.release()
	if streamsBody(path, op) {
		// The handler reads the body itself, after the core has checked
		// the token and the ACL; it is never decoded or buffered here.
		req.Body = r.Body
		req.Data = map[string]any{}
	} else if ocspBody(r, path, op) {
		// An OCSP POST (RFC 6960 appendix A) carries DER, not JSON; the
		// pki engine reads it, bounded here.
		req.Body = http.MaxBytesReader(w, r.Body, maxOCSPBody)
		req.Data = map[string]any{}
	} else if joseBody(r, path, op) {
		// An ACME request is a JWS whose signature covers its exact
		// bytes; the pki engine parses and verifies it, bounded here.
		req.Body = http.MaxBytesReader(w, r.Body, maxJOSEBody)
		req.Data = map[string]any{}
	} else if err := a.readData(w, r, req, query, &claim); err != nil {
		a.respondError(w, r, req, err)
		return
	}
	resp, err := a.core.HandleRequest(r.Context(), req)
	if req.Token != nil {
		// The core accepted the token: the connection has proved itself
		// and keeps the listener's full keep-alive.
		markAuthenticated(r.Context())
	}
	if err != nil {
		a.respondError(w, r, req, err)
		return
	}
	a.respond(w, r, req, resp)
}

var allowed = []string{"GET, HEAD, LIST, POST, PUT, PATCH, DELETE"}

// operation maps the method (and ?list, ?help) to an operation. A non-zero
// status means the request is refused with msg.
func (a *API) operation(r *http.Request, q url.Values) (op logical.Operation, status int, msg string) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		op = logical.ReadOperation
		if q != nil {
			if v, ok := q["list"]; ok {
				list, err := parseBoolParam(v)
				if err != nil {
					return "", http.StatusBadRequest, "invalid value for list parameter"
				}
				if list {
					op = logical.ListOperation
				}
			}
			if v, ok := q["help"]; ok && r.Method == http.MethodGet {
				help, err := parseBoolParam(v)
				if err != nil {
					return "", http.StatusBadRequest, "invalid value for help parameter"
				}
				if help {
					op = logical.HelpOperation
				}
			}
		}
	case "LIST":
		op = logical.ListOperation
	case http.MethodPost, http.MethodPut:
		op = logical.UpdateOperation
	case http.MethodPatch:
		op = logical.PatchOperation
		if !patchContentType(r.Header.Get("Content-Type")) {
			return "", http.StatusUnsupportedMediaType, "PATCH requires Content-Type application/merge-patch+json"
		}
	case http.MethodDelete:
		op = logical.DeleteOperation
	default:
		return "", http.StatusMethodNotAllowed, "unsupported method"
	}
	return op, 0, ""
}

func parseBoolParam(v []string) (bool, error) {
	if len(v) == 0 || v[0] == "" {
		return false, nil
	}
	switch strings.ToLower(v[0]) {
	case "1", "t", "true":
		return true, nil
	case "0", "f", "false":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// patchContentType accepts JSON merge patch, plain JSON, or no type at all.
func patchContentType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "", "application/merge-patch+json", "application/json":
		return true
	}
	return false
}

// fillRequest copies the token, wrap TTL, headers and connection into req.
func (a *API) fillRequest(r *http.Request, l *Listener, req *logical.Request) (status int, msg string) {
	token, ok := requestToken(r.Header)
	if !ok {
		return http.StatusBadRequest, "conflicting tokens in X-Vault-Token and Authorization headers"
	}
	if len(token) > maxTokenLength {
		return http.StatusRequestHeaderFieldsTooLarge, "token header too large"
	}
	req.ClientToken = sensitive.NewString(token)

	if v := r.Header.Get("X-Vault-Wrap-TTL"); v != "" {
		ttl, err := logical.ParseDuration(v)
		if err != nil {
			return http.StatusBadRequest, "invalid X-Vault-Wrap-TTL header"
		}
		req.WrapTTL = ttl
	}

	// Share the value slices; only the map is new, without token headers.
	h := make(http.Header, len(r.Header))
	for k, v := range r.Header {
		switch k {
		case "X-Vault-Token", "Authorization", "Proxy-Authorization":
			continue
		}
		h[k] = v
	}
	req.Headers = h
	req.Connection = &logical.Connection{RemoteAddr: l.clientIP(r), TLS: r.TLS}
	return 0, ""
}

// unauthRouter is implemented by a Handler that knows which of its paths
// it serves without a client token (the core: from each mount's backend).
type unauthRouter interface {
	Unauthenticated(path string) bool
}

// tokenChecker is implemented by a Handler that can tell, without using a
// token and cheaply, whether it authenticates requests now (the core: from
// its token store). A body larger than MaxUnauthenticatedRequestSize is
// read only for a token the handler knows; a Handler without this method
// gives every token the larger limit.
type tokenChecker interface {
	TokenKnown(ctx context.Context, token string) bool
}

func (a *API) tokenKnown(ctx context.Context, token string) bool {
	tc, ok := a.core.(tokenChecker)
	return !ok || tc.TokenKnown(ctx, token)
}

// unauthenticated reports whether path is served without a client token,
// by the handler's own account when it gives one and by the route shapes
// below in any case.
func (a *API) unauthenticated(path string) bool {
	if unauthenticatedRoute(path) {
		return true
	}
	ur, ok := a.core.(unauthRouter)
	return ok && ur.Unauthenticated(path)
}

// unauthenticatedRoute reports whether the core serves path without a
// client token: logins (auth/MOUNT/login and below, for any mount path),
// and the sys routes for health, init, unseal, root generation and
// unwrapping, whose token (if any) is a wrapping token. A made-up token
// header must not buy such a request the authenticated body limit.
func unauthenticatedRoute(path string) bool {
	if rest, ok := strings.CutPrefix(path, "auth/"); ok {
		// Skip the first segment (the mount's own name); any later one
		// starting with "login" is a login route.
		_, rest, _ = strings.Cut(rest, "/")
		for rest != "" {
			seg, next, _ := strings.Cut(rest, "/")
			if strings.HasPrefix(seg, "login") {
				return true
			}
			rest = next
		}
		return false
	}
	rest, ok := strings.CutPrefix(path, "sys/")
	if !ok {
		return false
	}
	switch rest {
	case "health", "seal-status", "leader", "init", "unseal",
		"generate-root/attempt", "generate-root/update",
		"wrapping/unwrap", "wrapping/lookup", "wrapping/rewrap":
		return true
	}
	return strings.HasPrefix(rest, "internal/ui/mounts")
}

// requestToken returns the token the request names in X-Vault-Token or
// Authorization: Bearer, any number of times. ok is false when it names two
// different tokens: which one a proxy, the audit log and the core would use
// must never be a question, so such a request is refused.
func requestToken(h http.Header) (token string, ok bool) {
	for _, v := range h["X-Vault-Token"] {
		if token, ok = oneToken(token, v); !ok {
			return "", false
		}
	}
	for _, v := range h["Authorization"] {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			if token, ok = oneToken(token, strings.TrimSpace(v[7:])); !ok {
				return "", false
			}
		}
	}
	return token, true
}

// oneToken merges a newly seen token value v into the one found so far.
func oneToken(found, v string) (string, bool) {
	switch {
	case v == "":
		return found, true
	case found == "":
		return v, true
	}
	return found, subtle.ConstantTimeCompare([]byte(found), []byte(v)) == 1
}

// ceremonyPath reports whether path is a key ceremony whose cancel (DELETE)
// carries its nonce in a JSON body.
func ceremonyPath(path string) bool {
	switch path {
	case "sys/rekey/init", "sys/rekey/verify", "sys/generate-root/attempt", "sys/rotate/root/init",
		"sys/rotate/root/verify", "sys/generate-root-token/attempt", "sys/break-glass/attempt":
		return true
	}
	return false
}

// readData fills req.Data from the body (POST, PUT, PATCH) or the query
// (GET, HEAD, LIST, DELETE), already parsed into q. The body's buffer is
// taken from claim, which the caller releases when the request is done.
func (a *API) readData(w http.ResponseWriter, r *http.Request, req *logical.Request, q url.Values, claim *bodyClaim) error {
	method := r.Method
	if method == http.MethodDelete && ceremonyPath(req.Path) && r.Body != nil && r.Body != http.NoBody {
		// Cancelling a rekey or a root generation sends its nonce in the
		// body (the Vault client's RekeyCancelWithNonce), as Vault reads it.
		method = http.MethodPut
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		// Every body starts with the small limit. One with a token, to a
		// route that needs one, gets the larger limit once it needs it
		// (by its announced length, before a byte is read, or by what
		// arrived) and only if the core knows the token: a made-up token
		// buys nothing, and small bodies never cost a lookup.
		lim, raise := a.anon, (func() (limits, bool))(nil)
		if !req.ClientToken.Empty() && a.lim.maxBytes > a.anon.maxBytes {
			// Asked only of a body that outgrows the small limit, so small
			// requests never route twice or look a token up.
			raise = func() (limits, bool) {
				return a.lim, !a.unauthenticated(req.Path) && a.tokenKnown(r.Context(), req.ClientToken.Reveal())
			}
		}
		if r.Body == nil || r.Body == http.NoBody {
			return nil
		}
		limit := lim.maxBytes
		if raise != nil {
			limit = a.lim.maxBytes
		}
		body := http.MaxBytesReader(w, r.Body, limit)
		data, err := decodeBody(body, r.ContentLength, lim, claim, raise)
		if err != nil {
			return err
		}
		req.Data = data
		return nil
	}
	if len(q) == 0 {
		return nil
	}
	data := make(map[string]any, len(q))
	for k, v := range q {
		switch {
		case k == "list" || k == "help":
		case len(v) == 1:
			data[k] = v[0]
		default:
			vs := make([]any, len(v))
			for i, s := range v {
				vs[i] = s
			}
			data[k] = vs
		}
	}
	if len(data) > 0 {
		req.Data = data
	}
	return nil
}

// parseQuery decodes a raw query. Unlike url.URL.Query it refuses what it
// cannot decode (a bad escape, a semicolon) instead of dropping it, and
// refuses keys and values that are not valid UTF-8, as JSON bodies are.
func parseQuery(raw string) (url.Values, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, errInvalidQuery
	}
	for k, vs := range q {
		if !utf8.ValidString(k) {
			return nil, errInvalidQuery
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, errInvalidQuery
			}
		}
	}
	return q, nil
}

// clientIP returns the client address: the peer's IP, or, when the peer is
// one of this listener's trusted proxies, the rightmost X-Forwarded-For
// entry that is not itself a trusted proxy. An unparsable entry stops the
// walk and the last trusted address stands, so a client cannot inject an
// address of its choosing. Another listener's proxies count for nothing.
func (l *Listener) clientIP(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		// Not ip:port (a unix socket, or a test); report it verbatim.
		return r.RemoteAddr
	}
	ip := peer.Addr().Unmap()
	if len(l.TrustedProxies) == 0 || !l.trusted(ip) {
		return ip.String()
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		entries := strings.Split(xff[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			addr, err := netip.ParseAddr(strings.TrimSpace(entries[j]))
			if err != nil {
				return ip.String()
			}
			ip = addr.Unmap()
			if !l.trusted(ip) {
				return ip.String()
			}
		}
	}
	return ip.String()
}

// trusted reports whether ip is one of the listener's trusted proxies.
func (l *Listener) trusted(ip netip.Addr) bool {
	for _, p := range l.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// respondError writes the client-safe form of err and logs unexpected ones.
func (a *API) respondError(w http.ResponseWriter, r *http.Request, req *logical.Request, err error) {
	status, msg, internal := errorStatus(err)
	if errors.Is(err, errBusy) {
		w.Header()["Retry-After"] = retryAfter
	}
	if errors.Is(err, errBodyRead) || errors.Is(err, errBodyTimeout) {
		// The rest of the body cannot be framed: end the connection.
		w.Header()["Connection"] = connClose
	}
	if internal && errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away mid-request: its doing, and nobody is
		// left to read the answer.
		a.logger.Debug("client went away", "request_id", req.ID, "operation", string(req.Operation), "path", req.Path)
		return
	}
	if internal {
		a.logger.Error("request failed", "request_id", req.ID, "operation", string(req.Operation),
			"path", req.Path, "err", err)
		msg = "internal error; request id " + req.ID
	}
	writeErrors(w, r, status, msg)
}

// respond writes resp for req.
func (a *API) respond(w http.ResponseWriter, r *http.Request, req *logical.Request, resp *logical.Response) {
	read := req.Operation == logical.ReadOperation || req.Operation == logical.ListOperation ||
		req.Operation == logical.HelpOperation
	if resp == nil {
		if read {
			writeErrors(w, r, http.StatusNotFound)
			return
		}
		setHeaders(w, jsonType)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	if resp.Stream != nil {
		a.stream(w, r, req, status, resp)
		return
	}
	if resp.Raw != nil {
		ct := resp.ContentType
		if ct == "" {
			ct = jsonType
		}
		for k, v := range resp.Headers {
			if k = http.CanonicalHeaderKey(k); backendHeaders[k] {
				w.Header()[k] = v
			}
		}
		writeBody(w, r, status, ct, resp.Raw)
		return
	}
	if req.Operation == logical.ListOperation && resp.WrapInfo == nil && emptyList(resp) {
		writeErrors(w, r, http.StatusNotFound)
		return
	}
	env := newEnvelope(req.ID, req.MountType, resp)
	body, err := marshalEnvelope(env, resp.WrapInfo == nil && dataAtTopLevel(req.Path))
	if err != nil {
		a.respondError(w, r, req, fmt.Errorf("encode response: %w", err))
		return
	}
	writeBody(w, r, status, jsonType, body)
}

// streamIdle bounds each write of a streamed body: the listener's write
// timeout covers a whole response, which a large backup may outlast, so
// a stream instead gets this long per write to a stalled client.
const streamIdle = 2 * time.Minute

// stream writes a Response.Stream body. Once bytes are out, an error can
// only be logged and the connection cut, so the client sees a short body.
func (a *API) stream(w http.ResponseWriter, r *http.Request, req *logical.Request, status int, resp *logical.Response) {
	ct := resp.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	setHeaders(w, ct)
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	sw := &deadlineWriter{w: w, rc: rc}
	if err := resp.Stream(sw); err != nil {
		a.logger.Error("streamed response failed", "request_id", req.ID, "path", req.Path, "bytes", sw.n, "err", err)
		panic(http.ErrAbortHandler) // net/http closes the connection without logging
	}
}

// Flush sends what was written so far: a stream of events (text/event-stream)
// flushes after each one.
func (d *deadlineWriter) Flush() error { return d.rc.Flush() }

type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
	n  int64
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(streamIdle)) // unsupported by a test recorder: no deadline
	n, err := d.w.Write(p)
	d.n += int64(n)
	return n, err
}

// emptyList reports whether a list response has nothing to show: no keys,
// no other data and no warnings. Vault answers those with 404.
func emptyList(resp *logical.Response) bool {
	if len(resp.Warnings) > 0 || resp.Secret != nil || resp.Auth != nil {
		return false
	}
	for k, v := range resp.Data {
		if k != "keys" {
			return false
		}
		switch keys := v.(type) {
		case nil:
		case []string:
			if len(keys) > 0 {
				return false
			}
		case []any:
			if len(keys) > 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}
