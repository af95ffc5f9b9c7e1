package raft_test

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/storage/raft"
)

func TestCARoundTrip(t *testing.T) {
	ca := newCA(t)
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := raft.LoadCA(ca.CertPEM(), keyPEM)
	if err != nil {
		t.Fatalf("LoadCA = %v", err)
	}
	cert, err := loaded.Issue("n1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cert.Leaf.Verify(x509.VerifyOptions{
		DNSName:   raft.ServerName,
		Roots:     ca.Pool(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		t.Fatalf("a certificate from the loaded CA does not verify against the original: %v", err)
	}
	if _, err := raft.LoadCA(ca.CertPEM(), []byte("junk")); err == nil {
		t.Error("LoadCA(junk key) = nil error")
	}
	other, _ := newCA(t).KeyPEM()
	if _, err := raft.LoadCA(ca.CertPEM(), other); err == nil {
		t.Error("LoadCA(another CA's key) = nil error")
	}
}

func TestCANeverPrintsKey(t *testing.T) {
	ca := newCA(t)
	keyPEM, _ := ca.KeyPEM()
	body := strings.Join(strings.Split(string(keyPEM), "\n")[1:3], "")
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("ca", "ca", ca)
	j, _ := json.Marshal(ca)
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", ca), "%+v": fmt.Sprintf("%+v", ca), "%#v": fmt.Sprintf("%#v", ca),
		"slog": sb.String(), "json": string(j),
	} {
		if strings.Contains(s, body) || strings.Contains(s, "PRIVATE") || !strings.Contains(s, "redacted") {
			t.Errorf("%s prints the CA key: %s", name, s)
		}
	}
}
