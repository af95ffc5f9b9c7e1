package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
)

// The tests in this file run the binary as it ships: built once with
// CGO_ENABLED=0 -trimpath (as `make release` and the Dockerfile build it),
// not the race-instrumented test binary.
var (
	staticOnce sync.Once
	staticDir  string
	staticBin  string
	staticErr  error
)

func staticBinary(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the shipped-binary tests need Linux")
	}
	staticOnce.Do(func() {
		staticDir, staticErr = os.MkdirTemp("", "keyward-static-")
		if staticErr != nil {
			return
		}
		// Readable by the unprivileged users some tests run it as.
		os.Chmod(staticDir, 0o755)
		staticBin = filepath.Join(staticDir, "keyward")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", staticBin, "github.com/keyward/keyward/cmd/keyward")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var out []byte
		if out, staticErr = cmd.CombinedOutput(); staticErr != nil {
			staticErr = fmt.Errorf("go build: %v\n%s", staticErr, out)
		}
	})
	if staticErr != nil {
		t.Fatal(staticErr)
	}
	return staticBin
}

// openDir returns a temporary directory that an unprivileged user can
// reach (t.TempDir's parent is private to root).
func openDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "keyward-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o777)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func removeStaticBuild() {
	if staticDir != "" {
		os.RemoveAll(staticDir)
	}
}

// kwProc is a keyward process started from the shipped binary.
type kwProc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProc starts argv (a wrapper such as chroot or setpriv may come
// first) with env added to a minimal environment, and kills it at cleanup.
func startProc(t *testing.T, env []string, argv ...string) *kwProc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	p := &kwProc{cmd: cmd, out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	})
	return p
}

