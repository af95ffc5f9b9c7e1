package seal

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/sensitive"
)

// TransitConfig is a seal "transit" block, with Vault's keys.
type TransitConfig struct {
	Address   string           // address: base URL of the server holding the key
	Token     sensitive.String // token (or KEYWARD_TOKEN / VAULT_TOKEN)
	KeyName   string           // key_name
	MountPath string           // mount_path (default "transit/")
	Namespace string           // namespace, sent as X-Vault-Namespace
	// TLS to the transit server.
	TLSCACert      string // tls_ca_cert
	TLSClientCert  string // tls_client_cert
	TLSClientKey   string // tls_client_key
	TLSServerName  string // tls_server_name
	TLSSkipVerify  bool   // tls_skip_verify
	DisableRenewal bool   // disable_renewal: do not renew the token
}

// Validate reports every problem at once. It never names the token.
func (c TransitConfig) Validate() error {
	var errs []error
	if u, err := url.Parse(c.Address); c.Address == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New(`seal "transit": address must be a URL such as https://transit.example.com:8200`))
	}
	if c.KeyName == "" {
		errs = append(errs, errors.New(`seal "transit": key_name is required`))
	} else if strings.ContainsAny(c.KeyName, "/?#") {
		errs = append(errs, errors.New(`seal "transit": key_name must not contain '/', '?' or '#'`))
	}
	if c.Token.Empty() {
		errs = append(errs, errors.New(`seal "transit": token is required (or set KEYWARD_TOKEN or VAULT_TOKEN)`))
	}
	if (c.TLSClientCert == "") != (c.TLSClientKey == "") {
		errs = append(errs, errors.New(`seal "transit": tls_client_cert and tls_client_key go together`))
	}
	return errors.Join(errs...)
}

