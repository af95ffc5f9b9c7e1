package core

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/tokenfmt"
)

// Break-glass: a designated emergency policy that only a quorum can turn
// into a token, for a short time, loudly. The ceremony follows root
// generation: sys/break-glass/attempt starts one (with a reason; it returns
// a nonce and a one-time pad), sys/break-glass/update adds a share or an
// officer approval, and the approval that meets the quorum mints an orphan,
// non-renewable token with exactly the configured policies and TTL,
// returned once XORed with the pad. Activation raises a critical alert
// (rule "break-glass") and writes its own audit entry; every request the
// token makes is recorded into the activation's report (bounded, behind
// the barrier), and its end (expiry or revocation) is recorded and audited.
//
// Shares are verified exactly as root generation verifies them (combined,
// then checked against the barrier or the recovery key) and are never
// stored, logged or audited: the pipeline replaces the key field in the
// audit view of sys/break-glass/update.

const (
	breakGlassPrefix    = "sys/break-glass/"
	breakGlassConfigKey = breakGlassPrefix + "config"
	breakGlassReports   = breakGlassPrefix + "report/"
	// breakGlassAttemptTTL is how long an attempt waits for its quorum
	// before it is dropped, so an abandoned (or hostile) attempt cannot
	// block the ceremony for ever.
	breakGlassAttemptTTL = time.Hour
	// breakGlassMaxRequests bounds the requests a report keeps; the rest
	// are counted in requests_dropped.
	breakGlassMaxRequests = 2000
	// BreakGlassRule is the rule name of the activation alert.
	BreakGlassRule = "break-glass"
)

// BreakGlassOfficer is an officer's approval as the step-up seam sees it.
type BreakGlassOfficer struct {
	// Name is the configured officer name it matched (userpass/alice).
	Name string
	// Accessor is the accessor of the token the officer approved with.
	Accessor string
}

// breakGlassState is the core's break-glass state; mu guards attempt and
// serializes report writes.
type breakGlassState struct {
	mu      sync.Mutex
	attempt *breakGlassAttempt
	// live maps the accessor of each unexpired emergency token to its
	// activation id (copy on write, read lock-free for every request).
	live atomic.Pointer[map[string]string]
	// revokedBy holds, by emergency token accessor, the accessor of the
	// token revoking it through sys/break-glass/revoke, for bgEnd.
	revokedBy sync.Map
	// known maps the accessor of every emergency token activated or
	// resumed since unseal to its activation id, ended or not: the request
	// that revokes a token (revoke-self) ends it before it is recorded.
	known  sync.Map
	nKnown atomic.Int32
}

type breakGlassAttempt struct {
	id       string
	nonce    string
	otp      string
	reason   string
	started  time.Time
	remote   string
	cfg      breakGlassConfig
	required int
	shares   shareProgress
	// approvals are the holders or officers counted so far (no shares).
	approvals []BreakGlassApproval
}

func (at *breakGlassAttempt) wipe() {
	at.shares.reset()
	at.otp = ""
}

// BreakGlassApproval is one counted approval in a report: an officer by
// name and token accessor, or a key holder by arrival order, its optional
// self-declared label and address. It never holds a share.
type BreakGlassApproval struct {
	Kind       string    `json:"kind"` // "officer" or "key_holder"
	Officer    string    `json:"officer,omitempty"`
	Accessor   string    `json:"accessor,omitempty"`
	Holder     string    `json:"holder,omitempty"`
	RemoteAddr string    `json:"remote_addr,omitempty"`
	Time       time.Time `json:"time"`
}

// BreakGlassRequest is one request made with an emergency token.
type BreakGlassRequest struct {
	Time       time.Time `json:"time"`
	RequestID  string    `json:"request_id"`
	Operation  string    `json:"operation"`
	Path       string    `json:"path"`
	Status     int       `json:"status"`
	Result     string    `json:"result"`
	RemoteAddr string    `json:"remote_addr,omitempty"`
}

