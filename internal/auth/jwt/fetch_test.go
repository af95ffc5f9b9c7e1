package jwt

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"testing"
)

func TestBlockedAddr(t *testing.T) {
	for _, s := range []string{"127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
		"100.100.100.200", "0.0.0.0", "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
		"224.0.0.1", "255.255.255.255", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "198.18.0.1"} {
		if !blockedAddr(netip.MustParseAddr(s)) {
			t.Errorf("blockedAddr(%s) = false", s)
		}
	}
	for _, s := range []string{"140.82.112.3", "8.8.8.8", "2606:4700::1111"} {
		if blockedAddr(netip.MustParseAddr(s)) {
			t.Errorf("blockedAddr(%s) = true", s)
		}
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url  string
		want string // "" = allowed
	}{
		{"https://token.actions.githubusercontent.com", ""},
		{"https://127.0.0.1:8200", "internal"},
		{"https://169.254.169.254/latest/meta-data", "internal"},
		{"https://[::1]/", "internal"},
		{"https://[::ffff:127.0.0.1]/", "internal"},
		{"https://localhost:8200", "internal"},
		{"https://LOCALHOST./", "internal"},
		{"https://metadata.google.internal/", "internal"},
		{"http://example.com", "https"},
		{"file:///etc/passwd", "https"},
		{"https://user:pass@example.com", "user info"},
		{"https:///nohost", "no host"},
	}
	for _, tc := range tests {
		_, err := checkURL(tc.url, blockedAddr)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("checkURL(%q) = %v, want %q", tc.url, err, tc.want)
		}
	}
}

// TestDialTimeCheck is the DNS-rebinding case of T23: a hostname that is
// not an IP literal passes the URL check but resolves to loopback, and the
// dialer refuses the resolved address.
func TestDialTimeCheck(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no hostname")
	}
	addrs, err := net.LookupHost(host)
	if err != nil || len(addrs) == 0 {
		t.Skip("hostname does not resolve")
	}
	ip, err := netip.ParseAddr(addrs[0])
	if err != nil || !blockedAddr(ip) || host == "localhost" {
		t.Skipf("hostname %s resolves to a public address", host)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("request reached the server")
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	f, err := newFetcher("", blockedAddr)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	err = f.getJSON(context.Background(), "https://"+net.JoinHostPort(host, u.Port())+"/keys", &out)
	if !errors.Is(err, errBlockedAddr) {
		t.Fatalf("fetch via %s = %v, want blocked", host, err)
	}
}

// TestRedirectRevalidated: every hop is checked, so a permitted server
// cannot bounce the fetch to an internal address.
func TestRedirectRevalidated(t *testing.T) {
	var hops int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hops++
		switch r.URL.Path {
		case "/internal":
			http.Redirect(w, r, "https://127.0.0.2:1/latest/meta-data", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/plain":
			http.Redirect(w, r, "http://example.com/", http.StatusFound)
		}
	}))
	defer srv.Close()
	// The test server is on 127.0.0.1: refuse only 127.0.0.2 here.
	policy := func(ip netip.Addr) bool { return ip == netip.MustParseAddr("127.0.0.2") }
	f, err := newFetcher("", policy)
	if err != nil {
		t.Fatal(err)
	}
	f.client.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	for path, want := range map[string]string{"/internal": "internal", "/loop": "too many redirects", "/plain": "https"} {
		var out map[string]any
		err := f.getJSON(context.Background(), srv.URL+path, &out)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", path, err, want)
		}
	}
	if hops > 1+maxRedirects+1 {
		t.Errorf("%d hops", hops)
	}
}

// TestFetchErrorsNeverEchoBody: a hostile or broken IdP cannot get its
// response (which might be an internal page) into error messages.
func TestFetchErrorsNeverEchoBody(t *testing.T) {
	const canary = "CANARY-7f3a9c-internal-page"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/500":
			http.Error(w, canary, http.StatusInternalServerError)
		case "/notjson":
			w.Write([]byte("<html>" + canary + "</html>"))
		case "/big":
			w.Write([]byte(`{"keys":"` + strings.Repeat("a", maxFetchBody) + canary + `"}`))
		}
	}))
	defer srv.Close()
	f, err := newFetcher("", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.client.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	for _, p := range []string{"/500", "/notjson", "/big"} {
		var out map[string]any
		err := f.getJSON(context.Background(), srv.URL+p, &out)
		if err == nil {
			t.Fatalf("%s: no error", p)
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("%s: error echoes the body: %v", p, err)
		}
	}
}
