package pki

import (
	"context"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

var issuerFields = logical.Fields{refField,
	{Name: "issuer_name", Type: logical.TypeString},
	{Name: "leaf_not_after_behavior", Type: logical.TypeString, Description: "err, truncate or permit."},
	{Name: "usage", Type: logical.TypeSlice, Description: "read-only, issuing-certificates, crl-signing, ocsp-signing."},
	{Name: "manual_chain", Type: logical.TypeSlice, Description: "Issuer references making up the chain, self first."},
}

func (b *backend) checkIssuerName(ctx context.Context, s logical.Storage, name, self string) error {
	if name == "" {
		return nil
	}
	if name == "default" || strings.ContainsAny(name, "/ ") || uuidLike(name) {
		return logical.BadRequest("issuer_name may not be default, look like an ID, or contain / or spaces")
	}
	all, err := listIssuers(ctx, s)
	if err != nil {
		return err
	}
	for _, e := range all {
		if e.Name == name && e.ID != self {
			return logical.BadRequest("issuer_name %q is already in use", name)
		}
	}
	return nil
}

func uuidLike(s string) bool { return len(s) == 36 && strings.Count(s, "-") == 4 }

func (b *backend) listIssuers(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	all, err := listIssuers(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	cfg, err := loadIssuersConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	keys := []string{}
	info := map[string]any{}
	for _, e := range all {
		keys = append(keys, e.ID)
		info[e.ID] = map[string]any{"issuer_name": e.Name, "key_id": e.KeyID, "is_default": e.ID == cfg.Default,
			"serial_number": formatSerial(e.cert.SerialNumber)}
	}
	return &logical.Response{Data: map[string]any{"keys": keys, "key_info": info}}, nil
}

func (b *backend) readIssuer(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	iss, err := resolveIssuer(ctx, req.Storage, p["ref"])
	if err != nil || iss == nil {
		return nil, err
	}
	all, err := listIssuers(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: issuerData(iss, all)}, nil
}

func (b *backend) readIssuerCert(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	iss, err := resolveIssuer(ctx, req.Storage, p["ref"])
	if err != nil || iss == nil {
		return nil, err
	}
	switch {
	case strings.HasSuffix(req.Path, "/pem"):
		return &logical.Response{Raw: []byte(iss.CertPEM), ContentType: "application/pem-certificate-chain"}, nil
	case strings.HasSuffix(req.Path, "/der"):
		return &logical.Response{Raw: iss.cert.Raw, ContentType: "application/pkix-cert"}, nil
	}
	all, err := listIssuers(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"certificate": strings.TrimSpace(iss.CertPEM), "ca_chain": chain(iss, all),
		"issuer_id": iss.ID, "issuer_name": iss.Name}}, nil
}

func (b *backend) updateIssuer(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := issuerFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	iss, err := mustIssuer(ctx, req.Storage, p["ref"])
	if err != nil {
		return nil, err
	}
	if v, ok, err := logical.Str(req.Data, "issuer_name"); err != nil {
		return nil, err
	} else if ok {
		if err := b.checkIssuerName(ctx, req.Storage, v, iss.ID); err != nil {
			return nil, err
		}
		iss.Name = v
	}
	if v, ok, err := logical.Str(req.Data, "leaf_not_after_behavior"); err != nil {
		return nil, err
	} else if ok {
		if v != "err" && v != "truncate" && v != "permit" {
			return nil, logical.BadRequest("leaf_not_after_behavior must be err, truncate or permit")
		}
		iss.LeafNotAfterBehavior = v
	}
	if v, ok, err := logical.Strings(req.Data, "usage"); err != nil {
		return nil, err
	} else if ok {
		for _, u := range v {
			if !slices.Contains(strings.Split(defaultUsage, ","), u) {
				return nil, logical.BadRequest("usage: unknown usage %q", u)
			}
		}
		iss.Usage = strings.Join(v, ",")
	}
	if v, ok, err := logical.Strings(req.Data, "manual_chain"); err != nil {
		return nil, err
	} else if ok {
		var ids []string
		for _, ref := range v {
			if ref == "self" {
				ids = append(ids, iss.ID)
				continue
			}
			e, err := mustIssuer(ctx, req.Storage, ref)
			if err != nil {
				return nil, err
			}
			ids = append(ids, e.ID)
		}
		if len(ids) > 0 && ids[0] != iss.ID {
			return nil, logical.BadRequest("manual_chain must start with the issuer itself (self)")
		}
		iss.ManualChain = ids
	}
	if err := putIssuer(ctx, req.Storage, iss); err != nil {
		return nil, err
	}
	return b.readIssuer(ctx, req, logical.Params{"ref": iss.ID})
}

func (b *backend) deleteIssuer(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	iss, err := resolveIssuer(ctx, req.Storage, p["ref"])
	if err != nil || iss == nil {
		return nil, err
	}
	if err := req.Storage.Delete(ctx, "issuer/"+iss.ID); err != nil {
		return nil, err
	}
	cfg, err := loadIssuersConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg.Default == iss.ID {
		cfg.Default = ""
		if err := logical.PutJSON(ctx, req.Storage, "config/issuers", cfg); err != nil {
			return nil, err
		}
		return &logical.Response{Warnings: []string{"the deleted issuer was the default; there is no default issuer now"}}, nil
	}
	return nil, nil
}

func (b *backend) readIssuersConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	cfg, err := loadIssuersConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"default": cfg.Default, "default_follows_latest_issuer": cfg.DefaultFollowsLatestIssuer}}, nil
}

