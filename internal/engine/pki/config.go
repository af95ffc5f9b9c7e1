package pki

import (
	"context"
	"net/url"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// urlsConfig is config/urls: the URLs put in issued certificates.
type urlsConfig struct {
	IssuingCertificates        []string `json:"issuing_certificates"`
	CRLDistributionPoints      []string `json:"crl_distribution_points"`
	OCSPServers                []string `json:"ocsp_servers"`
	DeltaCRLDistributionPoints []string `json:"delta_crl_distribution_points"`
}

var urlFields = logical.Fields{
	{Name: "issuing_certificates", Type: logical.TypeSlice, Description: "Authority Information Access CA issuer URLs."},
	{Name: "crl_distribution_points", Type: logical.TypeSlice, Description: "CRL distribution point URLs."},
	{Name: "ocsp_servers", Type: logical.TypeSlice, Description: "OCSP responder URLs."},
	{Name: "delta_crl_distribution_points", Type: logical.TypeSlice, Description: "Delta CRL URLs (Freshest CRL)."},
	{Name: "enable_templating", Type: logical.TypeBool, Description: "Refused: URL templating is not supported."},
}

func loadURLs(ctx context.Context, s logical.Storage) (urlsConfig, error) {
	var c urlsConfig
	_, err := logical.GetJSON(ctx, s, "config/urls", &c)
	return c, err
}

func (b *backend) readURLs(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	c, err := loadURLs(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"issuing_certificates": orEmpty(c.IssuingCertificates), "crl_distribution_points": orEmpty(c.CRLDistributionPoints),
		"ocsp_servers": orEmpty(c.OCSPServers), "delta_crl_distribution_points": orEmpty(c.DeltaCRLDistributionPoints),
		"enable_templating": false,
	}}, nil
}

func (b *backend) writeURLs(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := urlFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	if t, _ := boolean(req.Data, "enable_templating", false); t {
		return nil, logical.BadRequest("enable_templating is not supported")
	}
	c, err := loadURLs(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	for k, dst := range map[string]*[]string{"issuing_certificates": &c.IssuingCertificates, "crl_distribution_points": &c.CRLDistributionPoints,
		"ocsp_servers": &c.OCSPServers, "delta_crl_distribution_points": &c.DeltaCRLDistributionPoints} {
		v, ok, err := logical.Strings(req.Data, k)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		for _, s := range v {
			if u, err := url.Parse(s); err != nil || u.Scheme == "" || u.Host == "" {
				return nil, logical.BadRequest("%s: %q is not an absolute URL", k, s)
			}
		}
		*dst = v
	}
	if err := logical.PutJSON(ctx, req.Storage, "config/urls", c); err != nil {
		return nil, err
	}
	return b.readURLs(ctx, req, p)
}

// crlConfig is config/crl.
type crlConfig struct {
	Expiry               time.Duration `json:"expiry"`
	Disable              bool          `json:"disable"`
	OCSPDisable          bool          `json:"ocsp_disable"`
	OCSPExpiry           time.Duration `json:"ocsp_expiry"`
	AutoRebuild          bool          `json:"auto_rebuild"`
	EnableDelta          bool          `json:"enable_delta"`
	DeltaRebuildInterval time.Duration `json:"delta_rebuild_interval"`
}

var crlFields = logical.Fields{
	{Name: "expiry", Type: logical.TypeDuration, Default: "72h", Description: "How long a CRL is valid (its NextUpdate)."},
	{Name: "disable", Type: logical.TypeBool, Description: "Publish empty CRLs."},
	{Name: "ocsp_disable", Type: logical.TypeBool, Description: "Answer OCSP with unauthorized."},
	{Name: "ocsp_expiry", Type: logical.TypeDuration, Default: "12h", Description: "NextUpdate of OCSP answers."},
	{Name: "auto_rebuild", Type: logical.TypeBool, Description: "With enable_delta: a revocation rebuilds only the delta CRL."},
	{Name: "enable_delta", Type: logical.TypeBool, Description: "Publish delta CRLs."},
	{Name: "delta_rebuild_interval", Type: logical.TypeDuration, Default: "15m", Description: "NextUpdate of delta CRLs."},
	{Name: "auto_rebuild_grace_period", Type: logical.TypeDuration, Description: "Accepted for compatibility."},
}

func loadCRLConfig(ctx context.Context, s logical.Storage) (*crlConfig, error) {
	c := &crlConfig{Expiry: 72 * time.Hour, OCSPExpiry: 12 * time.Hour, DeltaRebuildInterval: 15 * time.Minute}
	_, err := logical.GetJSON(ctx, s, "config/crl", c)
	return c, err
}

func (c *crlConfig) data() map[string]any {
	return map[string]any{"expiry": c.Expiry.String(), "disable": c.Disable, "ocsp_disable": c.OCSPDisable,
		"ocsp_expiry": c.OCSPExpiry.String(), "auto_rebuild": c.AutoRebuild, "enable_delta": c.EnableDelta,
		"delta_rebuild_interval": c.DeltaRebuildInterval.String(), "auto_rebuild_grace_period": "12h0m0s"}
}

func (b *backend) readCRLConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	c, err := loadCRLConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: c.data()}, nil
}

func (b *backend) writeCRLConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := crlFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := loadCRLConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	for k, dst := range map[string]*time.Duration{"expiry": &c.Expiry, "ocsp_expiry": &c.OCSPExpiry, "delta_rebuild_interval": &c.DeltaRebuildInterval} {
		v, ok, err := logical.Duration(req.Data, k)
		if err != nil {
			return nil, err
		}
		if ok {
			if v <= 0 {
				return nil, logical.BadRequest("%s must be positive", k)
			}
			*dst = v
		}
	}
	for k, dst := range map[string]*bool{"disable": &c.Disable, "ocsp_disable": &c.OCSPDisable, "auto_rebuild": &c.AutoRebuild, "enable_delta": &c.EnableDelta} {
		v, ok, err := logical.Bool(req.Data, k)
		if err != nil {
			return nil, err
		}
		if ok {
			*dst = v
		}
	}
	if err := logical.PutJSON(ctx, req.Storage, "config/crl", c); err != nil {
		return nil, err
	}
	return &logical.Response{Data: c.data()}, nil
}
