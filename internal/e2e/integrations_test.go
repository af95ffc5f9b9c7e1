package e2e_test

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward/internal/auth/jwt/jwttest"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/sbom"
)

// repoFile is a path from the repository root.
func repoFile(name string) string { return filepath.Join("..", "..", name) }

// api calls the dev server's HTTP API as root and fails the test on an
// error status.
func apiCall(t *testing.T, addr, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, "http://"+addr+"/v1/"+path, rd)
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func mustAPI(t *testing.T, addr, method, path string, body any) {
	t.Helper()
	if code, out := apiCall(t, addr, method, path, rootToken, body); code >= 300 {
		t.Fatalf("%s %s: %d %v", method, path, code, out)
	}
}

// ciServer starts a dev server from the shipped binary with a jwt mount
// trusting the test issuer, a secret, and a role that reads it.
func ciServer(t *testing.T, is *jwttest.Issuer, role map[string]any) string {
	t.Helper()
	bin := staticBinary(t)
	addr := freeAddr(t)
	startProc(t, nil, bin, "server", "-dev", "-dev-listen-address", addr, "-dev-root-token-id", rootToken)
	waitFor(t, "the dev server", nil, healthy("http://"+addr))
	mustAPI(t, addr, "POST", "sys/auth/jwt", map[string]any{"type": "jwt"})
	mustAPI(t, addr, "POST", "auth/jwt/config", map[string]any{"oidc_discovery_url": is.URL, "oidc_discovery_ca_pem": is.CAPEM, "allow_private_network": true})
	mustAPI(t, addr, "PUT", "sys/policies/acl/ci-read", map[string]any{"policy": `path "secret/data/ci/*" { capabilities = ["read"] }`})
	mustAPI(t, addr, "POST", "auth/jwt/role/deploy", role)
	mustAPI(t, addr, "PUT", "secret/data/ci/db", map[string]any{"data": map[string]any{"password": ciSecret, "user": "deployer"}})
	return addr
}

// ciSecret has characters whose URL and JSON encodings differ from it.
const ciSecret = "Pa55/w0rd+\"quoted\"&more=yes"

func tokenLookupCode(t *testing.T, addr, token string) int {
	t.Helper()
	code, _ := apiCall(t, addr, "GET", "auth/token/lookup-self", token, nil)
	return code
}

