package cert_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"
)

// issuer is a test CA.
type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCA(t testing.TB, cn string) *issuer {
	t.Helper()
	k := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &issuer{cert: c, key: k}
}

func (ca *issuer) pem() string { return toPEM(ca.cert) }

func toPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

type leafOpts struct {
	cn      string
	serial  int64
	ous     []string
	dns     []string
	uris    []string
	ips     []net.IP
	usage   []x509.ExtKeyUsage
	key     *ecdsa.PrivateKey
	expired bool
}

// issue signs a leaf; ca nil means self-signed (a pinned leaf).
func (ca *issuer) issue(t testing.TB, o leafOpts) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	if o.key == nil {
		o.key = newKey(t)
	}
	if o.serial == 0 {
		o.serial = time.Now().UnixNano()
	}
	if o.usage == nil {
		o.usage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	nb, na := time.Now().Add(-time.Hour), time.Now().Add(12*time.Hour)
	if o.expired {
		nb, na = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(o.serial), Subject: pkix.Name{CommonName: o.cn, OrganizationalUnit: o.ous},
		NotBefore: nb, NotAfter: na, DNSNames: o.dns, IPAddresses: o.ips, ExtKeyUsage: o.usage,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	for _, u := range o.uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	parent, signer := tmpl, o.key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &o.key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: o.key, Leaf: c}
}

func (ca *issuer) crl(t testing.TB, revoked ...*x509.Certificate) string {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(time.Now().UnixNano()), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: entries,
	}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}