// Transit wraps keys with a transit key on another server, through its
// encrypt and decrypt endpoints.
type Transit struct {
	cfg    TransitConfig
	base   string // address + /v1/ + mount path, ending in "/"
	client *http.Client
	logger *slog.Logger

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

var _ Seal = (*Transit)(nil)

// NewTransit validates cfg and returns the seal. Unless DisableRenewal is
// set it renews the token in the background at half its TTL. It makes no
// request before the first Wrap, Unwrap or renewal, so an unreachable
// server is no error here.
func NewTransit(cfg TransitConfig, logger *slog.Logger) (*Transit, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MountPath == "" {
		cfg.MountPath = "transit/"
	}
	mount := strings.Trim(cfg.MountPath, "/")
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName, InsecureSkipVerify: cfg.TLSSkipVerify} // #nosec G402 -- tls_skip_verify is the operator's explicit choice
	if cfg.TLSCACert != "" {
		pem, err := os.ReadFile(cfg.TLSCACert)
		if err != nil {
			return nil, fmt.Errorf(`seal "transit": tls_ca_cert: %w`, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf(`seal "transit": tls_ca_cert %s holds no PEM certificate`, cfg.TLSCACert)
		}
		tlsCfg.RootCAs = pool
	}
	if cfg.TLSClientCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSClientCert, cfg.TLSClientKey)
		if err != nil {
			return nil, fmt.Errorf(`seal "transit": client certificate: %w`, err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.Proxy = nil
	t := &Transit{
		cfg:    cfg,
		base:   strings.TrimRight(cfg.Address, "/") + "/v1/" + mount + "/",
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		logger: logger.With("component", "seal", "seal", "transit"),
		stop:   make(chan struct{}),
	}
	if !cfg.DisableRenewal {
		t.wg.Add(1)
		go t.renewLoop()
	}
	return t, nil
}

// Type returns "transit".
func (t *Transit) Type() string { return "transit" }

// Wrap encrypts plaintext with the transit key.
func (t *Transit) Wrap(ctx context.Context, plaintext []byte) (*Blob, error) {
	var out struct {
		Data struct {
			Ciphertext string `json:"ciphertext"`
		} `json:"data"`
	}
	body := map[string]string{"plaintext": base64.StdEncoding.EncodeToString(plaintext)}
	if err := t.do(ctx, "encrypt/"+t.cfg.KeyName, body, &out); err != nil {
		return nil, fmt.Errorf("transit seal: wrap: %w", err)
	}
	if out.Data.Ciphertext == "" {
		return nil, errors.New("transit seal: wrap: the server returned no ciphertext")
	}
	return &Blob{Version: blobVersion, Type: "transit", KeyID: t.cfg.KeyName, Ciphertext: []byte(out.Data.Ciphertext)}, nil
}

// Unwrap decrypts a Blob with the transit key.
func (t *Transit) Unwrap(ctx context.Context, b *Blob) ([]byte, error) {
	if err := checkType(b, "transit"); err != nil {
		return nil, err
	}
	var out struct {
		Data struct {
			Plaintext string `json:"plaintext"`
		} `json:"data"`
	}
	body := map[string]string{"ciphertext": string(b.Ciphertext)}
	if err := t.do(ctx, "decrypt/"+t.cfg.KeyName, body, &out); err != nil {
		return nil, fmt.Errorf("transit seal: unwrap: %w", err)
	}
	plain, err := base64.StdEncoding.DecodeString(out.Data.Plaintext)
	out.Data.Plaintext = ""
	if err != nil || len(plain) == 0 {
		return nil, errors.New("transit seal: unwrap: the server returned no plaintext")
	}
	return plain, nil
}

// Close stops token renewal and idle connections.
func (t *Transit) Close() error {
	t.once.Do(func() { close(t.stop) })
	t.wg.Wait()
	t.client.CloseIdleConnections()
	return nil
}

// do sends one request to base+path (POST with body, GET without) and
// decodes the answer into out. Errors name the path and status and carry
// the server's error messages, never the token or a body.
func (t *Transit) do(ctx context.Context, path string, body, out any) error {
	return t.send(ctx, t.base+path, body, out)
}

func (t *Transit) send(ctx context.Context, u string, body, out any) error {
	method := http.MethodGet
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		defer clear(raw)
		method, rd = http.MethodPost, bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("X-Vault-Token", t.cfg.Token.Reveal())
	req.Header.Set("X-Vault-Request", "true")
	if t.cfg.Namespace != "" {
		req.Header.Set("X-Vault-Namespace", t.cfg.Namespace)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	path := strings.TrimPrefix(u, strings.TrimRight(t.cfg.Address, "/"))
	resp, err := t.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is named below, once
		}
		return fmt.Errorf("%s %s at %s: %w", method, path, t.cfg.Address, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	defer clear(raw)
	if resp.StatusCode/100 != 2 {
		var e struct {
			Errors []string `json:"errors"`
		}
		msg := ""
		if json.Unmarshal(raw, &e) == nil && len(e.Errors) > 0 {
			msg = ": " + strings.Join(e.Errors, "; ")
			if len(msg) > 300 {
				msg = msg[:300]
			}
		}
		return fmt.Errorf("%s %s at %s: status %d%s", method, path, t.cfg.Address, resp.StatusCode, msg)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not JSON", method, path)
	}
	return nil
}

// renewLoop renews the token at half its TTL until Close. A token that is
// not renewable, or has no TTL (a root token), needs nothing.
func (t *Transit) renewLoop() {
	defer t.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-t.stop
		cancel()
	}()
	base := strings.TrimRight(t.cfg.Address, "/") + "/v1/auth/token/"
	wait := time.Duration(0)
	for {
		select {
		case <-t.stop:
			return
		case <-time.After(wait):
		}
		var out struct {
			Data struct {
				TTL       int  `json:"ttl"`
				Renewable bool `json:"renewable"`
			} `json:"data"`
			Auth *struct {
				LeaseDuration int  `json:"lease_duration"`
				Renewable     bool `json:"renewable"`
			} `json:"auth"`
		}
		path := "lookup-self"
		var body any
		if wait > 0 {
			path, body = "renew-self", map[string]string{}
		}
		if err := t.send(ctx, base+path, body, &out); err != nil {
			if ctx.Err() != nil {
				return
			}
			t.logger.Warn("transit seal token renewal failed; retrying", "err", err)
			wait = 30 * time.Second
			continue
		}
		ttl, renewable := out.Data.TTL, out.Data.Renewable
		if out.Auth != nil {
			ttl, renewable = out.Auth.LeaseDuration, out.Auth.Renewable
		}
		if !renewable || ttl <= 0 {
			t.logger.Debug("transit seal token needs no renewal")
			return
		}
		wait = max(time.Duration(ttl)*time.Second/2, time.Second)
		t.logger.Debug("transit seal token renewal scheduled", "in", wait.String())
	}
}