func (b *backend) writeIssuersConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "default", "default_follows_latest_issuer"); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cfg, err := loadIssuersConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if ref, ok, err := logical.Str(req.Data, "default"); err != nil {
		return nil, err
	} else if ok && ref != "" {
		if ref == "default" {
			return nil, logical.BadRequest("default must name an issuer")
		}
		iss, err := mustIssuer(ctx, req.Storage, ref)
		if err != nil {
			return nil, err
		}
		cfg.Default = iss.ID
	}
	if v, ok, err := logical.Bool(req.Data, "default_follows_latest_issuer"); err != nil {
		return nil, err
	} else if ok {
		cfg.DefaultFollowsLatestIssuer = v
	}
	if err := logical.PutJSON(ctx, req.Storage, "config/issuers", cfg); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"default": cfg.Default, "default_follows_latest_issuer": cfg.DefaultFollowsLatestIssuer}}, nil
}

func (b *backend) listKeys(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	all, err := listKeyEntries(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	keys := []string{}
	info := map[string]any{}
	for _, k := range all {
		keys = append(keys, k.ID)
		info[k.ID] = map[string]any{"key_name": k.Name, "key_type": k.Type}
	}
	return &logical.Response{Data: map[string]any{"keys": keys, "key_info": info}}, nil
}

func (b *backend) readKey(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	k, err := resolveKey(ctx, req.Storage, p["ref"])
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"key_id": k.ID, "key_name": k.Name, "key_type": k.Type, "key_bits": k.Bits}}, nil
}

func (b *backend) updateKey(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "key_name"); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k, err := resolveKey(ctx, req.Storage, p["ref"])
	if err != nil {
		return nil, err
	}
	if k.Name, err = str(req.Data, "key_name"); err != nil {
		return nil, err
	}
	if err := putKey(ctx, req.Storage, k); err != nil {
		return nil, err
	}
	return b.readKey(ctx, req, logical.Params{"ref": k.ID})
}

// readCA serves ca (DER), ca/pem and ca_chain for the default issuer.
func (b *backend) readCA(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	iss, err := resolveIssuer(ctx, req.Storage, "default")
	if err != nil {
		return nil, err
	}
	if iss == nil {
		return &logical.Response{Raw: []byte{}, ContentType: "application/pkix-cert", Status: 204}, nil
	}
	switch req.Path {
	case "ca":
		return &logical.Response{Raw: iss.cert.Raw, ContentType: "application/pkix-cert"}, nil
	case "ca/pem":
		return &logical.Response{Raw: []byte(iss.CertPEM), ContentType: "application/pem-certificate-chain"}, nil
	}
	all, err := listIssuers(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Raw: []byte(strings.Join(chain(iss, all), "")), ContentType: "application/pem-certificate-chain"}, nil
}
