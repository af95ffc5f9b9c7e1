package node

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/core"
)

// Headers of a forwarded request, trusted only on the cluster port (where
// the peer proved with its certificate that it is a cluster node).
const (
	hdrForwardedFor  = "X-Keyward-Forwarded-For"
	hdrForwardedCert = "X-Keyward-Forwarded-Client-Cert"
)

// forwarder sends a standby's client requests to the active node over the
// cluster port (mutual TLS with the cluster's certificates).
type forwarder struct {
	c     *raftCluster
	tr    *http.Transport
	proxy *httputil.ReverseProxy
}

func newForwarder(c *raftCluster) *forwarder {
	f := &forwarder{c: c}
	f.tr = &http.Transport{
		DialTLSContext:      f.dial,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:       func(*httputil.ProxyRequest) {}, // set per request in Forward
		Transport:     f.tr,
		FlushInterval: -1, // streamed bodies (snapshots) pass through as they come
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			c.logger.Warn("forwarding to the active node failed", "err", err)
			var oe *net.OpError
			if errors.As(err, &oe) && oe.Op == "dial" {
				// Nothing was sent: the client may retry any request.
				writeJSONError(w, http.StatusServiceUnavailable, "the active node could not be reached; the request was not forwarded; retry")
				return
			}
			writeJSONError(w, http.StatusServiceUnavailable, "the connection to the active node broke; the request may or may not have been applied; retry")
		},
	}
	return f
}

func (f *forwarder) close() { f.tr.CloseIdleConnections() }

// dial connects to the active node's cluster port.
func (f *forwarder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	tc := f.c.clientTLS()
	if tc == nil {
		return nil, errors.New("the cluster port is not started")
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: tc}
	return d.DialContext(ctx, network, addr)
}

// Standby implements httpapi.Forwarder.
func (f *forwarder) Standby() bool { return f.c.core != nil && f.c.core.Standby() }

// Forward implements httpapi.Forwarder: r goes to the raft leader, which is
// the active node, with the client's address and certificates.
func (f *forwarder) Forward(w http.ResponseWriter, r *http.Request, client string) {
	addr := f.leader(r.Context())
	if addr == "" {
		writeJSONError(w, http.StatusServiceUnavailable, "this node is a standby and no active node is known yet; retry")
		return
	}
	var certs []string
	if r.TLS != nil {
		for _, c := range r.TLS.PeerCertificates {
			certs = append(certs, base64.StdEncoding.EncodeToString(c.Raw))
		}
	}
	p := *f.proxy
	p.Rewrite = func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme = "https"
		pr.Out.URL.Host = addr
		pr.Out.Host = addr
		pr.Out.Header.Del(hdrForwardedFor)
		pr.Out.Header.Del(hdrForwardedCert)
		pr.Out.Header.Set(hdrForwardedFor, client)
		if len(certs) > 0 {
			pr.Out.Header.Set(hdrForwardedCert, strings.Join(certs, ","))
		}
	}
	p.ServeHTTP(w, r)
}

// leaderWait bounds how long a standby waits to learn the leader (during an
// election) before it refuses a request.
const leaderWait = 5 * time.Second

// leader returns the raft leader's cluster address, waiting up to
// leaderWait while an election runs.
func (f *forwarder) leader(ctx context.Context) string {
	deadline := time.Now().Add(leaderWait)
	for {
		if _, addr := f.c.store.Leader(); addr != "" {
			return addr
		}
		if time.Now().After(deadline) {
			return ""
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// serveCluster serves the cluster port's HTTP protocol: forwarded client
// requests (on the active node), node status (for autopilot) and standby
// heartbeats.
func (c *raftCluster) serveCluster(w http.ResponseWriter, r *http.Request) {
	ps := peerState(r)
	if ps == nil || len(ps.PeerCertificates) == 0 {
		writeJSONError(w, http.StatusForbidden, "cluster peers only")
		return
	}
	peer := ps.PeerCertificates[0].Subject.CommonName
	switch {
	case r.URL.Path == "/cluster/status" && r.Method == http.MethodGet:
		writeJSON(w, c.status())
	case r.URL.Path == "/cluster/echo" && r.Method == http.MethodPost:
		var e echo
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&e); err != nil || e.NodeID != peer {
			writeJSONError(w, http.StatusBadRequest, "malformed echo")
			return
		}
		c.echoes.record(e, time.Now())
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(r.URL.Path, "/v1/"):
		client := r.Header.Get(hdrForwardedFor)
		if client == "" {
			writeJSONError(w, http.StatusBadRequest, "a forwarded request names its client")
			return
		}
		// The connection's certificate is the standby's, never the
		// client's: the client's own certificates come in the header.
		r.TLS = nil
		if v := r.Header.Get(hdrForwardedCert); v != "" {
			var certs []*x509.Certificate
			for _, part := range strings.Split(v, ",") {
				der, err := base64.StdEncoding.DecodeString(part)
				if err != nil {
					writeJSONError(w, http.StatusBadRequest, "malformed forwarded client certificate")
					return
				}
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					writeJSONError(w, http.StatusBadRequest, "malformed forwarded client certificate")
					return
				}
				certs = append(certs, cert)
			}
			r.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: certs}
		}
		r.Header.Del(hdrForwardedFor)
		r.Header.Del(hdrForwardedCert)
		c.api.ServeForwarded(w, r, client)
	default:
		writeJSONError(w, http.StatusNotFound, "not found")
	}
}