// BreakGlassReport is the post-incident record of one activation.
type BreakGlassReport struct {
	ID          string               `json:"id"`
	Reason      string               `json:"reason"`
	Holders     string               `json:"holders"`
	Quorum      int                  `json:"quorum"`
	StartedAt   time.Time            `json:"started_at"`
	StartedFrom string               `json:"started_from,omitempty"`
	ActivatedAt time.Time            `json:"activated_at"`
	Approvals   []BreakGlassApproval `json:"approvals"`
	Policies    []string             `json:"policies"`
	TTL         int64                `json:"ttl"`
	ExpiresAt   time.Time            `json:"expires_at"`
	Accessor    string               `json:"accessor"`
	// EndedAt and Ended ("expired", "revoked") are set once the token is
	// gone; RevokedBy names the revoking token's accessor when known.
	EndedAt         time.Time           `json:"ended_at,omitzero"`
	Ended           string              `json:"ended,omitempty"`
	RevokedBy       string              `json:"revoked_by,omitempty"`
	Requests        []BreakGlassRequest `json:"requests"`
	RequestsDropped int                 `json:"requests_dropped"`
}

func (r *BreakGlassReport) data() (map[string]any, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.Unmarshal(raw, &m)
	return m, err
}

// breakGlassRoutes are the sys/ routes of break-glass. attempt and update
// are served without a token: the key holders may have none left, and an
// officer's token is checked by the ceremony itself.
func (c *Core) breakGlassRoutes() []logical.Route {
	return []logical.Route{
		{Pattern: "break-glass/config", Sudo: true, Ops: ops{logical.ReadOperation: c.bgConfigReq, logical.UpdateOperation: c.bgConfigReq, logical.DeleteOperation: c.bgConfigReq},
			Synopsis: "Configure the break-glass emergency policy, TTL, quorum and holders.",
			Fields: logical.Fields{
				{Name: "policies", Type: logical.TypeSlice, Description: "The emergency token's policies (exactly these; never root)."},
				{Name: "ttl", Description: "The emergency token's lifetime (default 1h, at most 4h); it cannot be renewed."},
				{Name: "holders", Description: "unseal_keys (unseal or recovery key holders) or officers."},
				{Name: "quorum", Type: logical.TypeInt, Description: "Approvals needed: distinct officers (at least 2), or shares (at least the key threshold)."},
				{Name: "officers", Type: logical.TypeSlice, Description: "The officers: MOUNT/NAME (userpass/alice) or entity:ID."},
				{Name: "officer_policy", Description: "A policy an officer's token must carry as well."},
			}},
		{Pattern: "break-glass/attempt", Unauthenticated: true, Ops: ops{logical.ReadOperation: c.bgAttemptReq, logical.UpdateOperation: c.bgAttemptReq, logical.DeleteOperation: c.bgAttemptReq},
			Synopsis: "Start (with a reason), read or cancel (with the nonce) a break-glass activation.",
			Fields: logical.Fields{
				{Name: "reason", Description: "Why the emergency access is needed (kept in the report)."},
				{Name: "otp", Description: "Your own one-time pad (otp_length base62 characters); omitted, the server draws one and returns it once."},
				{Name: "nonce", Description: "The attempt's nonce (to cancel)."},
			}},
		{Pattern: "break-glass/update", Unauthenticated: true, Ops: ops{logical.UpdateOperation: c.bgUpdateReq},
			Synopsis: "Add an unseal/recovery key share, or an officer's approval (with the officer's own token).",
			Fields: logical.Fields{
				{Name: "nonce", Description: "The attempt's nonce."},
				{Name: "key", Description: "A key share, hex or base64 (holders = unseal_keys); never stored or logged."},
				{Name: "holder", Description: "An optional, self-declared label of the key holder, for the report."},
			}},
		{Pattern: "break-glass/revoke", Sudo: true, Ops: ops{logical.UpdateOperation: c.bgRevokeReq},
			Synopsis: "End an activation early: revoke its emergency token.",
			Fields:   logical.Fields{{Name: "id", Description: "The activation id."}}},
		{Pattern: "break-glass/report", Sudo: true, Ops: ops{logical.ListOperation: c.bgReportReq, logical.ReadOperation: c.bgReportReq},
			Synopsis: "List the break-glass activations."},
		{Pattern: "break-glass/report/{id}", Sudo: true, Ops: ops{logical.ReadOperation: c.bgReportReq},
			Synopsis: "Read the post-incident report of an activation.",
			Fields:   logical.Fields{{Name: "id", InPath: true, Description: "The activation id."}}},
	}
}

