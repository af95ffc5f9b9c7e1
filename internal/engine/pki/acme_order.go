package pki

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/logical"
)

// acmeNewOrder is new-order: each identifier must pass the directory's
// role, and gets an authorization with its challenges.
func (b *backend) acmeNewOrder(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, false, func(ctx context.Context, c *acmeCtx, _ logical.Params) (*logical.Response, error) {
		d := c.dir
		var in struct {
			Identifiers []acmeIdentifier `json:"identifiers"`
			NotBefore   string           `json:"notBefore"`
			NotAfter    string           `json:"notAfter"`
		}
		if prob := c.decode(&in); prob != nil {
			return b.acmeProblem(d, prob), nil
		}
		if in.NotBefore != "" || in.NotAfter != "" {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "notBefore and notAfter are not supported")), nil
		}
		if len(in.Identifiers) == 0 || len(in.Identifiers) > maxOrderIDs {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", fmt.Sprintf("an order needs 1 to %d identifiers", maxOrderIDs))), nil
		}
		pol := d.role.policy()
		now := b.now().UTC()
		o := &acmeOrder{ID: randomID(), AccountID: c.account.ID, Directory: d.prefix, Status: "pending", Expires: now.Add(orderTTL)}
		var authzs []*acmeAuthz
		for _, id := range in.Identifiers {
			var name string
			switch id.Type {
			case "dns":
				if _, err := netip.ParseAddr(strings.Trim(id.Value, "[]")); err == nil {
					return b.acmeProblem(d, problem(http.StatusBadRequest, "rejectedIdentifier", "an IP address must be an ip identifier")), nil
				}
				var err error
				if name, err = pol.checkHost(id.Value); err != nil {
					return b.acmeProblem(d, problem(http.StatusBadRequest, "rejectedIdentifier", err.Error())), nil
				}
			case "ip": // RFC 8738
				a, err := pol.checkIP(id.Value)
				if err != nil {
					return b.acmeProblem(d, problem(http.StatusBadRequest, "rejectedIdentifier", err.Error())), nil
				}
				name = a.String()
			default:
				return b.acmeProblem(d, problem(http.StatusBadRequest, "unsupportedIdentifier", "only dns and ip identifiers are supported")), nil
			}
			if slices.ContainsFunc(o.Identifiers, func(x acmeIdentifier) bool { return x.Type == id.Type && x.Value == name }) {
				continue
			}
			o.Identifiers = append(o.Identifiers, acmeIdentifier{Type: id.Type, Value: name})
			az := &acmeAuthz{ID: randomID(), AccountID: c.account.ID, Directory: d.prefix, Status: "pending", Expires: o.Expires}
			base, wild := strings.CutPrefix(name, "*.")
			az.Identifier, az.Wildcard = acmeIdentifier{Type: id.Type, Value: base}, wild
			types := []string{"http-01", "dns-01", "tls-alpn-01"}
			switch {
			case wild:
				types = []string{"dns-01"} // RFC 8555 section 7.1.3
			case id.Type == "ip":
				types = []string{"http-01"} // RFC 8738 section 7 (tls-alpn-01 for IPs is not offered here)
			}
			for _, t := range types {
				az.Challenges = append(az.Challenges, acmeChallenge{Type: t, Token: randomID(), Status: "pending"})
			}
			authzs = append(authzs, az)
			o.AuthzIDs = append(o.AuthzIDs, az.ID)
		}
		for _, az := range authzs {
			if err := logical.PutJSON(ctx, req.Storage, "acme/authz/"+az.ID, az); err != nil {
				return nil, err
			}
		}
		if err := logical.PutJSON(ctx, req.Storage, "acme/orders/"+o.ID, o); err != nil {
			return nil, err
		}
		if err := logical.PutJSON(ctx, req.Storage, "acme/account-orders/"+c.account.ID+"/"+o.ID, struct{}{}); err != nil {
			return nil, err
		}
		h := http.Header{"Location": {d.base + "order/" + o.ID}}
		return b.acmeJSON(d, http.StatusCreated, b.orderJSON(d, o), h), nil
	})
}