// nodeStatus is what a node says about itself on the cluster port.
type nodeStatus struct {
	NodeID       string `json:"node_id"`
	APIAddr      string `json:"api_addr"`
	Version      string `json:"version"`
	Sealed       bool   `json:"sealed"`
	Standby      bool   `json:"standby"`
	AppliedIndex uint64 `json:"applied_index"`
	LastIndex    uint64 `json:"last_index"`
	Term         uint64 `json:"term"`
}

func (c *raftCluster) status() nodeStatus {
	st := c.store.Stats()
	ns := nodeStatus{NodeID: c.nodeID, APIAddr: c.cfg.APIAddr, Version: core.Version,
		AppliedIndex: st.AppliedIndex, LastIndex: st.LastIndex, Term: st.Term, Sealed: true}
	if c.core != nil {
		ns.Sealed = c.core.Sealed()
		ns.Standby = c.core.Standby()
	}
	return ns
}

// echo is a standby's heartbeat to the active node (sys/ha-status).
type echo struct {
	NodeID      string `json:"node_id"`
	Hostname    string `json:"hostname"`
	APIAddr     string `json:"api_addr"`
	ClusterAddr string `json:"cluster_addr"`
	Version     string `json:"version"`
}

// echoBook holds the latest heartbeat of each standby.
type echoBook struct {
	mu   sync.Mutex
	last map[string]echoSeen
}

type echoSeen struct {
	echo
	at time.Time
}

func newEchoBook() *echoBook { return &echoBook{last: map[string]echoSeen{}} }

func (b *echoBook) record(e echo, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last[e.NodeID] = echoSeen{echo: e, at: now}
}

// recent returns the heartbeats heard within maxAge, forgetting older ones.
func (b *echoBook) recent(now time.Time, maxAge time.Duration) []echoSeen {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []echoSeen
	for id, e := range b.last {
		if now.Sub(e.at) > maxAge {
			delete(b.last, id)
			continue
		}
		out = append(out, e)
	}
	return out
}

// echoInterval is how often a standby reports to the active node.
const echoInterval = 2 * time.Second

// echoLoop reports this node to the active one while it is a standby.
func (c *raftCluster) echoLoop() {
	hc := &http.Client{Transport: c.fwd.tr, Timeout: 5 * time.Second}
	adv, _ := c.cfg.ClusterAdvertise()
	body, _ := json.Marshal(echo{NodeID: c.nodeID, Hostname: hostname(), APIAddr: c.cfg.APIAddr, ClusterAddr: adv, Version: core.Version})
	t := time.NewTicker(echoInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if c.core == nil || !c.core.Standby() {
			continue
		}
		_, addr := c.store.Leader()
		if addr == "" {
			continue
		}
		req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/cluster/echo", bytes.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// peerStatus asks a member for its status over the cluster port.
func (c *raftCluster) peerStatus(ctx context.Context, addr string) (nodeStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/cluster/status", nil)
	resp, err := (&http.Client{Transport: c.fwd.tr}).Do(req)
	if err != nil {
		return nodeStatus{}, err
	}
	defer resp.Body.Close()
	var st nodeStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&st); err != nil {
		return nodeStatus{}, err
	}
	return st, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}})
}

// encodeCert returns a certificate and its ECDSA key in PEM.
func encodeCert(cert tls.Certificate) (certPEM, keyPEM string, err error) {
	key, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return "", "", errors.New("node certificate: unexpected key type")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}