// breakGlassAuditView hides the share of a break-glass update from the
// audit log: not even its HMAC is written.
func breakGlassAuditView(v *logical.Request) *logical.Request {
	if v.Path != "sys/break-glass/update" || v.Data == nil {
		return v
	}
	if _, ok := v.Data["key"]; !ok {
		return v
	}
	d := make(map[string]any, len(v.Data))
	for k, val := range v.Data {
		if k == "key" {
			val = "[share withheld]"
		}
		d[k] = val
	}
	cp := *v
	cp.Data = d
	return &cp
}

func (c *Core) loadBreakGlassConfig(ctx context.Context) (*breakGlassConfig, error) {
	raw, err := c.barrier.Get(ctx, breakGlassConfigKey)
	if err != nil || raw == nil {
		return nil, err
	}
	var cfg breakGlassConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("break-glass: decode config: %w", err)
	}
	return &cfg, nil
}

func (c *Core) bgConfigReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	switch req.Operation {
	case logical.ReadOperation:
		cfg, err := c.loadBreakGlassConfig(ctx)
		if err != nil || cfg == nil {
			return nil, err
		}
		return &logical.Response{Data: cfg.data()}, nil
	case logical.DeleteOperation:
		c.bg.mu.Lock()
		defer c.bg.mu.Unlock()
		if c.bg.attempt != nil {
			return nil, logical.BadRequest("a break-glass attempt is in progress: cancel it first")
		}
		return nil, c.barrier.Delete(ctx, breakGlassConfigKey)
	}
	cfg, err := parseBreakGlassConfig(req.Data)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	c.bg.mu.Lock()
	defer c.bg.mu.Unlock()
	if c.bg.attempt != nil {
		return nil, logical.BadRequest("a break-glass attempt is in progress: cancel it before changing the configuration")
	}
	if err := c.barrier.Put(ctx, breakGlassConfigKey, raw); err != nil {
		return nil, err
	}
	c.logger.Info("break-glass configured", "holders", cfg.Holders, "quorum", cfg.Quorum, "policies", cfg.Policies,
		"ttl", cfg.TTL, "accessor", tokenAccessor(req))
	return nil, nil
}

// required is the approvals an attempt needs under cfg.
func (c *Core) bgRequired(ctx context.Context, cfg *breakGlassConfig) (int, error) {
	if cfg.Holders == HoldersOfficers {
		return cfg.Quorum, nil
	}
	kc, err := c.sealConfigOrBadRequest(ctx)
	if err != nil {
		return 0, err
	}
	return min(max(cfg.Quorum, kc.SecretThreshold), kc.SecretShares), nil
}

// bgExpireAttemptLocked drops an attempt older than breakGlassAttemptTTL.
func (c *Core) bgExpireAttemptLocked() {
	if at := c.bg.attempt; at != nil && c.now().Sub(at.started) >= breakGlassAttemptTTL {
		at.wipe()
		c.bg.attempt = nil
		c.logger.Warn("break-glass attempt expired without quorum", "id", at.id)
	}
}

func (c *Core) bgStatusLocked(ctx context.Context) (map[string]any, error) {
	cfg, err := c.loadBreakGlassConfig(ctx)
	if err != nil {
		return nil, err
	}
	m := map[string]any{"configured": cfg != nil, "started": false, "progress": 0, "required": 0,
		"otp_length": tokenfmt.Len}
	if cfg != nil {
		m["holders"] = cfg.Holders
		req, err := c.bgRequired(ctx, cfg)
		if err != nil {
			return nil, err
		}
		m["required"] = req
	}
	if at := c.bg.attempt; at != nil {
		m["started"], m["id"], m["nonce"], m["reason"] = true, at.id, at.nonce, at.reason
		m["progress"], m["required"], m["holders"] = len(at.approvals), at.required, at.cfg.Holders
		m["started_at"] = at.started.UTC().Format(time.RFC3339Nano)
		m["attempt_expires_at"] = at.started.Add(breakGlassAttemptTTL).UTC().Format(time.RFC3339Nano)
		officers := []string{}
		for _, ap := range at.approvals {
			if ap.Officer != "" {
				officers = append(officers, ap.Officer)
			}
		}
		m["approved_by"] = officers
	}
	return m, nil
}

