package cli

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func init() { register(newPKICmd) }

func newPKICmd(e *env) *cobra.Command {
	cmd := groupCmd("pki", "Get certificates from a pki secrets engine",
		`Pki commands talk to a pki secrets engine (a certificate authority) and
write what it issues to files. To keep a certificate renewed, use
keyward cert agent.`,
		`  keyward pki issue web --cn www.example.com --alt-names api.example.com --out-dir /etc/nginx/tls`)
	cmd.AddCommand(newPKIIssueCmd(e))
	return cmd
}

// Names of the files pki issue and cert agent write in the output
// directory.
const (
	keyFile       = "key.pem"       // the private key, 0600
	certFile      = "cert.pem"      // the leaf certificate, 0644
	chainFile     = "chain.pem"     // the issuer's chain, issuer first, 0644
	fullchainFile = "fullchain.pem" // the leaf then the chain, 0644 (nginx's ssl_certificate)
)

// issueFlags are the certificate request flags pki issue and cert agent
// share.
type issueFlags struct {
	mount    string
	cn       string
	altNames []string
	ipSANs   []string
	uriSANs  []string
	ttl      time.Duration
	outDir   string
}

func (f *issueFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.mount, "mount", "pki", "path of the pki secrets engine")
	fl.StringVar(&f.cn, "cn", "", "common name of the certificate (required)")
	fl.StringSliceVar(&f.altNames, "alt-names", nil, "more DNS names or email addresses, comma-separated")
	fl.StringSliceVar(&f.ipSANs, "ip-sans", nil, "IP addresses, comma-separated")
	fl.StringSliceVar(&f.uriSANs, "uri-sans", nil, "URI SANs (such as SPIFFE IDs), comma-separated")
	fl.DurationVar(&f.ttl, "ttl", 0, "lifetime of the certificate (default: the role's ttl)")
	fl.StringVar(&f.outDir, "out-dir", "", "directory to write "+keyFile+", "+certFile+", "+chainFile+" and "+fullchainFile+" to (required)")
}

func (f *issueFlags) check() error {
	switch {
	case f.cn == "":
		return usagef("--cn is required")
	case f.outDir == "":
		return usagef("--out-dir is required")
	case f.ttl < 0:
		return usagef("--ttl must not be negative")
	}
	return nil
}

func (f *issueFlags) request() api.IssueRequest {
	return api.IssueRequest{CommonName: f.cn, AltNames: f.altNames, IPSANs: f.ipSANs, URISANs: f.uriSANs, TTL: f.ttl}
}

func newPKIIssueCmd(e *env) *cobra.Command {
	var (
		conn connFlags
		req  issueFlags
	)
	cmd := &cobra.Command{
		Use:   "issue ROLE --cn NAME --out-dir DIR [flags]",
		Short: "Issue a certificate and write it and its key to files",
		Long: `Issue asks the pki engine at --mount for a certificate under ROLE (the
server generates the key) and writes it to --out-dir, which is created if
missing:
  ` + keyFile + `        the private key in PEM, mode 0600
  ` + certFile + `       the certificate
  ` + chainFile + `      the issuer's chain, issuer first
  ` + fullchainFile + `  the certificate followed by the chain
All four are first written to temporary files in DIR and synced, then
renamed over the old ones, so a reader sees each file old or new, never
half of one, and a failed write leaves the old set in place.
The private key is never printed; stdout gets the serial number, the
expiry and the paths.`,
		Example: `  keyward pki issue web --cn www.example.com --alt-names api.example.com --ttl 24h --out-dir /etc/nginx/tls
  keyward pki issue --mount pki_int svc --cn svc.internal --ip-sans 10.0.0.5 --out-dir ./tls`,
		Args:          cobra.ExactArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := req.check(); err != nil {
				return err
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			ic, err := c.IssueCertificate(cmd.Context(), req.mount, args[0], req.request())
			if err != nil {
				return explain(err, c)
			}
			leaf, err := writeCertFiles(cmd.Context(), req.outDir, ic)
			if err != nil {
				return err
			}
			return printIssued(cmd.OutOrStdout(), req.outDir, ic, leaf)
		},
	}
	conn.add(cmd)
	req.add(cmd)
	return cmd
}