// TestGitHubAction runs the action's script as the runner would: a fake
// GITHUB_* environment, the OIDC token endpoint served here with a token
// from the test issuer, the release files served here, and a real server.
func TestGitHubAction(t *testing.T) {
	bin := staticBinary(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the action installs with curl")
	}
	is := jwttest.NewIssuer(t)
	// The role is rewritten below once the server's URL, the audience the
	// action asks for, is known.
	addr := ciServer(t, is, map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_subject": "repo:octo/app:environment:production",
		"bound_audiences": []string{"http://placeholder"}, "token_policies": []string{"ci-read"}, "token_ttl": "10m"})
	url := "http://" + addr
	// The audience the action asks for is its url input.
	mustAPI(t, addr, "POST", "auth/jwt/role/deploy", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_subject": "repo:octo/app:environment:production",
		"bound_audiences": []string{url}, "token_policies": []string{"ci-read"}, "token_ttl": "10m"})

	const reqToken = "actions-request-token-xyz"
	oidc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "bearer "+reqToken {
			http.Error(w, "bad request token", http.StatusUnauthorized)
			return
		}
		claims := jwttest.GitHub(is.URL, "octo/app", "repo:octo/app:environment:production", r.URL.Query().Get("audience"), time.Now())
		json.NewEncoder(w).Encode(map[string]string{"value": jwttest.Sign(t, jwttest.KidRSA, claims, nil)})
	}))
	t.Cleanup(oidc.Close)

	binBytes, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(binBytes)
	release := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v9/SHA256SUMS":
			fmt.Fprintf(w, "%s  keyward-linux-amd64\n%s  keyward-linux-arm64\n", hex.EncodeToString(sum[:]), strings.Repeat("0", 64))
		case "/v9/keyward-linux-amd64", "/v9/keyward-linux-arm64":
			w.Write(binBytes)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(release.Close)

	work := t.TempDir()
	files := map[string]string{}
	for _, f := range []string{"GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_PATH"} {
		files[f] = filepath.Join(work, strings.ToLower(f))
		os.WriteFile(files[f], nil, 0o644)
	}
	home := filepath.Join(work, "home")
	runnerTemp := filepath.Join(work, "runner-temp")
	os.MkdirAll(home, 0o700)
	os.MkdirAll(runnerTemp, 0o700)
	base := []string{"HOME=" + home, "RUNNER_TEMP=" + runnerTemp, "GITHUB_ACTIONS=true", "CI=true",
		"GITHUB_ENV=" + files["GITHUB_ENV"], "GITHUB_OUTPUT=" + files["GITHUB_OUTPUT"], "GITHUB_PATH=" + files["GITHUB_PATH"],
		"ACTIONS_ID_TOKEN_REQUEST_URL=" + oidc.URL + "/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + reqToken}
	script, _ := filepath.Abs(repoFile("integrations/github/keyward-action.sh"))
	path := "/usr/local/bin:/usr/bin:/bin"
	step := func(name string, env ...string) string {
		t.Helper()
		// Later steps see what earlier ones added to GITHUB_PATH.
		p, _ := os.ReadFile(files["GITHUB_PATH"])
		stepPath := path
		for _, d := range strings.Fields(string(p)) {
			stepPath = d + ":" + stepPath
		}
		cmd := exec.Command("bash", script, name)
		cmd.Env = append(append([]string{"PATH=" + stepPath}, base...), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("step %s: %v\n%s", name, err, out)
		}
		return string(out)
	}

	step("install", "INPUT_VERSION=v9", "INPUT_RELEASE_URL="+release.URL+"/v9")
	if p, _ := os.ReadFile(files["GITHUB_PATH"]); !strings.Contains(string(p), filepath.Join(runnerTemp, "keyward-bin")) {
		t.Fatalf("install added no directory to GITHUB_PATH: %q", p)
	}
	login := step("login", "INPUT_URL="+url, "INPUT_ROLE=deploy", "INPUT_EXPORT_ENV=true",
		"INPUT_SECRETS=# the database\nDB_PASSWORD=secret/ci/db#password\n  DB_USER=secret/ci/db#user  \n")

	masks := map[string]bool{}
	for _, line := range strings.Split(login, "\n") {
		if m, ok := strings.CutPrefix(line, "::add-mask::"); ok {
			masks[m] = true
		} else if strings.Contains(line, ciSecret) || strings.Contains(line, base64.StdEncoding.EncodeToString([]byte(ciSecret))) {
			t.Errorf("the secret is in the log outside a mask command: %q", line)
		}
	}
	jsonEsc, _ := json.Marshal(ciSecret)
	for _, want := range []string{ciSecret, base64.StdEncoding.EncodeToString([]byte(ciSecret)),
		strings.ReplaceAll(neturl.QueryEscape(ciSecret), "%", "%25"), string(jsonEsc[1 : len(jsonEsc)-1])} {
		if !masks[want] {
			t.Errorf("no ::add-mask:: for %q; log:\n%s", want, login)
		}
	}
	if idx := strings.Index(login, "::add-mask::"+ciSecret); idx < 0 {
		t.Fatal("value not masked")
	}
	envFile, _ := os.ReadFile(files["GITHUB_ENV"])
	if !strings.Contains(string(envFile), "KEYWARD_ADDR="+url+"\n") || !strings.Contains(string(envFile), "\n"+ciSecret+"\n") ||
		!strings.Contains(string(envFile), "DB_PASSWORD<<KEYWARD_EOF_") || !strings.Contains(string(envFile), "\ndeployer\n") {
		t.Errorf("GITHUB_ENV lacks the address or the secrets:\n%s", envFile)
	}
	tok, err := os.ReadFile(filepath.Join(home, ".keyward-token"))
	if err != nil || len(tok) == 0 {
		t.Fatalf("no stored token: %v", err)
	}
	if strings.Contains(login, string(tok)) || strings.Contains(string(envFile), string(tok)) {
		t.Error("the Keyward token is in the log or in GITHUB_ENV")
	}
	if code := tokenLookupCode(t, addr, string(tok)); code != 200 {
		t.Fatalf("the job token does not work: %d", code)
	}

	// export-env false: files in a private directory, named by an output.
	step("login", "INPUT_URL="+url, "INPUT_ROLE=deploy", "INPUT_EXPORT_ENV=false", "INPUT_SECRETS=DB_PASSWORD=secret/ci/db#password")
	outFile, _ := os.ReadFile(files["GITHUB_OUTPUT"])
	dir := filepath.Join(runnerTemp, "keyward-secrets")
	if !strings.Contains(string(outFile), "secrets-dir="+dir) {
		t.Errorf("GITHUB_OUTPUT %q lacks secrets-dir", outFile)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "DB_PASSWORD")); err != nil || string(b) != ciSecret {
		t.Errorf("secret file: %q, %v", b, err)
	}
	tok2, _ := os.ReadFile(filepath.Join(home, ".keyward-token"))

	// The post step: the token (and its leases) are gone, the file too.
	envLines := []string{"KEYWARD_ADDR=" + url}
	rev := step("revoke", envLines...)
	if !strings.Contains(rev, "Token revoked") {
		t.Errorf("revoke step said %q", rev)
	}
	if code := tokenLookupCode(t, addr, string(tok2)); code != 403 {
		t.Errorf("token lookup after the post step: %d, want 403", code)
	}
	if _, err := os.Stat(filepath.Join(home, ".keyward-token")); !os.IsNotExist(err) {
		t.Errorf("token file still there after revoke: %v", err)
	}
}

