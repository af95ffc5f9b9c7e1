package core

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/logical"
)

// operatorPaths are the unauthenticated operator endpoints: writes to them
// pass the operator network list and rate limit (limits.checkOperator).
var operatorPaths = []string{"sys/init", "sys/unseal", "sys/generate-root/attempt", "sys/generate-root/update",
	"sys/rekey/init", "sys/rekey/update", "sys/rekey/verify",
	"sys/rekey-recovery-key/init", "sys/rekey-recovery-key/update", "sys/rekey-recovery-key/verify"}

// handleSealedPaths answers the sys/ endpoints that work without a token:
// health, seal status, init, unseal, leader, root token generation and
// rekey (the last two only while unsealed). Their bodies are bare JSON, as
// in Vault.
func (c *Core) handleSealedPaths(ctx context.Context, req *logical.Request) (*logical.Response, bool, error) {
	if req.Operation == logical.HelpOperation {
		// Help goes through the pipeline like any request with a token.
		return nil, false, nil
	}
	var resp *logical.Response
	var err error
	if slices.Contains(operatorPaths, req.Path) {
		if err := c.limits.checkOperator(req); err != nil {
			return nil, true, err
		}
	}
	switch req.Path {
	case "sys/health":
		resp, err = c.health(ctx, req)
	case "sys/seal-status":
		resp, err = c.sealStatusResp(ctx)
	case "sys/init":
		resp, err = c.initResp(ctx, req)
	case "sys/unseal":
		resp, err = c.unsealResp(ctx, req)
	case "sys/leader":
		resp, err = c.leaderResp(ctx)
	case "sys/generate-root/attempt":
		resp, err = c.auditedOperator(ctx, req, func() (*logical.Response, string, error) {
			resp, err := c.generateRootAttempt(ctx, req)
			return resp, "", err
		})
	case "sys/generate-root/update":
		resp, err = c.auditedOperator(ctx, req, func() (*logical.Response, string, error) {
			return c.generateRootUpdate(ctx, req)
		})
	case "sys/rekey/init", "sys/rekey/update", "sys/rekey/verify",
		"sys/rekey-recovery-key/init", "sys/rekey-recovery-key/update", "sys/rekey-recovery-key/verify":
		recovery := strings.HasPrefix(req.Path, "sys/rekey-recovery-key/")
		if recovery {
			// Vault's name for the recovery key's rekey; under an auto
			// seal sys/rekey/* rekeys the recovery key too.
			if cfg, cerr := c.barrier.SealConfig(ctx); cerr == nil && !barrier.IsAutoSeal(cfg.Type) {
				return nil, true, logical.BadRequest("this server uses Shamir and has no recovery key: use sys/rekey")
			}
		}
		op := strings.TrimPrefix(strings.TrimPrefix(req.Path, "sys/rekey/"), "sys/rekey-recovery-key/")
		resp, err = c.auditedOperator(ctx, req, func() (*logical.Response, string, error) {
			data, err := c.rekeyRequest(ctx, req, op, false)
			if err != nil || data == nil {
				return nil, "", err
			}
			resp, err := rawJSON(http.StatusOK, data)
			return resp, "", err
		})
	default:
		h := c.cfg.SealedPaths[req.Path]
		if h == nil {
			return nil, false, nil
		}
		resp, err = h(ctx, req)
	}
	return resp, true, err
}

// auditedOperator serves an unauthenticated operator request (root token
// generation) and, while the server is unsealed with audit devices, audits
// it as the pipeline audits every other request: nothing is served that
// could not be recorded. serve returns the root token it minted, if any, so
// it is revoked when its response cannot be audited.
func (c *Core) auditedOperator(ctx context.Context, req *logical.Request, serve func() (*logical.Response, string, error)) (*logical.Response, error) {
	broker := c.auditBroker()
	if broker == nil {
		resp, _, err := serve()
		return resp, err
	}
	if err := broker.LogRequest(ctx, req, nil); err != nil {
		c.logger.Error("audit request failed", "request_id", req.ID, "path", req.Path, "err", err)
		return nil, errAuditFailed
	}
	resp, root, err := serve()
	if aerr := broker.LogResponse(ctx, req, resp, err); aerr != nil {
		c.logger.Error("audit response failed", "request_id", req.ID, "path", req.Path, "err", aerr)
		if root != "" {
			c.revokeUnaudited(ctx, root)
		}
		return nil, errAuditFailed
	}
	return resp, err
}

// auditBroker returns the audit broker of the unsealed server, or nil.
func (c *Core) auditBroker() AuditBroker {
	c.stateLock.RLock()
	defer c.stateLock.RUnlock()
	if c.active == nil {
		return nil
	}
	return c.active.audit
}

// revokeUnaudited revokes a root token whose issuance could not be audited.
func (c *Core) revokeUnaudited(ctx context.Context, root string) {
	c.stateLock.RLock()
	defer c.stateLock.RUnlock()
	if c.active == nil {
		// Sealed in between: the token stays stored, so say so loudly.
		c.logger.Error("a generated root token could not be audited nor revoked (server sealed); revoke root tokens after unseal")
		return
	}
	if err := c.active.tokens.Revoke(ctx, root); err != nil {
		c.logger.Error("revoke unaudited root token", "err", err)
		return
	}
	c.logger.Warn("revoked a generated root token whose issuance could not be audited")
}