func (b *backend) orderJSON(d *acmeDir, o *acmeOrder) map[string]any {
	authz := make([]string, len(o.AuthzIDs))
	for i, id := range o.AuthzIDs {
		authz[i] = d.base + "authorization/" + id
	}
	m := map[string]any{"status": o.Status, "expires": o.Expires.Format(time.RFC3339), "identifiers": o.Identifiers,
		"authorizations": authz, "finalize": d.base + "order/" + o.ID + "/finalize"}
	if o.CertSerial != "" {
		m["certificate"] = d.base + "order/" + o.ID + "/cert"
	}
	if o.Error != nil {
		m["error"] = o.Error
	}
	return m
}

// loadOrder loads the account's order id as seen through d, bringing its
// status up to date with its authorizations.
func (b *backend) loadOrder(ctx context.Context, c *acmeCtx, id string) (*acmeOrder, error) {
	o, err := loadACME[acmeOrder](ctx, c.req.Storage, "acme/orders/"+id)
	if err != nil || o == nil || o.AccountID != c.account.ID || o.Directory != c.dir.prefix {
		return nil, err
	}
	if o.Status != "pending" {
		return o, nil
	}
	if b.now().After(o.Expires) {
		o.Status = "invalid"
		return o, nil
	}
	ready := true
	for _, aid := range o.AuthzIDs {
		az, err := loadACME[acmeAuthz](ctx, c.req.Storage, "acme/authz/"+aid)
		if err != nil {
			return nil, err
		}
		if az == nil || az.Status == "invalid" || az.Status == "deactivated" {
			o.Status = "invalid"
			o.Error = problem(http.StatusForbidden, "unauthorized", "an authorization of this order failed")
			return o, nil
		}
		if az.Status != "valid" {
			ready = false
		}
	}
	if ready {
		o.Status = "ready"
	}
	return o, nil
}

func (b *backend) acmeOrderRead(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, false, func(ctx context.Context, c *acmeCtx, p logical.Params) (*logical.Response, error) {
		o, err := b.loadOrder(ctx, c, p["id"])
		if err != nil {
			return nil, err
		}
		if o == nil {
			return b.acmeProblem(c.dir, problem(http.StatusNotFound, "malformed", "no such order")), nil
		}
		h := http.Header{"Location": {c.dir.base + "order/" + o.ID}}
		return b.acmeJSON(c.dir, http.StatusOK, b.orderJSON(c.dir, o), h), nil
	})
}