func (c *Core) bgAttemptReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := c.limits.checkOperator(req); err != nil {
		return nil, err
	}
	c.bg.mu.Lock()
	defer c.bg.mu.Unlock()
	c.bgExpireAttemptLocked()
	switch req.Operation {
	case logical.ReadOperation:
		m, err := c.bgStatusLocked(ctx)
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: m}, nil
	case logical.DeleteOperation:
		nonce, _, err := logical.Str(req.Data, "nonce")
		if err != nil {
			return nil, err
		}
		at := c.bg.attempt
		if at == nil {
			return nil, nil
		}
		if subtle.ConstantTimeCompare([]byte(nonce), []byte(at.nonce)) != 1 {
			return nil, logical.BadRequest("cancel requires the nonce of the break-glass attempt in progress")
		}
		at.wipe()
		c.bg.attempt = nil
		c.logger.Warn("break-glass attempt cancelled", "id", at.id)
		return nil, nil
	}
	if err := logical.UnknownFields(req.Data, "reason", "otp"); err != nil {
		return nil, err
	}
	reason, _, err := logical.Str(req.Data, "reason")
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, logical.BadRequest("a break-glass attempt needs a reason")
	}
	if len(reason) > breakGlassMaxReason {
		return nil, logical.BadRequest("reason is longer than %d bytes", breakGlassMaxReason)
	}
	otp, _, err := logical.Str(req.Data, "otp")
	if err != nil {
		return nil, err
	}
	generated := otp == ""
	if generated {
		otp = tokenfmt.Generate(tokenfmt.Recovery)
	} else if err := checkOTP(otp); err != nil {
		return nil, err
	}
	cfg, err := c.loadBreakGlassConfig(ctx)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, logical.BadRequest("break-glass is not configured (write sys/break-glass/config)")
	}
	if c.bg.attempt != nil {
		return nil, logical.BadRequest("a break-glass attempt is already in progress")
	}
	required, err := c.bgRequired(ctx, cfg)
	if err != nil {
		return nil, err
	}
	at := &breakGlassAttempt{id: randomID(), nonce: randomID(), otp: otp, reason: reason, started: c.now(),
		cfg: *cfg, required: required, shares: shareProgress{}}
	if req.Connection != nil {
		at.remote = req.Connection.RemoteAddr
	}
	c.bg.attempt = at
	c.logger.Warn("break-glass attempt started", "id", at.id, "holders", cfg.Holders, "required", required)
	m, err := c.bgStatusLocked(ctx)
	if err != nil {
		return nil, err
	}
	if generated {
		m["otp"] = otp
	}
	return &logical.Response{Data: m}, nil
}

