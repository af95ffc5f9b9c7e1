package pki

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const cryptoSHA256 = crypto.SHA256

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// randomID is 128 random bits, base64url: account, order, authorization
// IDs, challenge tokens and nonces.
func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b64(b[:])
}

const (
	maxNonces    = 20000
	nonceTTL     = 30 * time.Minute
	maxLimiters  = 20000
	acmeRate     = 10 // requests per second per account
	acmeBurst    = 40
	orderTTL     = 24 * time.Hour
	maxOrderIDs  = 20
	acmeCertDays = 90
)

// acmeState is the ACME server's memory: the nonces it handed out and
// the per-account rate limiters. Neither needs to survive a restart: a
// client retries a badNonce, and limiters start full.
type acmeState struct {
	mu       sync.Mutex
	nonces   map[string]time.Time
	order    []string // nonces oldest first, to evict when full
	limiters map[string]*rate.Limiter
}

func newACMEState() *acmeState {
	return &acmeState{nonces: map[string]time.Time{}, limiters: map[string]*rate.Limiter{}}
}

// newNonce returns a fresh nonce. The store is bounded: when full, the
// oldest nonces are forgotten (their clients get badNonce and retry).
func (s *acmeState) newNonce(now time.Time) string {
	n := randomID()
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.order) > 0 && (len(s.nonces) >= maxNonces || now.Sub(s.nonces[s.order[0]]) > nonceTTL) {
		delete(s.nonces, s.order[0])
		s.order = s.order[1:]
	}
	// Drop entries already used from the head so order stays bounded.
	for len(s.order) > 0 {
		if _, ok := s.nonces[s.order[0]]; ok {
			break
		}
		s.order = s.order[1:]
	}
	if len(s.order) >= 2*maxNonces {
		// Nonces used out of order leave holes; compact them away.
		kept := make([]string, 0, len(s.nonces)+1)
		for _, o := range s.order {
			if _, ok := s.nonces[o]; ok {
				kept = append(kept, o)
			}
		}
		s.order = kept
	}
	s.nonces[n] = now
	s.order = append(s.order, n)
	return n
}

// useNonce consumes n: true exactly once for each nonce handed out and
// not yet expired.
func (s *acmeState) useNonce(n string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.nonces[n]
	if !ok {
		return false
	}
	delete(s.nonces, n)
	return now.Sub(t) <= nonceTTL
}

// allow takes one request from account's budget at now.
func (s *acmeState) allow(account string, now time.Time) bool {
	s.mu.Lock()
	l := s.limiters[account]
	if l == nil {
		if len(s.limiters) >= maxLimiters {
			s.limiters = map[string]*rate.Limiter{}
		}
		l = rate.NewLimiter(acmeRate, acmeBurst)
		s.limiters[account] = l
	}
	s.mu.Unlock()
	return l.AllowN(now, 1)
}

// Stored ACME objects, under acme/ in the mount's storage.

type acmeAccount struct {
	ID         string    `json:"id"`
	Key        []byte    `json:"key"` // the JWK, JSON
	Thumbprint string    `json:"thumbprint"`
	Contact    []string  `json:"contact"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
	EABID      string    `json:"eab_id,omitempty"`
	Directory  string    `json:"directory"`
}

type acmeIdentifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type acmeOrder struct {
	ID          string           `json:"id"`
	AccountID   string           `json:"account_id"`
	Directory   string           `json:"directory"`
	Status      string           `json:"status"`
	Expires     time.Time        `json:"expires"`
	Identifiers []acmeIdentifier `json:"identifiers"`
	AuthzIDs    []string         `json:"authz_ids"`
	CertSerial  string           `json:"cert_serial,omitempty"`
	Error       *acmeProblem     `json:"error,omitempty"`
}

type acmeChallenge struct {
	Type      string       `json:"type"`
	Token     string       `json:"token"`
	Status    string       `json:"status"`
	Validated time.Time    `json:"validated,omitempty"`
	Error     *acmeProblem `json:"error,omitempty"`
}

type acmeAuthz struct {
	ID         string          `json:"id"`
	AccountID  string          `json:"account_id"`
	Directory  string          `json:"directory"`
	Identifier acmeIdentifier  `json:"identifier"`
	Wildcard   bool            `json:"wildcard"`
	Status     string          `json:"status"`
	Expires    time.Time       `json:"expires"`
	Challenges []acmeChallenge `json:"challenges"`
}

// acmeCertOwner records which account ordered a certificate, for
// revoke-cert signed by the account key.
type acmeCertOwner struct {
	AccountID string `json:"account_id"`
}

// acmeProblem is an RFC 7807 problem document with an ACME error type.
type acmeProblem struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
	Status int    `json:"status,omitempty"`
}

func problem(status int, typ, detail string) *acmeProblem {
	return &acmeProblem{Type: "urn:ietf:params:acme:error:" + typ, Detail: detail, Status: status}
}
