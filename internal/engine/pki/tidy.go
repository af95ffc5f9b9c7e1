package pki

import (
	"context"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

var tidyFields = logical.Fields{
	{Name: "tidy_cert_store", Type: logical.TypeBool, Description: "Delete stored certificates expired longer than safety_buffer."},
	{Name: "tidy_revoked_certs", Type: logical.TypeBool, Description: "Delete revocations of certificates expired longer than safety_buffer (they leave the CRL)."},
	{Name: "tidy_revoked_cert_issuer_associations", Type: logical.TypeBool, Description: "Accepted for compatibility: revocations always name their issuer."},
	{Name: "safety_buffer", Type: logical.TypeDuration, Default: "72h", Description: "How long past expiry entries are kept."},
}

// tidy deletes expired certificates and revocations. It runs within the
// request (so its result is in tidy-status when the call returns) and
// answers 202 as Vault does.
func (b *backend) tidy(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := tidyFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	certStore, err := boolean(req.Data, "tidy_cert_store", false)
	if err != nil {
		return nil, err
	}
	revoked, err := boolean(req.Data, "tidy_revoked_certs", false)
	if err != nil {
		return nil, err
	}
	buffer := 72 * time.Hour
	if v, ok, err := logical.Duration(req.Data, "safety_buffer"); err != nil {
		return nil, err
	} else if ok {
		buffer = v
	}
	if !b.tidyMu.TryLock() {
		return nil, logical.BadRequest("a tidy is already running")
	}
	defer b.tidyMu.Unlock()
	start := b.now().UTC()
	cutoff := start.Add(-buffer)
	status := map[string]any{"state": "Running", "time_started": start.Format(time.RFC3339), "safety_buffer": int64(buffer.Seconds()),
		"tidy_cert_store": certStore, "tidy_revoked_certs": revoked, "cert_store_deleted_count": 0, "revoked_cert_deleted_count": 0,
		"current_cert_store_count": 0, "current_revoked_cert_count": 0, "error": nil}
	setStatus := func() {
		b.mu.Lock()
		b.tidyStatus = status
		b.mu.Unlock()
	}
	setStatus()
	fail := func(err error) (*logical.Response, error) {
		status["state"], status["error"] = "Error", err.Error()
		setStatus()
		return nil, err
	}
	deletedCerts, deletedRevoked := 0, 0
	if certStore {
		keys, err := req.Storage.List(ctx, "certs/")
		if err != nil {
			return fail(err)
		}
		for _, k := range keys {
			c, err := loadCert(ctx, req.Storage, k)
			if err != nil {
				return fail(err)
			}
			if c != nil && c.NotAfter.Before(cutoff) {
				if err := req.Storage.Delete(ctx, "certs/"+k); err != nil {
					return fail(err)
				}
				deletedCerts++
			}
		}
	}
	rebuild := false
	if revoked {
		b.mu.Lock()
		keys, err := req.Storage.List(ctx, "revoked/")
		if err != nil {
			b.mu.Unlock()
			return fail(err)
		}
		for _, k := range keys {
			var r revocation
			found, err := logical.GetJSON(ctx, req.Storage, "revoked/"+k, &r)
			if err != nil {
				b.mu.Unlock()
				return fail(err)
			}
			if found && r.NotAfter.Before(cutoff) {
				if err := req.Storage.Delete(ctx, "revoked/"+k); err != nil {
					b.mu.Unlock()
					return fail(err)
				}
				deletedRevoked++
				rebuild = true
			}
		}
		b.mu.Unlock()
	}
	if rebuild {
		if _, err := b.rotateAll(ctx, req.Storage, false); err != nil {
			return fail(err)
		}
	}
	certKeys, _ := req.Storage.List(ctx, "certs/")
	revKeys, _ := req.Storage.List(ctx, "revoked/")
	status["state"] = "Finished"
	status["time_finished"] = b.now().UTC().Format(time.RFC3339)
	status["cert_store_deleted_count"], status["revoked_cert_deleted_count"] = deletedCerts, deletedRevoked
	status["current_cert_store_count"], status["current_revoked_cert_count"] = len(certKeys), len(revKeys)
	setStatus()
	return &logical.Response{Status: 202, Warnings: []string{"Tidy operation successfully started. Any information from the operation will be printed to Keyward's server logs."}}, nil
}

func (b *backend) readTidyStatus(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]any, len(b.tidyStatus))
	for k, v := range b.tidyStatus {
		out[k] = v
	}
	return &logical.Response{Data: out}, nil
}