func (c *Core) bgUpdateReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := c.limits.checkOperator(req); err != nil {
		return nil, err
	}
	if err := logical.UnknownFields(req.Data, "nonce", "key", "holder"); err != nil {
		return nil, err
	}
	nonce, _, err := logical.Str(req.Data, "nonce")
	if err != nil {
		return nil, err
	}
	if nonce == "" {
		return nil, logical.BadRequest("missing required field 'nonce'")
	}
	holder, _, err := logical.Str(req.Data, "holder")
	if err != nil {
		return nil, err
	}
	if len(holder) > 128 {
		return nil, logical.BadRequest("holder is longer than 128 bytes")
	}
	a := c.active
	remote := ""
	if req.Connection != nil {
		remote = req.Connection.RemoteAddr
	}
	c.bg.mu.Lock()
	defer c.bg.mu.Unlock()
	c.bgExpireAttemptLocked()
	at := c.bg.attempt
	if at == nil {
		return nil, logical.BadRequest("no break-glass attempt in progress")
	}
	if subtle.ConstantTimeCompare([]byte(nonce), []byte(at.nonce)) != 1 {
		return nil, logical.BadRequest("nonce does not match the break-glass attempt in progress")
	}
	ap := BreakGlassApproval{RemoteAddr: remote, Time: c.now()}
	if at.cfg.Holders == HoldersOfficers {
		if _, ok := req.Data["key"]; ok {
			return nil, logical.BadRequest("this break-glass is approved by officers: send the officer's token, not a key share")
		}
		off, err := c.bgOfficer(ctx, a, req, &at.cfg)
		if err != nil {
			return nil, err
		}
		for _, prev := range at.approvals {
			if prev.Officer == off.Name {
				return nil, logical.BadRequest("officer %s already approved; progress is unchanged", off.Name)
			}
		}
		ap.Kind, ap.Officer, ap.Accessor = "officer", off.Name, off.Accessor
		at.approvals = append(at.approvals, ap)
		c.logger.Warn("break-glass officer approval", "id", at.id, "officer", off.Name, "accessor", off.Accessor,
			"progress", len(at.approvals), "required", at.required)
		if len(at.approvals) < at.required {
			return c.bgStatusResp(ctx)
		}
		return c.bgActivateLocked(ctx, a, at)
	}
	keyStr, _, err := logical.Str(req.Data, "key")
	if err != nil {
		return nil, err
	}
	if keyStr == "" {
		return nil, logical.BadRequest("missing required field 'key'")
	}
	share, err := decodeShare(keyStr)
	if err != nil {
		return nil, err
	}
	kc, err := c.sealConfigOrBadRequest(ctx)
	if err != nil {
		clear(share)
		return nil, err
	}
	if len(share) != shareLen(kc.SecretShares) {
		clear(share)
		return nil, logical.BadRequest("key has the wrong length for this store")
	}
	if !at.shares.add(share) { // add keeps the share, or wipes a duplicate
		return nil, logical.BadRequest("this key was already provided; progress is unchanged")
	}
	ap.Kind, ap.Holder = "key_holder", strings.TrimSpace(holder)
	at.approvals = append(at.approvals, ap)
	c.logger.Warn("break-glass key share received", "id", at.id, "progress", len(at.approvals), "required", at.required)
	if len(at.shares.shares) < at.required {
		return c.bgStatusResp(ctx)
	}
	key, err := combineShares(at.shares.shares, kc.SecretShares)
	at.shares.reset()
	if err != nil {
		c.bgCancelLocked(at, "the keys do not combine")
		return nil, logical.BadRequest("break-glass failed: the keys do not combine; the attempt was cancelled")
	}
	defer clear(key)
	if err := c.verifyOperatorKey(ctx, key); err != nil {
		c.bgCancelLocked(at, "the keys are not valid for this store")
		return nil, logical.BadRequest("break-glass failed: the keys are not valid for this store; the attempt was cancelled")
	}
	return c.bgActivateLocked(ctx, a, at)
}

func (c *Core) bgCancelLocked(at *breakGlassAttempt, why string) {
	at.wipe()
	c.bg.attempt = nil
	c.logger.Warn("break-glass attempt failed", "id", at.id, "reason", why)
}

func (c *Core) bgStatusResp(ctx context.Context) (*logical.Response, error) {
	m, err := c.bgStatusLocked(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: m}, nil
}

// bgOfficer authenticates an officer's approval: the request's own token,
// valid, issued by a login (not a child token) at a still mounted auth
// method, of an entity that is not disabled, naming a configured officer
// and carrying officer_policy when one is set. Then the step-up seam
// (Config.BreakGlassStepUp) runs.
func (c *Core) bgOfficer(ctx context.Context, a *active, req *logical.Request, cfg *breakGlassConfig) (BreakGlassOfficer, error) {
	denied := logical.Errorf(http.StatusForbidden, "break-glass approval needs the token of a configured break-glass officer")
	if req.ClientToken.Empty() {
		return BreakGlassOfficer{}, denied
	}
	remote := ""
	if req.Connection != nil {
		remote = req.Connection.RemoteAddr
	}
	te, err := a.tokens.Use(ctx, req.ClientToken.Reveal(), remote)
	if err != nil {
		if errors.Is(err, token.ErrInvalidToken) {
			return BreakGlassOfficer{}, denied
		}
		return BreakGlassOfficer{}, err
	}
	if te.Meta["break_glass_id"] != "" {
		return BreakGlassOfficer{}, denied // an emergency token never approves another
	}
	// Only the officer's own login counts, whichever way the officer is
	// named: a child token inherits its parent's entity id, so it could
	// otherwise approve as entity:ID. The token must also be one the
	// pipeline would honour: its auth method still mounted, its entity not
	// disabled.
	if !loginIssued(te) {
		return BreakGlassOfficer{}, denied
	}
	m := a.issuer(te.Path, te.CreationTime)
	if m == nil || a.callerOf(te).disabled {
		return BreakGlassOfficer{}, denied
	}
	if cfg.OfficerPolicy != "" && !slices.Contains(te.Policies, cfg.OfficerPolicy) {
		return BreakGlassOfficer{}, denied
	}
	names := []string{}
	if te.EntityID != "" {
		names = append(names, "entity:"+te.EntityID)
	}
	if te.Alias != "" {
		mount := strings.Trim(strings.TrimPrefix(m.entry.Path, "auth/"), "/")
		names = append(names, normalizeOfficer(mount+"/"+te.Alias))
	}
	for _, n := range names {
		if slices.Contains(cfg.Officers, n) {
			off := BreakGlassOfficer{Name: n, Accessor: te.Accessor}
			if c.cfg.BreakGlassStepUp != nil {
				if err := c.cfg.BreakGlassStepUp(ctx, req, off); err != nil {
					return BreakGlassOfficer{}, err
				}
			}
			return off, nil
		}
	}
	return BreakGlassOfficer{}, denied
}