// waitFor polls cond until it holds or the generous bound passes.
func waitFor(t *testing.T, what string, p *kwProc, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(clocktest.Wait)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		if p != nil {
			select {
			case <-p.exited:
				t.Fatalf("waiting for %s: the process exited; output:\n%s", what, p.out.String())
			default:
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := ""
	if p != nil {
		out = p.out.String()
	}
	t.Fatalf("timed out waiting for %s; output:\n%s", what, out)
}

func healthy(url string) func() bool {
	return func() bool {
		resp, err := client.Get(url + "/v1/sys/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
}

// procStatus reads /proc/PID/status and /proc/PID/limits of a process.
type procInfo struct {
	uid       int // owner of /proc/PID/status: root when non-dumpable
	vmLckKB   int
	coreLimit string // soft "Max core file size"
}

var vmLck = regexp.MustCompile(`(?m)^VmLck:\s+(\d+) kB`)

func readProc(t *testing.T, pid int) procInfo {
	t.Helper()
	var pi procInfo
	status := fmt.Sprintf("/proc/%d/status", pid)
	fi, err := os.Stat(status)
	if err != nil {
		t.Fatal(err)
	}
	pi.uid = int(fi.Sys().(*syscall.Stat_t).Uid)
	b, err := os.ReadFile(status)
	if err != nil {
		t.Fatal(err)
	}
	m := vmLck.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmLck in %s", status)
	}
	pi.vmLckKB, _ = strconv.Atoi(string(m[1]))
	lim, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(lim))
	for sc.Scan() {
		if f := strings.Fields(strings.TrimPrefix(sc.Text(), "Max core file size")); strings.HasPrefix(sc.Text(), "Max core file size") && len(f) > 0 {
			pi.coreLimit = f[0]
		}
	}
	return pi
}

// asNobody wraps argv to run as an unprivileged user with no capabilities,
// which is where the dumpable flag is visible from outside: the kernel
// makes a non-dumpable process's /proc/PID files root's.
func asNobody(t *testing.T, argv ...string) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to an unprivileged user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv")
	}
	return append([]string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"}, argv...)
}

// TestServerProcessHardened: a real `keyward server -dev`, run as an
// unprivileged user, is non-dumpable (its /proc files belong to root, not
// to its own uid) and has a core limit of 0; dev mode does not lock memory.
func TestServerProcessHardened(t *testing.T) {
	bin := staticBinary(t)
	addr := freeAddr(t)
	p := startProc(t, []string{"HOME=/tmp"}, asNobody(t, bin, "server", "-dev", "-dev-listen-address", addr, "-dev-root-token-id", rootToken)...)
	waitFor(t, "the dev server", p, healthy("http://"+addr))
	pi := readProc(t, p.cmd.Process.Pid)
	if pi.uid != 0 {
		t.Errorf("/proc/PID/status of the server (uid 65534) is owned by uid %d: the process is dumpable", pi.uid)
	}
	if pi.coreLimit != "0" {
		t.Errorf("server core limit %q, want 0", pi.coreLimit)
	}
	if pi.vmLckKB != 0 {
		t.Errorf("dev server locked %d kB, want none (dev mode does not lock)", pi.vmLckKB)
	}
	// The same user's probe is refused what a dumpable process would give it.
	probe := exec.Command(asNobody(t, "cat", fmt.Sprintf("/proc/%d/environ", p.cmd.Process.Pid))[0],
		asNobody(t, "cat", fmt.Sprintf("/proc/%d/environ", p.cmd.Process.Pid))[1:]...)
	if out, err := probe.CombinedOutput(); err == nil {
		t.Errorf("a process of the server's uid read its environ: %q", out)
	}
}

// TestRunProcessHardened: the `keyward run` process that holds the token
// and the secrets while its child runs is non-dumpable with no core limit.
func TestRunProcessHardened(t *testing.T) {
	bin := staticBinary(t)
	addr := freeAddr(t)
	startProc(t, nil, bin, "server", "-dev", "-dev-listen-address", addr, "-dev-root-token-id", rootToken)
	waitFor(t, "the dev server", nil, healthy("http://"+addr))
	if code, err := put(addr, "ci/db", "run-holder-Pa55word"); err != nil || code != 200 {
		t.Fatalf("put: %d %v", code, err)
	}
	dir := openDir(t)
	marker := filepath.Join(dir, "started")
	p := startProc(t, []string{"HOME=" + dir, "KEYWARD_ADDR=http://" + addr, "KEYWARD_TOKEN=" + rootToken},
		asNobody(t, bin, "run", "--env", "V=secret/ci/db#v", "--", "sh", "-c", "touch "+marker+"; exec sleep 600")...)
	waitFor(t, "the child of keyward run", p, func() bool { _, err := os.Stat(marker); return err == nil })
	pi := readProc(t, p.cmd.Process.Pid)
	if pi.uid != 0 {
		t.Errorf("/proc/PID/status of keyward run (uid 65534) is owned by uid %d: the process is dumpable", pi.uid)
	}
	if pi.coreLimit != "0" {
		t.Errorf("keyward run core limit %q, want 0", pi.coreLimit)
	}
}

// writeTLSConfig writes a config for a TLS listener with in-memory storage.
func writeTLSConfig(t *testing.T, dir, addr string, disableMlock bool) string {
	t.Helper()
	cfg := fmt.Sprintf(`
storage "inmem" {}
listener "tcp" {
  address       = %q
  tls_cert_file = %q
  tls_key_file  = %q
}
disable_mlock = %v
`, addr, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), disableMlock)
	p := filepath.Join(dir, "server.hcl")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeCert writes a fresh self-signed certificate for 127.0.0.1 and its
// key into dir (as tls.crt and tls.key) and returns its serial number.
func writeCert(t *testing.T, dir string) *big.Int {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "keyward-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	// Written through a rename, as cert-manager and certbot do.
	for name, block := range map[string]*pem.Block{"tls.crt": {Type: "CERTIFICATE", Bytes: der}, "tls.key": {Type: "PRIVATE KEY", Bytes: kder}} {
		tmp := filepath.Join(dir, name+".new")
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return serial
}

// servedSerial opens a new TLS connection and returns the serial of the
// certificate the server presents.
func servedSerial(addr string) (*big.Int, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test compares the served certificate itself
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// TestSIGHUPReloadsCertificate: a server with a TLS listener serves the
// certificate now in its files after SIGHUP; a reload that fails (a broken
// file) keeps the previous certificate and logs why. With disable_mlock =
// false and root's CAP_IPC_LOCK the server's memory is locked.
func TestSIGHUPReloadsCertificate(t *testing.T) {
	bin := staticBinary(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	first := writeCert(t, dir)
	p := startProc(t, nil, bin, "server", "-config", writeTLSConfig(t, dir, addr, false))
	var got *big.Int
	waitFor(t, "the TLS listener", p, func() bool { got, _ = servedSerial(addr); return got != nil })
	if got.Cmp(first) != 0 {
		t.Fatalf("served serial %x, want %x", got, first)
	}
	if os.Geteuid() == 0 {
		if pi := readProc(t, p.cmd.Process.Pid); pi.vmLckKB == 0 {
			t.Errorf("disable_mlock = false as root: VmLck 0, want the memory locked\n%s", p.out.String())
		}
		if !strings.Contains(p.out.String(), "memory locked") {
			t.Errorf("no \"memory locked\" in the log:\n%s", p.out.String())
		}
	}

	second := writeCert(t, dir)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new certificate", p, func() bool { got, _ = servedSerial(addr); return got != nil && got.Cmp(second) == 0 })
	// The reloader swaps the certificate, then logs: the new serial can be
	// served a moment before the line is written.
	waitFor(t, "the reload in the log", p, func() bool { return strings.Contains(p.out.String(), "TLS certificate reloaded") })

	// A broken key file: the reload fails, the old certificate stays.
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), []byte("not a key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the failed reload in the log", p, func() bool {
		return strings.Contains(p.out.String(), "TLS certificate not reloaded: still serving the previous one")
	})
	if got, err := servedSerial(addr); err != nil || got.Cmp(second) != 0 {
		t.Fatalf("after a failed reload: serial %x, %v; want the previous %x", got, err, second)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}).Get("https://" + addr + "/v1/sys/health") //nolint:gosec // as above
	if err != nil {
		t.Fatalf("server stopped serving after a failed reload: %v", err)
	}
	resp.Body.Close()
}

// TestMlockNotPermittedWarns: without CAP_IPC_LOCK the server still starts
// and says what is missing and how to grant it.
func TestMlockNotPermittedWarns(t *testing.T) {
	bin := staticBinary(t)
	dir := openDir(t)
	addr := freeAddr(t)
	writeCert(t, dir)
	p := startProc(t, nil, asNobody(t, bin, "server", "-config", writeTLSConfig(t, dir, addr, false))...)
	waitFor(t, "the TLS listener", p, func() bool { s, _ := servedSerial(addr); return s != nil })
	log := p.out.String()
	for _, want := range []string{"cannot lock memory", "CAP_IPC_LOCK", "LimitMEMLOCK", "disable_mlock"} {
		if !strings.Contains(log, want) {
			t.Errorf("start-up log lacks %q:\n%s", want, log)
		}
	}
	if pi := readProc(t, p.cmd.Process.Pid); pi.vmLckKB != 0 {
		t.Errorf("VmLck %d kB without CAP_IPC_LOCK, want 0", pi.vmLckKB)
	}
}

// TestStaticBinaryInEmptyRoot proves the container image's premise: the
// binary, alone with CA certificates in an otherwise empty root (what
// FROM scratch gives it), runs a dev server that answers sys/health, and
// `keyward health` (the image's HEALTHCHECK) says so from inside.
func TestStaticBinaryInEmptyRoot(t *testing.T) {
	bin := staticBinary(t)
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		t.Skip("no chroot")
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	copyTo(t, bin, filepath.Join(root, "keyward"), 0o755)
	for _, ca := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"} {
		if _, err := os.Stat(ca); err == nil {
			copyTo(t, ca, filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"), 0o644)
			break
		}
	}
	// An empty /tmp (the image has one too: the server keeps its private
	// audit spool directory there). Nothing else: no libc, no shell, no
	// /dev, no /etc/passwd.
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	out, _ := exec.Command("find", root, "-mindepth", "1", "-not", "-type", "d").Output()
	if n := len(strings.Fields(string(out))); n > 2 {
		t.Fatalf("the root holds more than the binary and the CA bundle:\n%s", out)
	}
	addr := freeAddr(t)
	p := startProc(t, []string{"HOME=/"}, chroot, "--userspec=65534:65534", root, "/keyward", "server", "-dev", "-dev-listen-address", addr)
	waitFor(t, "the dev server in the empty root", p, healthy("http://"+addr))
	hc := exec.Command(chroot, "--userspec=65534:65534", root, "/keyward", "health", "-address", "http://"+addr)
	if out, err := hc.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "active" {
		t.Fatalf("keyward health in the empty root: %v, %q", err, out)
	}
	vb, err := exec.Command(chroot, root, "/keyward", "version").CombinedOutput()
	if err != nil || !strings.Contains(string(vb), "CGO_ENABLED: 0") {
		t.Fatalf("keyward version in the empty root: %v\n%s", err, vb)
	}
}

func copyTo(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}