func printIssued(w io.Writer, dir string, ic *api.IssuedCertificate, leaf *x509.Certificate) error {
	_, err := fmt.Fprintf(w, "serial_number  %s\nnot_after      %s\nkey            %s\ncertificate    %s\nchain          %s\nfullchain      %s\n",
		ic.SerialNumber, leaf.NotAfter.UTC().Format(time.RFC3339),
		filepath.Join(dir, keyFile), filepath.Join(dir, certFile), filepath.Join(dir, chainFile), filepath.Join(dir, fullchainFile))
	return err
}

// writeCertFiles checks that ic holds a certificate for its key and writes
// the four files to dir (created 0755 if missing) with replaceFiles. It
// returns the parsed leaf. Errors name files, never the key.
func writeCertFiles(ctx context.Context, dir string, ic *api.IssuedCertificate) (*x509.Certificate, error) {
	leaf, err := parseLeaf(ic)
	if err != nil {
		return nil, err
	}
	chain := strings.Join(trimPEMs(ic.CAChain), "\n")
	if chain == "" && ic.IssuingCA != "" {
		chain = strings.TrimSpace(ic.IssuingCA)
	}
	cert := strings.TrimSpace(ic.Certificate) + "\n"
	full := cert
	if chain != "" {
		chain += "\n"
		full += chain
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("out-dir: %w", err)
	}
	key := []byte(strings.TrimSpace(ic.PrivateKey.Reveal()) + "\n")
	defer clear(key)
	files := []newFile{
		{keyFile, key, 0o600},
		{certFile, []byte(cert), 0o644},
		{chainFile, []byte(chain), 0o644},
		{fullchainFile, []byte(full), 0o644},
	}
	if err := replaceFiles(ctx, dir, files); err != nil {
		return nil, err
	}
	return leaf, nil
}

// parseLeaf parses the issued certificate and checks that the private key
// is the certificate's: a mismatched pair written out would take a server
// down at its next reload.
func parseLeaf(ic *api.IssuedCertificate) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(ic.Certificate))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("issued certificate: no PEM certificate in the answer")
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("issued certificate: %w", err)
	}
	kb, _ := pem.Decode([]byte(ic.PrivateKey.Reveal()))
	if kb == nil {
		return nil, errors.New("issued certificate: the private key is not PEM")
	}
	defer clear(kb.Bytes)
	var priv any
	switch kb.Type {
	case "RSA PRIVATE KEY":
		priv, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	case "EC PRIVATE KEY":
		priv, err = x509.ParseECPrivateKey(kb.Bytes)
	default:
		priv, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	}
	if err != nil {
		// The parser's error never holds key bytes, but say nothing of it.
		return nil, fmt.Errorf("issued certificate: cannot parse the %s private key", kb.Type)
	}
	pub, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("issued certificate: unsupported private key %s", kb.Type)
	}
	eq, ok := pub.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(leaf.PublicKey) {
		return nil, errors.New("issued certificate: the private key does not match the certificate")
	}
	return leaf, nil
}

func trimPEMs(ps []string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// newFile is one file replaceFiles writes.
type newFile struct {
	name string
	data []byte
	mode os.FileMode
}

// replaceFiles replaces the files in dir in two steps: it writes each to a
// temporary file in dir (created 0600 and given its mode before its data,
// so no reader finds a certificate 0600 or a key wider), syncing each, and
// only when all are written renames them over the old ones, one after the
// other, and syncs dir. A reader sees each file old or new, whole, and a
// failure while writing leaves every old file in place (a set half old and
// half new, say a new key beside the old certificate, needs a failed
// rename). The temporary files are removed on failure.
func replaceFiles(ctx context.Context, dir string, files []newFile) (err error) {
	tmps := make([]string, 0, len(files))
	defer func() {
		if err != nil {
			for _, t := range tmps {
				os.Remove(t)
			}
		}
	}()
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		t, err := os.CreateTemp(dir, "."+f.name+".tmp-*")
		if err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
		tmps = append(tmps, t.Name())
		err = t.Chmod(f.mode)
		if err == nil {
			_, err = t.Write(f.data)
		}
		if err == nil {
			err = t.Sync()
		}
		if cerr := t.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	for i, f := range files {
		if err := os.Rename(tmps[i], filepath.Join(dir, f.name)); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
