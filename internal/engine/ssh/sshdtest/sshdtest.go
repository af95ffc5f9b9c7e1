// Package sshdtest runs a real OpenSSH server (Debian's openssh-server) and
// the system ssh client for tests of the SSH certificate authority: sshd on
// 127.0.0.1 and a free port, with its own host key, configuration and
// principals file in a temporary directory. It is imported only by tests.
//
// A missing /usr/sbin/sshd or ssh skips the test on a developer's machine
// and fails it when KEYWARD_REQUIRE_SERVICES is set (make test sets it,
// and scripts/services.sh installs openssh-server), as for the databases.
package sshdtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/testsvc"
)

// SSHD is where Debian's openssh-server puts the daemon.
const SSHD = "/usr/sbin/sshd"

// Server is one sshd prepared by New and started by Start.
type Server struct {
	Dir  string // private temporary directory: keys, config, logs
	Addr string // 127.0.0.1:port, once started
	Port int
	// User is the local account logins are made as (the test's own).
	User string
	// HostPublicKey is the host key as an authorized_keys line.
	HostPublicKey string
	hostKeyPath   string
	log           *clocktest.Buffer
}

// Config is what Start writes into sshd_config.
type Config struct {
	// TrustedUserCAKey is the CA public key (authorized_keys form) whose
	// user certificates sshd accepts.
	TrustedUserCAKey string
	// Principals are the certificate principals accepted for User (its
	// AuthorizedPrincipalsFile). Empty: sshd's default, the user name.
	Principals []string
	// HostCertificate, when set, is presented as the host key's
	// certificate (HostCertificate).
	HostCertificate string
}

// Require ends the test unless sshd and the ssh client are installed,
// as testsvc.Unavailable does.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(SSHD); err != nil {
		testsvc.Unavailable(t, "sshd ("+SSHD+", package openssh-server)", err)
	}
	if _, err := exec.LookPath("ssh"); err != nil {
		testsvc.Unavailable(t, "the ssh client (package openssh-client)", err)
	}
}

// New prepares a server: its directory and an ed25519 host key.
func New(t testing.TB) *Server {
	t.Helper()
	Require(t)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: t.TempDir(), User: u.Username, log: &clocktest.Buffer{}}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.hostKeyPath = filepath.Join(s.Dir, "ssh_host_ed25519_key")
	WritePrivateKey(t, s.hostKeyPath, priv)
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	s.HostPublicKey = string(ssh.MarshalAuthorizedKey(sp))
	return s
}

// WritePrivateKey writes key in OpenSSH form to path, mode 0600 (ssh
// refuses a key others can read).
func WritePrivateKey(t testing.TB, path string, key any) {
	t.Helper()
	blk, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Start writes the configuration and starts sshd -D -e, waiting until it
// accepts connections; it is stopped at cleanup.
func (s *Server) Start(t testing.TB, c Config) {
	t.Helper()
	if os.Geteuid() == 0 {
		// sshd running as root wants its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(s.Dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	s.Addr = ln.Addr().String()
	ln.Close()

	var cfg strings.Builder
	fmt.Fprintf(&cfg, "Port %d\nListenAddress 127.0.0.1\nHostKey %s\n", s.Port, s.hostKeyPath)
	if c.HostCertificate != "" {
		fmt.Fprintf(&cfg, "HostCertificate %s\n", write("ssh_host_ed25519_key-cert.pub", c.HostCertificate, 0o644))
	}
	if c.TrustedUserCAKey != "" {
		fmt.Fprintf(&cfg, "TrustedUserCAKeys %s\n", write("trusted_user_ca.pub", c.TrustedUserCAKey, 0o644))
	}
	if len(c.Principals) > 0 {
		write("principals", strings.Join(c.Principals, "\n")+"\n", 0o644)
		fmt.Fprintf(&cfg, "AuthorizedPrincipalsFile %s\n", filepath.Join(s.Dir, "principals"))
	}
	// Certificates only: no authorized_keys, passwords or PAM. Root may
	// log in with a key (a certificate), never a password. StrictModes is
	// off because the files sit in a temporary directory, not a home.
	cfg.WriteString(`AuthorizedKeysFile none
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
PidFile none
LogLevel VERBOSE
`)
	conf := write("sshd_config", cfg.String(), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, SSHD, "-D", "-e", "-f", conf)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.log.String())
		}
	})
	clocktest.Eventually(t, "sshd listening on "+s.Addr, func() bool {
		select {
		case <-exited:
			t.Fatalf("sshd exited:\n%s", s.log.String())
		default:
		}
		conn, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
}

// Log is what sshd has logged so far.
func (s *Server) Log() string { return s.log.String() }

// KnownHosts writes a known_hosts file with lines and returns its path.
func (s *Server) KnownHosts(t testing.TB, lines ...string) string {
	t.Helper()
	f, err := os.CreateTemp(s.Dir, "known_hosts-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		fmt.Fprintln(f, strings.TrimSpace(l))
	}
	return f.Name()
}

// HostPattern is the known_hosts host field for the server: ssh writes a
// non-default port as [host]:port.
func (s *Server) HostPattern() string { return "[127.0.0.1]:" + strconv.Itoa(s.Port) }

// PlainKnownHosts is a known_hosts file trusting the host key itself.
func (s *Server) PlainKnownHosts(t testing.TB) string {
	return s.KnownHosts(t, s.HostPattern()+" "+s.HostPublicKey)
}

// ClientArgs are the ssh options for a non-interactive login to s that
// trusts only knownHosts: no user or system config, no agent, no other
// identities, StrictHostKeyChecking=yes.
func (s *Server) ClientArgs(knownHosts string) []string {
	return []string{
		"-F", "/dev/null",
		"-p", strconv.Itoa(s.Port),
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "IdentityAgent=none",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=60",
		"-o", "PasswordAuthentication=no",
		"-o", "KbdInteractiveAuthentication=no",
	}
}

// Login runs `ssh ... user@127.0.0.1 echo ok` with key and certificate
// files and reports whether it printed ok; out holds ssh's output for
// failure messages.
func (s *Server) Login(t testing.TB, keyPath, certPath, knownHosts string) (ok bool, out string) {
	t.Helper()
	args := append(s.ClientArgs(knownHosts), "-i", keyPath)
	if certPath != "" {
		args = append(args, "-o", "CertificateFile="+certPath)
	}
	args = append(args, s.User+"@127.0.0.1", "echo", "ok")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ssh", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return err == nil && strings.TrimSpace(stdout.String()) == "ok", fmt.Sprintf("err=%v stdout=%q stderr=%q", err, stdout.String(), stderr.String())
}