// gitlabJob is the part of a GitLab CI job the template defines.
type gitlabJob struct {
	Extends      string                       `yaml:"extends"`
	IDTokens     map[string]map[string]string `yaml:"id_tokens"`
	Variables    map[string]string            `yaml:"variables"`
	BeforeScript []string                     `yaml:"before_script"`
	Script       []string                     `yaml:"script"`
	AfterScript  []string                     `yaml:"after_script"`
}

// TestGitLabTemplate lints the template (valid YAML, the keys a job
// needs) and runs its commands as a GitLab runner would, with a fake CI_*
// environment and an id_token from the test issuer: before_script logs
// in, the script's keyward run hands the job its secret masked, and
// after_script revokes the token.
func TestGitLabTemplate(t *testing.T) {
	raw, err := os.ReadFile(repoFile("integrations/gitlab/keyward.gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]gitlabJob
	if err := yaml.Unmarshal(raw, &tmpl); err != nil {
		t.Fatalf("template is not valid YAML: %v", err)
	}
	kw, ok := tmpl[".keyward"]
	if !ok {
		t.Fatal("no .keyward job")
	}
	if aud := kw.IDTokens["KEYWARD_ID_TOKEN"]["aud"]; aud != "$KEYWARD_ADDR" {
		t.Errorf("id_tokens.KEYWARD_ID_TOKEN.aud = %q, want $KEYWARD_ADDR", aud)
	}
	if len(kw.BeforeScript) == 0 || len(kw.AfterScript) == 0 || !strings.Contains(strings.Join(kw.BeforeScript, "\n"), "keyward ci login") ||
		!strings.Contains(strings.Join(kw.AfterScript, "\n"), "keyward ci revoke") {
		t.Errorf(".keyward lacks login in before_script or revoke in after_script: %+v", kw)
	}
	run := tmpl[".keyward-run"]
	if run.Extends != ".keyward" || !strings.Contains(strings.Join(run.Script, "\n"), "keyward run") {
		t.Errorf(".keyward-run does not extend .keyward and wrap the command in keyward run: %+v", run)
	}

	bin := staticBinary(t)
	is := jwttest.NewIssuer(t)
	addr := freeAddr(t)
	startProc(t, nil, bin, "server", "-dev", "-dev-listen-address", addr, "-dev-root-token-id", rootToken)
	waitFor(t, "the dev server", nil, healthy("http://"+addr))
	url := "http://" + addr
	mustAPI(t, addr, "POST", "sys/auth/jwt", map[string]any{"type": "jwt"})
	mustAPI(t, addr, "POST", "auth/jwt/config", map[string]any{"oidc_discovery_url": is.URL, "oidc_discovery_ca_pem": is.CAPEM, "allow_private_network": true})
	mustAPI(t, addr, "PUT", "sys/policies/acl/ci-read", map[string]any{"policy": `path "secret/data/ci/*" { capabilities = ["read"] }`})
	mustAPI(t, addr, "POST", "auth/jwt/role/shop", map[string]any{"role_type": "jwt", "user_claim": "user_login",
		"bound_audiences": []string{url}, "bound_claims": map[string]any{"project_path": "acme/shop", "ref_protected": "true"},
		"token_policies": []string{"ci-read"}, "token_ttl": "10m"})
	mustAPI(t, addr, "PUT", "secret/data/ci/db", map[string]any{"data": map[string]any{"password": ciSecret}})

	project := t.TempDir()
	home := filepath.Join(project, "home")
	os.MkdirAll(home, 0o700)
	binDir := filepath.Join(project, "bin")
	copyTo(t, bin, filepath.Join(binDir, "keyward"), 0o755)
	// keyward.yaml lists the references, as .keyward-run expects.
	os.WriteFile(filepath.Join(project, "keyward.yaml"), []byte("env:\n  DB_PASSWORD: secret/ci/db#password\n"), 0o644)
	idToken := jwttest.Sign(t, jwttest.KidRSA, jwttest.GitLab(is.URL, "acme/shop", url, time.Now()), nil)
	env := []string{"PATH=" + binDir + ":/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "GITLAB_CI=true", "CI=true",
		"CI_PROJECT_DIR=" + project, "CI_JOB_ID=302", "CI_PROJECT_PATH=acme/shop", "CI_COMMIT_REF_NAME=main",
		"KEYWARD_ID_TOKEN=" + idToken, "KEYWARD_ADDR=" + url, "KEYWARD_ROLE=shop", "KEYWARD_MOUNT=jwt", "KEYWARD_INSTALL_URL=",
		// The job's command prints the secret and records a hash of what it saw.
		`KEYWARD_COMMAND=echo "password is $DB_PASSWORD"; printf %s "$DB_PASSWORD" | sha256sum > seen.txt`}
	// GitLab runs before_script and script in one shell, after_script in another.
	sh := func(lines []string) (string, error) {
		cmd := exec.Command("sh", "-e", "-c", strings.Join(lines, "\n"))
		cmd.Dir, cmd.Env = project, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := sh(append(append([]string{}, kw.BeforeScript...), run.Script...))
	if err != nil {
		t.Fatalf("before_script + script: %v\n%s", err, out)
	}
	if strings.Contains(out, ciSecret) || !strings.Contains(out, "password is ***") {
		t.Errorf("job log %q: want the secret masked as ***", out)
	}
	sum := sha256.Sum256([]byte(ciSecret))
	if seen, _ := os.ReadFile(filepath.Join(project, "seen.txt")); !strings.HasPrefix(string(seen), hex.EncodeToString(sum[:])) {
		t.Errorf("the job did not get the secret (sha256 %q)", seen)
	}
	// keyward run (CI=true) revoked the job's token when the command
	// ended; after_script still succeeds.
	tok, err := os.ReadFile(filepath.Join(home, ".keyward-token"))
	if err != nil {
		t.Fatalf("no stored token after before_script: %v", err)
	}
	if code := tokenLookupCode(t, addr, string(tok)); code != 403 {
		t.Errorf("job token lookup after keyward run with CI=true: %d, want 403", code)
	}
	if out, err := sh(kw.AfterScript); err != nil || !strings.Contains(out, "already expired or revoked") {
		t.Fatalf("after_script after keyward run: %v\n%s", err, out)
	}

	// A .keyward job whose script does not end in keyward run: the token
	// lives until after_script revokes it, also after a failed script.
	out, err = sh(append(append([]string{}, kw.BeforeScript...), "exit 3"))
	if err == nil {
		t.Fatalf("failing script succeeded:\n%s", out)
	}
	tok, err = os.ReadFile(filepath.Join(home, ".keyward-token"))
	if err != nil {
		t.Fatalf("no stored token after before_script: %v", err)
	}
	if code := tokenLookupCode(t, addr, string(tok)); code != 200 {
		t.Fatalf("job token lookup %d before after_script", code)
	}
	if out, err := sh(kw.AfterScript); err != nil || !strings.Contains(out, "Token revoked") {
		t.Fatalf("after_script: %v\n%s", err, out)
	}
	if code := tokenLookupCode(t, addr, string(tok)); code != 403 {
		t.Errorf("job token lookup after after_script: %d, want 403", code)
	}
}

// TestSystemdUnit: the unit has every hardening directive docs/install.md
// promises, reloads with SIGHUP, and passes systemd-analyze verify when the
// tool is here.
func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile(repoFile("packaging/systemd/keyward.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	for _, d := range []string{"User=keyward", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
		"CapabilityBoundingSet=CAP_IPC_LOCK", "AmbientCapabilities=CAP_IPC_LOCK", "LimitMEMLOCK=infinity", "LimitCORE=0",
		"MemoryDenyWriteExecute=yes", "ReadWritePaths=/var/lib/keyward /var/log/keyward", "ExecReload=/bin/kill --signal HUP $MAINPID"} {
		if !strings.Contains(unit, "\n"+d+"\n") {
			t.Errorf("unit lacks %q", d)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("no systemd-analyze: verify skipped")
		return
	}
	// verify wants ExecStart's binary to exist: point it at the real one.
	bin := staticBinary(t)
	dir := t.TempDir()
	unit = strings.ReplaceAll(unit, "/usr/local/bin/keyward", bin)
	p := filepath.Join(dir, "keyward.service")
	os.WriteFile(p, []byte(unit), 0o644)
	out, err := exec.Command(analyze, "verify", p).CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// Complaints about the host (no systemd running here, units the
		// host lacks) are not the unit's; anything naming it is.
		if strings.Contains(line, "keyward.service") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
	if err != nil && !strings.Contains(string(out), "keyward.service") {
		t.Logf("systemd-analyze verify exited %v on host issues only:\n%s", err, out)
	}
}

// TestDockerfile checks the image recipe's promises, and builds and runs
// it where a Docker daemon answers (CI machines here have none, and no
// registry to pull the Go image from).
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile(repoFile("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "FROM scratch", "ca-certificates.crt", "USER 10001:10001",
		`VOLUME ["/keyward/data"]`, `HEALTHCHECK`, `"health"`, `ENTRYPOINT ["/usr/local/bin/keyward"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	cb, err := os.ReadFile(repoFile("docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(cb, &compose); err != nil || len(compose.Services) != 3 {
		t.Fatalf("docker-compose.yaml: %v, %d services, want 3", err, len(compose.Services))
	}
	// Each node's config is one keyward accepts.
	for name, s := range compose.Services {
		for _, v := range s.Volumes {
			if src, _, ok := strings.Cut(v, ":"); ok && strings.HasSuffix(src, ".hcl") {
				checkConfig(t, name, repoFile(strings.TrimPrefix(src, "./")))
			}
		}
	}
	checkConfig(t, "image default", repoFile("packaging/docker/server.hcl"))
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Log("no Docker daemon: image build skipped")
		return
	}
	tag := "keyward-test:" + fmt.Sprint(time.Now().UnixNano())
	if out, err := exec.Command("docker", "build", "-t", tag, repoFile(".")).CombinedOutput(); err != nil {
		t.Skipf("docker build (no network for the base image?): %v\n%s", err, out)
	}
	defer exec.Command("docker", "rmi", "-f", tag).Run()
	out, err := exec.Command("docker", "run", "--rm", tag, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "CGO_ENABLED: 0") {
		t.Fatalf("docker run version: %v\n%s", err, out)
	}
}

// checkConfig loads and validates a server config as the server does.
func checkConfig(t *testing.T, name, path string) {
	t.Helper()
	cfg, err := config.Load(path, func(string) string { return "" })
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Errorf("%s: %s: %v", name, path, err)
	}
}

// TestSBOM: the SBOM of the shipped binary is CycloneDX JSON naming every
// module whose packages the binary links (all in deps.txt), with its
// version and go.sum hash.
func TestSBOM(t *testing.T) {
	bin := staticBinary(t)
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(bin)
	var buf bytes.Buffer
	if err := sbom.Generate(bi, sha256.Sum256(b), time.Unix(0, 0)).Write(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		Components  []struct {
			Name, Version, PURL string
			Hashes              []struct{ Alg, Content string }
		} `json:"components"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("SBOM is not JSON: %v", err)
	}
	if doc.BOMFormat != "CycloneDX" || doc.SpecVersion != "1.5" || len(doc.Components) == 0 {
		t.Fatalf("SBOM header %q %q with %d components", doc.BOMFormat, doc.SpecVersion, len(doc.Components))
	}
	// deps.txt lists what the cgo build links; the static binary links
	// that less the cgo-only PKCS#11 packages, so ask go list for it.
	list := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./cmd/keyward")
	list.Dir, list.Env = repoFile("."), append(os.Environ(), "CGO_ENABLED=0")
	deps, err := list.Output()
	if err != nil {
		t.Fatal(err)
	}
	recorded, _ := os.ReadFile(repoFile("deps.txt"))
	for _, pkg := range strings.Fields(string(deps)) {
		if strings.HasPrefix(pkg, "github.com/keyward/keyward") {
			continue
		}
		if !strings.Contains(string(recorded), pkg+"\n") {
			t.Errorf("the binary links %s, which deps.txt does not list: run make deps", pkg)
		}
		found, best := false, ""
		for _, c := range doc.Components { // the longest module path holding pkg
			if (pkg == c.Name || strings.HasPrefix(pkg, c.Name+"/")) && len(c.Name) > len(best) {
				best = c.Name
				found = c.Version != "" && len(c.Hashes) == 1 && len(c.Hashes[0].Content) == 64
			}
		}
		if !found {
			t.Errorf("deps.txt package %s has no module with a version and hash in the SBOM", pkg)
		}
	}
}