func (b *backend) acmeFinalize(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, false, func(ctx context.Context, c *acmeCtx, p logical.Params) (*logical.Response, error) {
		d := c.dir
		var in struct {
			CSR string `json:"csr"`
		}
		if prob := c.decode(&in); prob != nil {
			return b.acmeProblem(d, prob), nil
		}
		b.acmeMu.Lock()
		defer b.acmeMu.Unlock()
		o, err := b.loadOrder(ctx, c, p["id"])
		if err != nil {
			return nil, err
		}
		if o == nil {
			return b.acmeProblem(d, problem(http.StatusNotFound, "malformed", "no such order")), nil
		}
		if o.Status != "ready" {
			return b.acmeProblem(d, problem(http.StatusForbidden, "orderNotReady", "the order is "+o.Status)), nil
		}
		der, err := base64.RawURLEncoding.DecodeString(in.CSR)
		if err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "badCSR", "csr is not base64url DER")), nil
		}
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil || csr.CheckSignature() != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "badCSR", "csr does not parse or its signature does not verify")), nil
		}
		if prob := csrMatchesOrder(csr, o); prob != nil {
			return b.acmeProblem(d, prob), nil
		}
		if err := checkCSRKey(d.role, csr.PublicKey); err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "badCSR", err.Error())), nil
		}
		var names, ips []string
		for _, id := range o.Identifiers {
			if id.Type == "ip" {
				ips = append(ips, id.Value)
			} else {
				names = append(names, id.Value)
			}
		}
		cn := "" // an IP common name is dropped: the IP SAN carries it
		if _, err := netip.ParseAddr(csr.Subject.CommonName); err != nil && csr.Subject.CommonName != "" {
			cn, _ = canonicalHost(csr.Subject.CommonName, true)
		}
		data := map[string]any{"common_name": cn, "alt_names": names, "ip_sans": ips}
		spec := &certSpec{Pub: csr.PublicKey}
		// The role's own name checks, exactly as sign/ROLE applies them.
		ireq := *req
		ireq.Data = map[string]any{}
		if err := b.leafSpec(ctx, &ireq, d.role, spec, data); err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "rejectedIdentifier", errMessage(err))), nil
		}
		if max := time.Duration(acmeCertDays) * 24 * time.Hour; d.role.MaxTTL == 0 || d.role.MaxTTL > max {
			r := *d.role
			r.MaxTTL = max
			if r.TTL > max {
				r.TTL = max
			}
			d.role = &r
		}
		resp, err := b.finish(ctx, &ireq, d.role, spec, nil, d.issuer, data)
		if err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "badCSR", errMessage(err))), nil
		}
		serial, _ := resp.Data["serial_number"].(string)
		if err := logical.PutJSON(ctx, req.Storage, "acme/cert-owners/"+storageSerial(serial), acmeCertOwner{AccountID: c.account.ID}); err != nil {
			return nil, err
		}
		o.Status, o.CertSerial = "valid", serial
		if err := logical.PutJSON(ctx, req.Storage, "acme/orders/"+o.ID, o); err != nil {
			return nil, err
		}
		h := http.Header{"Location": {d.base + "order/" + o.ID}}
		return b.acmeJSON(d, http.StatusOK, b.orderJSON(d, o), h), nil
	})
}

func errMessage(err error) string {
	var ce *logical.CodedError
	if errors.As(err, &ce) {
		return err.Error()
	}
	return "the certificate could not be issued"
}

// csrMatchesOrder holds the CSR to exactly the order's names: every DNS
// name and IP address (and the common name, if any) is an identifier of
// the order, every identifier is in the CSR, and it asks for no other kind
// of name.
func csrMatchesOrder(csr *x509.CertificateRequest, o *acmeOrder) *acmeProblem {
	if len(csr.EmailAddresses)+len(csr.URIs) > 0 || len(otherSANs(csr.Extensions)) > 0 {
		return problem(http.StatusBadRequest, "badCSR", "the CSR asks for names other than DNS names and IP addresses")
	}
	want := map[string]bool{}
	wantIP := map[netip.Addr]bool{}
	for _, id := range o.Identifiers {
		if id.Type == "ip" {
			wantIP[netip.MustParseAddr(id.Value)] = false
		} else {
			want[id.Value] = false
		}
	}
	for _, ip := range csr.IPAddresses {
		a, ok := netip.AddrFromSlice(ip)
		if _, in := wantIP[a.Unmap()]; !ok || !in {
			return problem(http.StatusBadRequest, "badCSR", fmt.Sprintf("the CSR names IP %s, which is not in the order", ip))
		}
		wantIP[a.Unmap()] = true
	}
	for a, seen := range wantIP {
		if !seen {
			return problem(http.StatusBadRequest, "badCSR", fmt.Sprintf("the CSR does not name IP %s from the order", a))
		}
	}
	check := func(n string) *acmeProblem {
		c, err := canonicalHost(n, true)
		if err != nil {
			return problem(http.StatusBadRequest, "badCSR", "the CSR has an invalid name")
		}
		if _, ok := want[c]; !ok {
			return problem(http.StatusBadRequest, "badCSR", fmt.Sprintf("the CSR names %q, which is not in the order", c))
		}
		want[c] = true
		return nil
	}
	for _, n := range csr.DNSNames {
		if p := check(n); p != nil {
			return p
		}
	}
	if cn := csr.Subject.CommonName; cn != "" {
		if a, err := netip.ParseAddr(cn); err == nil {
			if _, in := wantIP[a.Unmap()]; !in {
				return problem(http.StatusBadRequest, "badCSR", "the CSR's common name is an IP address not in the order")
			}
		} else if p := check(cn); p != nil {
			return p
		}
	}
	for n, seen := range want {
		if !seen {
			return problem(http.StatusBadRequest, "badCSR", fmt.Sprintf("the CSR does not name %q from the order", n))
		}
	}
	return nil
}