func rawJSON(status int, v any) (*logical.Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Raw: b, ContentType: "application/json", Status: status}, nil
}

func (c *Core) health(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if req.Operation != logical.ReadOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	code := func(name string, def int) int {
		if v, ok, _ := logical.Str(req.Data, name); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 100 && n <= 599 {
				return n
			}
		}
		return def
	}
	init, err := c.barrier.Initialized(ctx)
	if err != nil {
		return nil, err
	}
	sealed := c.Sealed()
	standby := !sealed && c.Standby()
	status := code("activecode", http.StatusOK)
	switch {
	case !init:
		status = code("uninitcode", http.StatusNotImplemented)
	case sealed:
		status = code("sealedcode", http.StatusServiceUnavailable)
	case standby:
		// A load balancer sends clients to the active node unless told
		// that a standby will do (it forwards).
		if ok, _, _ := logical.Bool(req.Data, "standbyok"); !ok {
			status = code("standbycode", http.StatusTooManyRequests)
		}
	}
	body := map[string]any{
		"initialized":                  init,
		"sealed":                       sealed,
		"standby":                      standby,
		"performance_standby":          false,
		"replication_performance_mode": "disabled",
		"replication_dr_mode":          "disabled",
		"server_time_utc":              c.now().Unix(),
		"version":                      Version,
		"enterprise":                   false,
		"echo_duration_ms":             0,
		"clock_skew_ms":                0,
	}
	if init && !sealed {
		body["cluster_name"] = c.cfg.ClusterName
		body["cluster_id"] = c.clusterIDOrEmpty()
	}
	return rawJSON(status, body)
}

func (c *Core) sealStatusResp(ctx context.Context) (*logical.Response, error) {
	st, err := c.SealStatus(ctx)
	if err != nil {
		return nil, err
	}
	return rawJSON(http.StatusOK, st)
}

func (c *Core) initResp(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	switch req.Operation {
	case logical.ReadOperation:
		init, err := c.barrier.Initialized(ctx)
		if err != nil {
			return nil, err
		}
		return rawJSON(http.StatusOK, map[string]bool{"initialized": init})
	case logical.UpdateOperation, logical.CreateOperation:
	default:
		return nil, logical.ErrUnsupportedOperation
	}
	if err := logical.UnknownFields(req.Data, "secret_shares", "secret_threshold", "pgp_keys", "root_token_pgp_key",
		"stored_shares", "recovery_shares", "recovery_threshold", "recovery_pgp_keys"); err != nil {
		return nil, err
	}
	for _, k := range []string{"pgp_keys", "root_token_pgp_key", "recovery_pgp_keys"} {
		if v, ok := req.Data[k]; ok && v != nil && v != "" {
			if l, isList := v.([]any); !isList || len(l) > 0 {
				return nil, logical.BadRequest("%s is not supported: keep the shares offline instead", k)
			}
		}
	}
	shares, _, err := logical.Int(req.Data, "secret_shares")
	if err != nil {
		return nil, err
	}
	threshold, _, err := logical.Int(req.Data, "secret_threshold")
	if err != nil {
		return nil, err
	}
	recShares, _, err := logical.Int(req.Data, "recovery_shares")
	if err != nil {
		return nil, err
	}
	recThreshold, _, err := logical.Int(req.Data, "recovery_threshold")
	if err != nil {
		return nil, err
	}
	if c.cfg.Seal == nil && (recShares != 0 || recThreshold != 0) {
		return nil, logical.BadRequest("recovery_shares and recovery_threshold apply only with an auto seal; this server uses Shamir (secret_shares, secret_threshold)")
	}
	res, err := c.Initialize(ctx, InitParams{Shares: shares, Threshold: threshold, RecoveryShares: recShares, RecoveryThreshold: recThreshold})
	if err != nil {
		return nil, err
	}
	keysHex := make([]string, len(res.Shares))
	keysB64 := make([]string, len(res.Shares))
	// The init response is where the shares and the root token leave, once,
	// to the operator who asked.
	for i, s := range res.Shares {
		keysHex[i] = hex.EncodeToString(s.Reveal())
		keysB64[i] = base64.StdEncoding.EncodeToString(s.Reveal())
		s.Wipe()
	}
	body := map[string]any{
		"keys":        keysHex,
		"keys_base64": keysB64,
		"root_token":  res.RootToken.Reveal(),
	}
	if c.cfg.Seal != nil {
		recHex := make([]string, len(res.RecoveryShares))
		recB64 := make([]string, len(res.RecoveryShares))
		for i, s := range res.RecoveryShares {
			recHex[i] = hex.EncodeToString(s.Reveal())
			recB64[i] = base64.StdEncoding.EncodeToString(s.Reveal())
			s.Wipe()
		}
		body["recovery_keys"], body["recovery_keys_base64"] = recHex, recB64
	}
	return rawJSON(http.StatusOK, body)
}

