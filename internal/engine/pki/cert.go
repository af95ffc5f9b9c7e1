package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"net/url"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// certSpec is everything a new certificate carries, already checked.
type certSpec struct {
	Subject     pkix.Name
	DNS         []string
	Emails      []string
	IPs         []net.IP
	URIs        []*url.URL
	OtherSANs   [][2]string // OID, UTF-8 value
	NotBefore   time.Time
	NotAfter    time.Time
	IsCA        bool
	MaxPathLen  int // -1: none
	KeyUsage    x509.KeyUsage
	ExtKeyUsage []x509.ExtKeyUsage
	EKUOIDs     []asn1.ObjectIdentifier
	Permitted   []string // permitted DNS domains (CA only)
	Pub         crypto.PublicKey
	SigBits     int
	UsePSS      bool
	URLs        urlsConfig
}

var oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}

// build signs spec with signer under parent (nil: self-signed). It
// returns the DER and the parsed certificate.
func build(spec *certSpec, parent *x509.Certificate, signer crypto.Signer) ([]byte, *x509.Certificate, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	ski, err := subjectKeyID(spec.Pub)
	if err != nil {
		return nil, nil, errors.New("unsupported public key")
	}
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               spec.Subject,
		NotBefore:             spec.NotBefore.UTC().Truncate(time.Second),
		NotAfter:              spec.NotAfter.UTC().Truncate(time.Second),
		KeyUsage:              spec.KeyUsage,
		ExtKeyUsage:           spec.ExtKeyUsage,
		UnknownExtKeyUsage:    spec.EKUOIDs,
		BasicConstraintsValid: true,
		IsCA:                  spec.IsCA,
		DNSNames:              spec.DNS,
		EmailAddresses:        spec.Emails,
		IPAddresses:           spec.IPs,
		URIs:                  spec.URIs,
		SubjectKeyId:          ski,
		PermittedDNSDomains:   spec.Permitted,
		IssuingCertificateURL: spec.URLs.IssuingCertificates,
		CRLDistributionPoints: spec.URLs.CRLDistributionPoints,
		OCSPServer:            spec.URLs.OCSPServers,
	}
	if spec.IsCA {
		tpl.MaxPathLen = spec.MaxPathLen
		tpl.MaxPathLenZero = spec.MaxPathLen == 0
		if spec.MaxPathLen < 0 {
			tpl.MaxPathLen = -1
		}
	}
	if len(spec.OtherSANs) > 0 {
		ext, err := marshalSANs(spec)
		if err != nil {
			return nil, nil, err
		}
		tpl.ExtraExtensions = append(tpl.ExtraExtensions, ext)
	}
	if parent == nil {
		parent = tpl
	}
	tpl.SignatureAlgorithm = sigAlg(signer.Public(), spec.SigBits, spec.UsePSS)
	der, err := x509.CreateCertificate(rand.Reader, tpl, parent, spec.Pub, signer)
	if err != nil {
		return nil, nil, logical.BadRequest("create certificate: %v", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return der, c, nil
}

// sigAlg picks the signature algorithm for an issuer key.
func sigAlg(pub crypto.PublicKey, bits int, pss bool) x509.SignatureAlgorithm {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch bits {
		case 384:
			if pss {
				return x509.SHA384WithRSAPSS
			}
			return x509.SHA384WithRSA
		case 512:
			if pss {
				return x509.SHA512WithRSAPSS
			}
			return x509.SHA512WithRSA
		}
		if pss {
			return x509.SHA256WithRSAPSS
		}
		return x509.SHA256WithRSA
	case *ecdsa.PublicKey:
		b := bits
		if b == 0 {
			b = k.Curve.Params().BitSize
		}
		switch {
		case b > 384:
			return x509.ECDSAWithSHA512
		case b > 256:
			return x509.ECDSAWithSHA384
		}
		return x509.ECDSAWithSHA256
	}
	return x509.UnknownSignatureAlgorithm // ed25519: Go picks PureEd25519
}

// marshalSANs encodes the SubjectAltName extension itself, for the
// otherName entries crypto/x509 cannot write.
func marshalSANs(spec *certSpec) (pkix.Extension, error) {
	var raw []asn1.RawValue
	for _, o := range spec.OtherSANs {
		oid, err := parseOID(o[0])
		if err != nil {
			return pkix.Extension{}, err
		}
		val, err := asn1.MarshalWithParams(o[1], "utf8")
		if err != nil {
			return pkix.Extension{}, err
		}
		inner, err := asn1.Marshal(struct {
			OID   asn1.ObjectIdentifier
			Value asn1.RawValue
		}{oid, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: val}})
		if err != nil {
			return pkix.Extension{}, err
		}
		// Replace the SEQUENCE tag with [0] IMPLICIT constructed.
		var seq asn1.RawValue
		if _, err := asn1.Unmarshal(inner, &seq); err != nil {
			return pkix.Extension{}, err
		}
		raw = append(raw, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: seq.Bytes})
	}
	for _, e := range spec.Emails {
		raw = append(raw, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte(e)})
	}
	for _, d := range spec.DNS {
		raw = append(raw, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(d)})
	}
	for _, u := range spec.URIs {
		raw = append(raw, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(u.String())})
	}
	for _, ip := range spec.IPs {
		b := ip.To4()
		if b == nil {
			b = ip.To16()
		}
		raw = append(raw, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: b})
	}
	val, err := asn1.Marshal(raw)
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: oidSAN, Critical: len(spec.Subject.ToRDNSequence()) == 0, Value: val}, nil
}

// otherSANs reads the otherName entries of a parsed certificate or CSR's
// SAN extension ("OID;UTF8:value").
func otherSANs(exts []pkix.Extension) []string {
	var out []string
	for _, e := range exts {
		if !e.Id.Equal(oidSAN) {
			continue
		}
		var seq []asn1.RawValue
		if _, err := asn1.Unmarshal(e.Value, &seq); err != nil {
			return nil
		}
		for _, r := range seq {
			if r.Class != asn1.ClassContextSpecific || r.Tag != 0 {
				continue
			}
			var oid asn1.ObjectIdentifier
			rest, err := asn1.Unmarshal(r.Bytes, &oid)
			if err != nil {
				continue
			}
			var wrapped asn1.RawValue
			if _, err := asn1.Unmarshal(rest, &wrapped); err != nil {
				continue
			}
			var s string
			if _, err := asn1.UnmarshalWithParams(wrapped.Bytes, &s, "utf8"); err != nil {
				continue
			}
			out = append(out, oid.String()+";UTF8:"+s)
		}
	}
	return out
}