func (b *backend) acmeCert(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, false, func(ctx context.Context, c *acmeCtx, p logical.Params) (*logical.Response, error) {
		d := c.dir
		o, err := b.loadOrder(ctx, c, p["id"])
		if err != nil {
			return nil, err
		}
		if o == nil || o.CertSerial == "" {
			return b.acmeProblem(d, problem(http.StatusNotFound, "malformed", "no certificate for this order")), nil
		}
		cert, err := loadCert(ctx, req.Storage, o.CertSerial)
		if err != nil {
			return nil, err
		}
		if cert == nil {
			return b.acmeProblem(d, problem(http.StatusNotFound, "malformed", "the certificate is no longer stored")), nil
		}
		all, err := listIssuers(ctx, req.Storage)
		if err != nil {
			return nil, err
		}
		var sb strings.Builder
		sb.WriteString(certPEM(cert.Raw))
		if iss := issuerOf(cert, all); iss != nil {
			for _, s := range chain(iss, all) {
				sb.WriteString(strings.TrimSpace(s) + "\n")
			}
		}
		return b.acmeRaw(d, http.StatusOK, "application/pem-certificate-chain", []byte(sb.String()), nil), nil
	})
}

// acmeRevoke is revoke-cert: signed by the account that ordered the
// certificate, or by the certificate's own key (jwk).
func (b *backend) acmeRevoke(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, true, func(ctx context.Context, c *acmeCtx, _ logical.Params) (*logical.Response, error) {
		d := c.dir
		var in struct {
			Certificate string `json:"certificate"`
			Reason      int    `json:"reason"`
		}
		if prob := c.decode(&in); prob != nil {
			return b.acmeProblem(d, prob), nil
		}
		der, err := base64.RawURLEncoding.DecodeString(in.Certificate)
		if err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "certificate is not base64url DER")), nil
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "certificate does not parse")), nil
		}
		serial := formatSerial(cert.SerialNumber)
		stored, err := loadCert(ctx, req.Storage, serial)
		if err != nil {
			return nil, err
		}
		if stored == nil || !stored.Equal(cert) {
			return b.acmeProblem(d, problem(http.StatusNotFound, "malformed", "certificate not issued by this mount")), nil
		}
		if c.account != nil {
			owner, err := loadACME[acmeCertOwner](ctx, req.Storage, "acme/cert-owners/"+storageSerial(serial))
			if err != nil {
				return nil, err
			}
			if owner == nil || owner.AccountID != c.account.ID {
				return b.acmeProblem(d, problem(http.StatusForbidden, "unauthorized", "this account did not order the certificate")), nil
			}
		} else {
			certKey := jose.JSONWebKey{Key: cert.PublicKey}
			want, err1 := thumbprint(&certKey)
			got, err2 := thumbprint(c.jwk)
			if err1 != nil || err2 != nil || want != got {
				return b.acmeProblem(d, problem(http.StatusForbidden, "unauthorized", "the JWS is not signed by the certificate's key")), nil
			}
		}
		if rev, err := loadRevocation(ctx, req.Storage, serial); err != nil {
			return nil, err
		} else if rev != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "alreadyRevoked", "the certificate is already revoked")), nil
		}
		if _, err := b.revokeSerial(ctx, req.Storage, serial, nil); err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", errMessage(err))), nil
		}
		return b.acmeRaw(d, http.StatusOK, "application/json", []byte{}, nil), nil
	})
}
