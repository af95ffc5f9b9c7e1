package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Where CI platforms put a job's identity token.
const (
	defaultTokenEnv = "KEYWARD_ID_TOKEN"
	k8sTokenFile    = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	maxIDToken      = 64 << 10
)

// idTokenOpts select the identity token source for `keyward ci login`.
type idTokenOpts struct {
	provider  string // auto, github, gitlab, kubernetes, file
	audience  string // GitHub only: the aud to request
	tokenEnv  string // GitLab: the id_tokens variable
	tokenFile string // Kubernetes or any file
}

// idToken returns the job's identity token and the provider it came from.
// The token is a credential: it is never printed or put in an error.
func idToken(ctx context.Context, e *env, o idTokenOpts) (string, string, error) {
	p := o.provider
	if p == "" || p == "auto" {
		switch {
		case o.tokenFile != "":
			p = "file"
		case e.getenv("ACTIONS_ID_TOKEN_REQUEST_URL") != "":
			p = "github"
		case e.getenv(o.tokenEnv) != "" || e.getenv("GITLAB_CI") == "true":
			p = "gitlab"
		default:
			if _, err := os.Stat(k8sTokenFile); err == nil {
				p = "kubernetes"
			}
		}
	}
	var tok string
	var err error
	switch p {
	case "github":
		tok, err = githubIDToken(ctx, e, o.audience)
	case "gitlab":
		tok = strings.TrimSpace(e.getenv(o.tokenEnv))
		if tok == "" {
			err = withHint(fmt.Errorf("$%s is empty", o.tokenEnv),
				"declare it in the job: id_tokens: { "+o.tokenEnv+": { aud: https://YOUR-KEYWARD } }")
		}
	case "kubernetes", "file":
		path := o.tokenFile
		if path == "" {
			path = k8sTokenFile
		}
		tok, err = readIDTokenFile(path)
	case "":
		return "", "", withHint(errors.New("no CI identity token found"),
			"on GitHub Actions grant `permissions: id-token: write`; on GitLab declare id_tokens and pass -token-env; elsewhere use -token-file")
	default:
		return "", "", usagef("-provider must be auto, github, gitlab, kubernetes or file, not %q", p)
	}
	if err != nil {
		return "", p, err
	}
	if strings.Count(tok, ".") != 2 {
		return "", p, fmt.Errorf("the %s identity token is not a JWT", p)
	}
	return tok, p, nil
}

func readIDTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read identity token: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxIDToken+1))
	if err != nil {
		return "", fmt.Errorf("read identity token %s: %w", path, err)
	}
	if len(b) > maxIDToken {
		return "", fmt.Errorf("identity token file %s is too large", path)
	}
	return strings.TrimSpace(string(b)), nil
}

// githubIDToken asks the Actions runtime for an OIDC token: GET
// $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with the request token as a
// bearer credential; the answer is {"value": "<jwt>"}.
func githubIDToken(ctx context.Context, e *env, audience string) (string, error) {
	raw, reqTok := e.getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), e.getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if raw == "" || reqTok == "" {
		return "", withHint(errors.New("ACTIONS_ID_TOKEN_REQUEST_URL or ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set"),
			"grant the job `permissions: id-token: write`")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", errors.New("ACTIONS_ID_TOKEN_REQUEST_URL is not an http(s) URL")
	}
	if audience != "" {
		q := u.Query()
		q.Set("audience", audience)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", errors.New("build the GitHub token request")
	}
	req.Header.Set("Authorization", "bearer "+reqTok)
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("request the GitHub OIDC token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("request the GitHub OIDC token: HTTP %d", resp.StatusCode)
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxIDToken)).Decode(&out); err != nil || out.Value == "" {
		return "", errors.New("request the GitHub OIDC token: the answer has no token")
	}
	return out.Value, nil
}
