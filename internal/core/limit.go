package core

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/time/rate"

	"github.com/keyward/keyward/internal/cidr"
	"github.com/keyward/keyward/internal/logical"
)

// Limits bound what anonymous clients can do to everyone else: failed
// logins and the unauthenticated operator endpoints (unseal, init, root
// generation). The zero value means the defaults; a negative burst turns
// that limit off.
type Limits struct {
	// LoginFailuresPerAddress failed logins a client address may make in a
	// burst, regaining one each LoginRefillAddress (defaults 20 and 1s).
	LoginFailuresPerAddress int
	LoginRefillAddress      time.Duration
	// LoginFailuresPerUser failed logins one user (one login path or role of
	// one auth mount) may take in a burst, from any address, regaining one
	// each LoginRefillUser (defaults 10 and 6s).
	LoginFailuresPerUser int
	LoginRefillUser      time.Duration
	// OperatorRequestsPerAddress requests to sys/unseal, sys/init and
	// sys/generate-root/* one client address may make in a burst, regaining
	// one each OperatorRefill (defaults 30 and 2s). Reads of their status
	// are not counted.
	OperatorRequestsPerAddress int
	OperatorRefill             time.Duration
	// OperatorCIDRs, when set, are the only networks from which those
	// endpoints accept writes.
	OperatorCIDRs []netip.Prefix
}

func (l Limits) withDefaults() Limits {
	def := func(n *int, d int, every *time.Duration, e time.Duration) {
		if *n == 0 {
			*n = d
		}
		if *every <= 0 {
			*every = e
		}
	}
	def(&l.LoginFailuresPerAddress, 20, &l.LoginRefillAddress, time.Second)
	def(&l.LoginFailuresPerUser, 10, &l.LoginRefillUser, 6*time.Second)
	def(&l.OperatorRequestsPerAddress, 30, &l.OperatorRefill, 2*time.Second)
	return l
}

// maxLimiterKeys bounds each limiter's memory. When it is full, idle keys
// (whose bucket has refilled) are dropped; if none is idle, new keys are
// not tracked, so a flood of addresses cannot lock everyone out.
const maxLimiterKeys = 65536

// keyedLimiter is one token bucket per key.
type keyedLimiter struct {
	burst int
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newKeyedLimiter(burst int, every time.Duration, now func() time.Time) *keyedLimiter {
	if burst < 0 {
		return nil
	}
	return &keyedLimiter{burst: burst, every: every, now: now, buckets: map[string]*rate.Limiter{}}
}

// ready reports whether key has a try left, without spending it, and how
// long until it has one.
func (k *keyedLimiter) ready(key string) (bool, time.Duration) {
	if k == nil {
		return true, 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.buckets[key]
	if b == nil {
		return true, 0
	}
	tokens := b.TokensAt(k.now())
	if tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - tokens) * float64(k.every))
}

// spend takes one try from key.
func (k *keyedLimiter) spend(key string) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	b := k.buckets[key]
	if b == nil {
		if len(k.buckets) >= maxLimiterKeys {
			for key, old := range k.buckets {
				if old.TokensAt(now) >= float64(k.burst) {
					delete(k.buckets, key)
				}
			}
			if len(k.buckets) >= maxLimiterKeys {
				return
			}
		}
		b = rate.NewLimiter(rate.Every(k.every), k.burst)
		k.buckets[key] = b
	}
	b.AllowN(now, 1)
}

// limiters are the core's per-client limits.
type limiters struct {
	loginAddr, loginUser, operator *keyedLimiter
	operatorCIDRs                  []netip.Prefix
}

func newLimiters(l Limits, now func() time.Time) *limiters {
	l = l.withDefaults()
	return &limiters{
		loginAddr:     newKeyedLimiter(l.LoginFailuresPerAddress, l.LoginRefillAddress, now),
		loginUser:     newKeyedLimiter(l.LoginFailuresPerUser, l.LoginRefillUser, now),
		operator:      newKeyedLimiter(l.OperatorRequestsPerAddress, l.OperatorRefill, now),
		operatorCIDRs: l.OperatorCIDRs,
	}
}