// bgActivateLocked mints the emergency token, records the activation,
// audits it and raises the alert. The attempt ends whatever happens.
func (c *Core) bgActivateLocked(ctx context.Context, a *active, at *breakGlassAttempt) (*logical.Response, error) {
	otp := at.otp
	c.bg.attempt = nil
	at.wipe()
	te := &token.Entry{Policies: slices.Clone(at.cfg.Policies), DisplayName: "break-glass", Path: token.BreakGlassPath,
		Orphan: true, TTL: at.cfg.TTL, ExplicitMaxTTL: at.cfg.TTL, Renewable: false,
		Meta: map[string]string{"break_glass_id": at.id}}
	tok, err := a.tokens.Create(ctx, te)
	if err != nil {
		return nil, fmt.Errorf("break-glass: create token: %w", err)
	}
	revoke := func() {
		if rerr := a.tokens.RevokeAccessor(ctx, te.Accessor); rerr != nil {
			c.logger.Error("break-glass: revoke unusable emergency token", "accessor", te.Accessor, "err", rerr)
		}
	}
	if len(tok) != len(otp) {
		revoke()
		return nil, fmt.Errorf("break-glass: token length %d differs from the OTP length %d", len(tok), len(otp))
	}
	now := c.now()
	rep := &BreakGlassReport{ID: at.id, Reason: at.reason, Holders: at.cfg.Holders, Quorum: at.required,
		StartedAt: at.started, StartedFrom: at.remote, ActivatedAt: now, Approvals: at.approvals,
		Policies: te.Policies, TTL: int64(at.cfg.TTL / time.Second), ExpiresAt: te.ExpireTime, Accessor: te.Accessor,
		Requests: []BreakGlassRequest{}}
	if err := c.bgPutReport(ctx, rep); err != nil {
		revoke()
		return nil, err
	}
	c.bgAddLive(te.Accessor, at.id)
	if err := c.bgAudit(ctx, a, "activate", rep); err != nil {
		c.bgRemoveLive(te.Accessor) // bgEnd would wait for the lock held here
		revoke()
		return nil, err
	}
	c.bgArmExpiry(a, te.Accessor, te.ExpireTime)
	c.bgAlert(rep)
	c.logger.Warn("break-glass activated", "id", at.id, "accessor", te.Accessor, "policies", te.Policies,
		"ttl", at.cfg.TTL, "approvals", len(at.approvals))
	enc := make([]byte, len(tok))
	subtle.XORBytes(enc, []byte(tok), []byte(otp))
	return &logical.Response{Data: map[string]any{
		"complete": true, "id": at.id, "progress": len(at.approvals), "required": at.required,
		"encoded_token": base64.RawStdEncoding.EncodeToString(enc), "accessor": te.Accessor,
		"policies": te.Policies, "ttl": int64(at.cfg.TTL / time.Second),
		"expires_at": te.ExpireTime.UTC().Format(time.RFC3339Nano),
	}}, nil
}

// DecodeBreakGlassToken reverses the OTP encoding of an emergency token
// (the scheme of root generation).
func DecodeBreakGlassToken(encoded, otp string) (sensitive.String, error) {
	tok, err := DecodeRootToken(encoded, otp)
	if err != nil {
		return sensitive.String{}, errors.New("decode break-glass token: the OTP does not match the encoded token")
	}
	return sensitive.NewString(tok), nil
}
