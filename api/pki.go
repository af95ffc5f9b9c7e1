package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// IssueRequest is what MOUNT/issue/ROLE is asked for: the names of the
// certificate and, optionally, its lifetime (0: the role's ttl).
type IssueRequest struct {
	CommonName string
	AltNames   []string // DNS names and email addresses
	IPSANs     []string
	URISANs    []string
	TTL        time.Duration
}

// IssuedCertificate is what MOUNT/issue/ROLE answers: a certificate and
// the private key the server generated for it. PrivateKey never prints;
// everything else is public.
type IssuedCertificate struct {
	Certificate    string   // the leaf, PEM
	IssuingCA      string   // the issuer's certificate, PEM
	CAChain        []string // the issuer's chain, issuer first, PEM each
	PrivateKey     Token    // PEM
	PrivateKeyType string   // rsa, ec or ed25519
	SerialNumber   string
	Expiration     time.Time
}

// IssueCertificate issues a certificate from the pki role at mount/issue/
// role, with a private key the server generates (and, unless the role says
// no_store, keeps the certificate of, never the key). The key is in the
// answer once: whoever calls this must store it or lose it.
func (c *Client) IssueCertificate(ctx context.Context, mount, role string, r IssueRequest) (*IssuedCertificate, error) {
	mount, role = strings.Trim(mount, "/"), strings.Trim(role, "/")
	if mount == "" || role == "" {
		return nil, fmt.Errorf("api: issue certificate: mount and role are required")
	}
	body := map[string]any{"common_name": r.CommonName, "format": "pem", "private_key_format": "der"}
	if len(r.AltNames) > 0 {
		body["alt_names"] = strings.Join(r.AltNames, ",")
	}
	if len(r.IPSANs) > 0 {
		body["ip_sans"] = strings.Join(r.IPSANs, ",")
	}
	if len(r.URISANs) > 0 {
		body["uri_sans"] = strings.Join(r.URISANs, ",")
	}
	if r.TTL > 0 {
		body["ttl"] = fmt.Sprintf("%ds", int64(r.TTL/time.Second))
	}
	var s struct {
		Data struct {
			Certificate    string      `json:"certificate"`
			IssuingCA      string      `json:"issuing_ca"`
			CAChain        []string    `json:"ca_chain"`
			PrivateKey     string      `json:"private_key"`
			PrivateKeyType string      `json:"private_key_type"`
			SerialNumber   string      `json:"serial_number"`
			Expiration     json.Number `json:"expiration"`
		} `json:"data"`
	}
	path := mount + "/issue/" + role
	if _, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: path, Body: body}, &s); err != nil {
		return nil, err
	}
	d := s.Data
	if d.Certificate == "" || d.PrivateKey == "" {
		return nil, fmt.Errorf("PUT %s: the answer holds no certificate or no private key", path)
	}
	exp, _ := d.Expiration.Int64()
	return &IssuedCertificate{Certificate: d.Certificate, IssuingCA: d.IssuingCA, CAChain: d.CAChain,
		PrivateKey: NewToken(d.PrivateKey), PrivateKeyType: d.PrivateKeyType, SerialNumber: d.SerialNumber,
		Expiration: time.Unix(exp, 0).UTC()}, nil
}