// errTooMany is a 429 telling the client when to retry.
func errTooMany(what string, wait time.Duration) error {
	secs := int((wait + time.Second - 1) / time.Second)
	return logical.Errorf(http.StatusTooManyRequests, "too many %s from this client; retry in %ds", what, max(secs, 1))
}

// remoteAddr is the client address of req ("" when unknown).
func remoteAddr(req *logical.Request) string {
	if req.Connection == nil {
		return ""
	}
	return req.Connection.RemoteAddr
}

// loginKeys are the limiter keys of a login: the client address, and the
// user it tries (the login path, plus the name or role a body carries), as
// a hash so no identifier is kept in memory in clear.
func loginKeys(mountAccessor string, routed *logical.Request) (addr, user string) {
	var who strings.Builder
	who.WriteString(mountAccessor)
	who.WriteByte(0)
	for i, seg := range strings.Split(routed.Path, "/") {
		if i > 0 {
			who.WriteByte('/')
		}
		who.WriteString(foldName(seg))
	}
	for _, f := range []string{"username", "role", "role_id", "name"} {
		if v, ok := routed.Data[f].(string); ok {
			who.WriteByte(0)
			who.WriteString(f + "=" + foldName(v))
		}
	}
	sum := sha256.Sum256([]byte(who.String()))
	return addressKey(remoteAddr(routed)), hex.EncodeToString(sum[:16])
}

// foldName folds case, width and surrounding space the way auth methods
// fold the names they look up, so "bob", "BOB" and a fullwidth "ｂｏｂ"
// share one budget.
func foldName(s string) string {
	return strings.ToLower(norm.NFKC.String(strings.TrimSpace(norm.NFKC.String(s))))
}

// addressKey is the client a budget belongs to: an IPv4 address, or the
// /64 of an IPv6 one (a single host usually holds a whole /64).
func addressKey(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	var ip netip.Addr
	if err == nil {
		ip = ap.Addr()
	} else if ip, err = netip.ParseAddr(addr); err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// checkLogin refuses a login while its address or user has no failed try
// left, before the auth method spends any work on it.
func (l *limiters) checkLogin(addr, user string) error {
	if ok, wait := l.loginAddr.ready(addr); !ok {
		return errTooMany("failed logins", wait)
	}
	if ok, wait := l.loginUser.ready(user); !ok {
		return errTooMany("failed logins for this user", wait)
	}
	return nil
}

// loginFailed reports whether a login's error is the client's failure
// (bad credentials or request), which spends a try; server-side errors do
// not.
func loginFailed(err error) bool {
	if err == nil {
		return false
	}
	status, _, known := logical.StatusOf(err)
	return known && status >= 400 && status < 500 && status != http.StatusTooManyRequests
}

// recordLogin spends a try from the login's address and user if it failed.
func (l *limiters) recordLogin(addr, user string, err error) {
	if loginFailed(err) {
		l.loginAddr.spend(addr)
		l.loginUser.spend(user)
	}
}

// checkOperator applies the operator network list and rate limit to a
// write to an unauthenticated operator endpoint.
func (l *limiters) checkOperator(req *logical.Request) error {
	if req.Operation == logical.ReadOperation {
		return nil
	}
	addr := remoteAddr(req)
	if len(l.operatorCIDRs) > 0 && !inPrefixes(addr, l.operatorCIDRs) {
		return logical.ErrPermissionDenied
	}
	key := addressKey(addr)
	if ok, wait := l.operator.ready(key); !ok {
		return errTooMany("operator requests", wait)
	}
	l.operator.spend(key)
	return nil
}

// inPrefixes reports whether addr (an IP, with or without a port) is in
// one of prefixes (cidr.Contains).
func inPrefixes(addr string, prefixes []netip.Prefix) bool {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		addr = ap.Addr().String()
	}
	return len(prefixes) > 0 && cidr.Contains(prefixes, addr)
}
