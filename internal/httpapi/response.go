package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// envelope is Vault's HTTP response body. Field names, order and types are
// what existing Vault clients decode; see testdata/*.golden.
type envelope struct {
	RequestID     string         `json:"request_id"`
	LeaseID       string         `json:"lease_id"`
	Renewable     bool           `json:"renewable"`
	LeaseDuration int64          `json:"lease_duration"`
	Data          map[string]any `json:"data"`
	WrapInfo      *wrapInfo      `json:"wrap_info"`
	Warnings      []string       `json:"warnings"`
	Auth          *authInfo      `json:"auth"`
	MountType     string         `json:"mount_type"`
}

// envelopeKeys are the envelope's top-level names; data keys copied to the
// top level for old sys routes never override them.
var envelopeKeys = []string{"request_id", "lease_id", "renewable", "lease_duration",
	"data", "wrap_info", "warnings", "auth", "mount_type"}

type wrapInfo struct {
	Token           string `json:"token"`
	Accessor        string `json:"accessor"`
	TTL             int64  `json:"ttl"`
	CreationTime    string `json:"creation_time"`
	CreationPath    string `json:"creation_path"`
	WrappedAccessor string `json:"wrapped_accessor,omitempty"`
}

type authInfo struct {
	ClientToken      string            `json:"client_token"`
	Accessor         string            `json:"accessor"`
	Policies         []string          `json:"policies"`
	TokenPolicies    []string          `json:"token_policies"`
	IdentityPolicies []string          `json:"identity_policies"`
	Metadata         map[string]string `json:"metadata"`
	LeaseDuration    int64             `json:"lease_duration"`
	Renewable        bool              `json:"renewable"`
	EntityID         string            `json:"entity_id"`
	TokenType        string            `json:"token_type"`
	Orphan           bool              `json:"orphan"`
	MFARequirement   any               `json:"mfa_requirement"`
	NumUses          int               `json:"num_uses"`
}

// seconds converts a TTL to whole seconds, as Vault reports them.
func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// newEnvelope builds the body for resp. A wrapped response carries only
// wrap_info (and warnings): the wrapped data lives in the cubbyhole.
func newEnvelope(id, mountType string, resp *logical.Response) *envelope {
	env := &envelope{RequestID: id, Warnings: resp.Warnings}
	if w := resp.WrapInfo; w != nil {
		env.WrapInfo = &wrapInfo{
			Token:           w.Token,
			Accessor:        w.Accessor,
			TTL:             seconds(w.TTL),
			CreationTime:    w.CreationTime.UTC().Format(time.RFC3339Nano),
			CreationPath:    w.CreationPath,
			WrappedAccessor: w.WrappedAccessor,
		}
		return env
	}
	env.Data = resp.Data
	env.MountType = mountType
	if s := resp.Secret; s != nil {
		env.LeaseID = s.LeaseID
		env.Renewable = s.Renewable
		env.LeaseDuration = seconds(s.TTL)
	}
	if a := resp.Auth; a != nil {
		env.Auth = &authInfo{
			ClientToken:      a.ClientToken.Reveal(), // the login response returns the token to its owner
			Accessor:         a.Accessor,
			Policies:         a.Policies,
			TokenPolicies:    a.TokenPolicies,
			IdentityPolicies: a.IdentityPolicies,
			Metadata:         a.Metadata,
			LeaseDuration:    seconds(a.TTL),
			Renewable:        a.Renewable,
			EntityID:         a.EntityID,
			TokenType:        a.TokenType,
			Orphan:           a.Orphan,
			NumUses:          a.NumUses,
		}
		if r := a.MFARequirement; r != nil {
			env.Auth.MFARequirement = mfaRequirement(r)
		}
	}
	return env
}

// mfaRequirement is Vault's auth.mfa_requirement.
func mfaRequirement(r *logical.MFARequirement) map[string]any {
	cons := make(map[string]any, len(r.Constraints))
	for name, refs := range r.Constraints {
		anyOf := make([]map[string]any, 0, len(refs))
		for _, m := range refs {
			anyOf = append(anyOf, map[string]any{"type": m.Type, "id": m.ID, "name": m.Name, "uses_passcode": m.UsesPasscode})
		}
		cons[name] = map[string]any{"any": anyOf}
	}
	return map[string]any{"mfa_request_id": r.RequestID, "mfa_constraints": cons}
}

// marshalEnvelope encodes env. When top is true the data keys are also
// written at the top level (sorted, before the envelope fields), as Vault
// does for its oldest sys routes.
func marshalEnvelope(env *envelope, top bool) ([]byte, error) {
	body, err := json.Marshal(env)
	if err != nil || !top || len(env.Data) == 0 {
		return body, err
	}
	return prependData(env, body)
}

// prependData writes env.Data's keys, except those named like envelope
// fields, before the fields of body (env marshalled).
func prependData(env *envelope, body []byte) ([]byte, error) {
	keys := make([]string, 0, len(env.Data))
	for k := range env.Data {
		if !slices.Contains(envelopeKeys, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	buf.Grow(2 * len(body))
	buf.WriteByte('{')
	for _, k := range keys {
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(env.Data[k])
		if err != nil {
			return nil, err
		}
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
		buf.WriteByte(',')
	}
	buf.Write(body[1:])
	return buf.Bytes(), nil
}

// Old sys routes whose data keys Vault also copies to the top level.
var (
	topLevelExact = []string{
		"sys/audit", "sys/audit-hash", "sys/auth", "sys/capabilities",
		"sys/capabilities-accessor", "sys/capabilities-self", "sys/config/cors",
		"sys/ha-status", "sys/key-status", "sys/mounts", "sys/policy",
		"sys/remount", "sys/rotate", "sys/wrapping/wrap",
	}
	topLevelPrefix = []string{
		"sys/audit/", "sys/audit-hash/", "sys/auth/", "sys/mounts/",
		"sys/policy/", "sys/rotate/",
	}
)

// dataAtTopLevel reports whether path is one of the old sys routes.
func dataAtTopLevel(path string) bool {
	if !strings.HasPrefix(path, "sys/") {
		return false
	}
	if slices.Contains(topLevelExact, strings.TrimSuffix(path, "/")) {
		return true
	}
	for _, p := range topLevelPrefix {
		if strings.HasPrefix(path, p) {
			// OpenBao's rekey and rotation-config routes answer in the data
			// envelope only: their bodies (new unseal keys) appear once.
			return !strings.HasPrefix(path, "sys/rotate/root/") && !strings.HasPrefix(path, "sys/rotate/keyring/config")
		}
	}
	return false
}

// setHeaders sets the headers every response carries.
func setHeaders(w http.ResponseWriter, contentType string) {
	h := w.Header()
	h["Content-Type"] = []string{contentType}
	h["Cache-Control"] = cacheNoStore
	h["X-Content-Type-Options"] = nosniff
}

var (
	cacheNoStore = []string{"no-store"}
	nosniff      = []string{"nosniff"}
	jsonType     = "application/json"
)

// writeBody writes status and body, omitting the body for HEAD.
func writeBody(w http.ResponseWriter, r *http.Request, status int, contentType string, body []byte) {
	setHeaders(w, contentType)
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// writeErrors writes {"errors":[msgs...]} with status. msgs may be empty,
// which Vault uses for a plain 404.
func writeErrors(w http.ResponseWriter, r *http.Request, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	body, err := json.Marshal(struct {
		Errors []string `json:"errors"`
	}{msgs})
	if err != nil {
		// Marshalling a []string cannot fail; keep the status regardless.
		body = []byte(`{"errors":[]}`)
	}
	writeBody(w, r, status, jsonType, body)
}