func (c *Core) unsealResp(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if req.Operation != logical.UpdateOperation && req.Operation != logical.CreateOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	if err := logical.UnknownFields(req.Data, "key", "reset", "nonce", "migrate"); err != nil {
		return nil, err
	}
	if reset, _, err := logical.Bool(req.Data, "reset"); err != nil {
		return nil, err
	} else if reset {
		nonce, _, err := logical.Str(req.Data, "nonce")
		if err != nil {
			return nil, err
		}
		if err := c.ResetUnseal(nonce, remoteAddr(req)); err != nil {
			return nil, err
		}
		return c.sealStatusResp(ctx)
	}
	keyStr, ok, err := logical.Str(req.Data, "key")
	if err != nil {
		return nil, err
	}
	if !ok || keyStr == "" {
		return nil, logical.BadRequest("missing required field 'key'")
	}
	share, err := decodeShare(keyStr)
	if err != nil {
		return nil, err
	}
	defer clear(share)
	migrate, _, err := logical.Bool(req.Data, "migrate")
	if err != nil {
		return nil, err
	}
	st, err := c.SubmitUnsealShareMigrate(ctx, share, migrate)
	if err != nil {
		return nil, err
	}
	return rawJSON(http.StatusOK, st)
}

func (c *Core) leaderResp(ctx context.Context) (*logical.Response, error) {
	if c.Sealed() {
		return nil, logical.ErrSealed
	}
	ad, self, ok := c.Leader(ctx)
	body := map[string]any{
		"ha_enabled":             c.cfg.HA != nil,
		"is_self":                self,
		"leader_address":         ad.APIAddr,
		"leader_cluster_address": ad.ClusterAddr,
		"performance_standby":    false,
	}
	if ok && !ad.ActiveTime.IsZero() {
		body["active_time"] = ad.ActiveTime.Format(time.RFC3339Nano)
	}
	if !ok {
		body["leader_address"], body["leader_cluster_address"] = "", ""
	}
	if c.cfg.LeaderInfo != nil {
		for k, v := range c.cfg.LeaderInfo() {
			body[k] = v
		}
	}
	return rawJSON(http.StatusOK, body)
}

func (c *Core) generateRootAttempt(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	st, err := c.generateRootAttemptOp(ctx, req, false)
	if err != nil || st == nil {
		return nil, err
	}
	return rawJSON(http.StatusOK, st)
}

// generateRootAttemptOp reads, starts or cancels (a nil status) a root
// generation. authenticated says the caller came through the token route
// (sys/generate-root-token), whose cancel needs no nonce because the ACL
// already vouched for it.
func (c *Core) generateRootAttemptOp(ctx context.Context, req *logical.Request, authenticated bool) (*GenerateRootStatus, error) {
	switch req.Operation {
	case logical.ReadOperation:
		return c.GenerateRootStatus(ctx)
	case logical.UpdateOperation, logical.CreateOperation:
		return c.startGenerateRootReq(ctx, req)
	case logical.DeleteOperation:
		nonce, _, err := logical.Str(req.Data, "nonce")
		if err != nil {
			return nil, err
		}
		return nil, c.cancelGenerateRoot(nonce, authenticated)
	}
	return nil, logical.ErrUnsupportedOperation
}

// startGenerateRootReq starts a root generation from a request body: the
// client's otp or none (the server draws one); a PGP key is refused.
func (c *Core) startGenerateRootReq(ctx context.Context, req *logical.Request) (*GenerateRootStatus, error) {
	if err := logical.UnknownFields(req.Data, "otp", "pgp_key"); err != nil {
		return nil, err
	}
	if v, _, err := logical.Str(req.Data, "pgp_key"); err != nil {
		return nil, err
	} else if v != "" {
		return nil, logical.BadRequest("pgp_key is not supported; use the one-time pad (otp)")
	}
	otp, _, err := logical.Str(req.Data, "otp")
	if err != nil {
		return nil, err
	}
	return c.StartGenerateRoot(ctx, otp)
}

func (c *Core) generateRootUpdate(ctx context.Context, req *logical.Request) (*logical.Response, string, error) {
	if req.Operation != logical.UpdateOperation && req.Operation != logical.CreateOperation {
		return nil, "", logical.ErrUnsupportedOperation
	}
	if err := logical.UnknownFields(req.Data, "key", "nonce"); err != nil {
		return nil, "", err
	}
	keyStr, _, err := logical.Str(req.Data, "key")
	if err != nil {
		return nil, "", err
	}
	nonce, _, err := logical.Str(req.Data, "nonce")
	if err != nil {
		return nil, "", err
	}
	share, err := decodeShare(keyStr)
	if err != nil {
		return nil, "", err
	}
	defer clear(share)
	st, root, err := c.submitGenerateRootShare(ctx, share, nonce, false)
	if err != nil {
		return nil, "", err
	}
	resp, err := rawJSON(http.StatusOK, st)
	return resp, root, err
}
