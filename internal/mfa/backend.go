package mfa

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
)

type ops = map[logical.Operation]logical.Handler

var methodFields = logical.Fields{
	{Name: "method_name", Description: "A unique name for the method (policies' mfa_methods and X-Vault-MFA use it)."},
	{Name: "issuer", Description: "The issuer shown by authenticator apps (required)."},
	{Name: "period", Type: logical.TypeDuration, Description: "Seconds a code is valid.", Default: 30},
	{Name: "key_size", Type: logical.TypeInt, Description: "Bytes of each entity's secret.", Default: 20},
	{Name: "qr_size", Type: logical.TypeInt, Description: "Pixel size of a QR code (recorded; Keyward returns the otpauth URL, not an image).", Default: 200},
	{Name: "algorithm", Description: "SHA1, SHA256 or SHA512.", Default: "SHA1"},
	{Name: "digits", Type: logical.TypeInt, Description: "6 or 8.", Default: 6},
	{Name: "skew", Type: logical.TypeInt, Description: "Periods accepted either side of now: 0 or 1.", Default: 1},
	{Name: "max_validation_attempts", Type: logical.TypeInt, Description: "Consecutive failures that lock the method for an entity.", Default: 5},
	{Name: "mfa_freshness", Type: logical.TypeDuration, Description: "Path MFA: how long a validated token may use the method's paths without a new code (0: every request).", Default: 0},
}

var enforcementFields = logical.Fields{
	{Name: "name", InPath: true, Description: "The enforcement's name."},
	{Name: "mfa_method_ids", Type: logical.TypeSlice, Description: "Methods, any one of which satisfies the enforcement."},
	{Name: "auth_method_accessors", Type: logical.TypeSlice, Description: "Logins on these auth mounts are enforced."},
	{Name: "auth_method_types", Type: logical.TypeSlice, Description: "Logins on auth mounts of these types are enforced."},
	{Name: "identity_group_ids", Type: logical.TypeSlice, Description: "Logins of members of these groups are enforced."},
	{Name: "identity_entity_ids", Type: logical.TypeSlice, Description: "Logins of these entities are enforced."},
}

var secretFields = logical.Fields{
	{Name: "method_id", Description: "The TOTP method."},
	{Name: "entity_id", Description: "The entity (admin routes)."},
}

// Routes are the identity/ routes of MFA, relative to identity/ (so
// "mfa/..."), for the identity mount to serve.
func (s *Store) Routes() []logical.Route {
	return []logical.Route{
		{Pattern: "mfa/method/totp/generate", Ops: ops{logical.UpdateOperation: s.generateSelf}, Synopsis: "Create the calling entity's secret for a TOTP method.",
			Description: "Returns the otpauth:// url once; a second call warns and returns nothing.", Fields: secretFields[:1]},
		{Pattern: "mfa/method/totp/admin-generate", Ops: ops{logical.UpdateOperation: s.generateAdmin}, Synopsis: "Create (or replace) an entity's secret for a TOTP method.", Fields: secretFields},
		{Pattern: "mfa/method/totp/admin-destroy", Ops: ops{logical.UpdateOperation: s.destroyAdmin}, Synopsis: "Delete an entity's secret for a TOTP method.", Fields: secretFields},
		{Pattern: "mfa/method/totp", Ops: ops{logical.UpdateOperation: s.writeMethodByID, logical.ListOperation: s.listMethods}, Synopsis: "Create a TOTP method, or list them.", Fields: methodFields},
		{Pattern: "mfa/method/totp/{method_id}", Ops: ops{
			logical.ReadOperation: s.readMethodByID, logical.UpdateOperation: s.writeMethodByID, logical.DeleteOperation: s.deleteMethodByID,
		}, Synopsis: "Read, update or delete a TOTP method by id.", Fields: methodFields.With(logical.Field{Name: "method_id", InPath: true, Description: "The method id."})},
		{Pattern: "mfa/method", Ops: ops{logical.ListOperation: s.listMethods}, Synopsis: "List the MFA methods."},
		{Pattern: "mfa/login-enforcement", Ops: ops{logical.ListOperation: s.listEnforcements}, Synopsis: "List the login enforcements."},
		{Pattern: "mfa/login-enforcement/{name}", Ops: ops{
			logical.ReadOperation: s.readEnforcement, logical.UpdateOperation: s.writeEnforcement, logical.DeleteOperation: s.deleteEnforcement,
		}, Synopsis: "Create, read, update or delete a login enforcement.", Fields: enforcementFields},
	}
}

// SysMethodRoute is sys/mfa/method/totp/{name} (relative to sys/): the
// older name-addressed shape that policies' mfa_methods refer to.
func (s *Store) SysMethodRoute() logical.Route {
	return logical.Route{Pattern: "mfa/method/totp/{name}", Ops: ops{
		logical.ReadOperation: s.readMethodByName, logical.UpdateOperation: s.writeMethodByName, logical.DeleteOperation: s.deleteMethodByName,
	}, Synopsis: "Create, read, update or delete a TOTP method by name.", Fields: methodFields[1:].With(logical.Field{Name: "name", InPath: true, Description: "The method name."})}
}

func methodData(m *Method) map[string]any {
	return map[string]any{
		"id": m.ID, "name": m.Name, "method_name": m.Name, "type": "totp", "issuer": m.Issuer, "period": m.Period,
		"key_size": m.KeySize, "qr_size": m.QRSize, "algorithm": m.Algorithm, "digits": m.Digits,
		"skew": m.Skew, "max_validation_attempts": m.MaxValidationAttempts,
		"mfa_freshness": int64(m.Freshness.Seconds()), "namespace_id": "root", "mount_accessor": "",
	}
}

// applyMethod sets the fields present in data on m.
func applyMethod(m *Method, data map[string]any, nameField bool) error {
	fields := methodFields
	if !nameField {
		fields = methodFields[1:]
	}
	if err := fields.Unknown(data); err != nil {
		return err
	}
	if nameField {
		if v, ok, err := logical.Str(data, "method_name"); err != nil {
			return err
		} else if ok {
			if v != "" && !policy.ValidMFAMethodName(v) {
				return logical.BadRequest("method_name: 1 to 128 letters, digits, '-', '_' or '.'")
			}
			m.Name = v
		}
	}
	if v, ok, err := logical.Str(data, "issuer"); err != nil {
		return err
	} else if ok {
		m.Issuer = strings.TrimSpace(v)
	}
	if v, ok, err := logical.Str(data, "algorithm"); err != nil {
		return err
	} else if ok {
		m.Algorithm = strings.ToUpper(v)
	}
	if d, ok, err := logical.Duration(data, "period"); err != nil {
		return err
	} else if ok {
		m.Period = int(d.Seconds())
	}
	for key, dst := range map[string]*int{"key_size": &m.KeySize, "qr_size": &m.QRSize, "digits": &m.Digits, "skew": &m.Skew, "max_validation_attempts": &m.MaxValidationAttempts} {
		if v, ok, err := logical.Int(data, key); err != nil {
			return err
		} else if ok {
			*dst = v
		}
	}
	if d, ok, err := logical.Duration(data, "mfa_freshness"); err != nil {
		return err
	} else if ok {
		m.Freshness = d
	}
	m.defaults()
	return m.validate()
}

func (s *Store) writeMethodByID(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m Method
	if id := p["method_id"]; id != "" {
		old := s.methods[id]
		if old == nil {
			return nil, logical.Errorf(http.StatusNotFound, "no MFA method %s", id)
		}
		m = *old
	} else {
		m.ID, m.Skew = newID(), 1
	}
	if err := applyMethod(&m, req.Data, true); err != nil {
		return nil, err
	}
	if other, ok := s.byName[m.Name]; ok && m.Name != "" && other != m.ID {
		return nil, logical.BadRequest("an MFA method named %q exists", m.Name)
	}
	if err := s.putMethod(ctx, &m); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"method_id": m.ID}}, nil
}

func (s *Store) writeMethodByName(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	name := p["name"]
	if !policy.ValidMFAMethodName(name) {
		return nil, logical.BadRequest("method name: 1 to 128 letters, digits, '-', '_' or '.'")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := Method{ID: newID(), Name: name, Skew: 1}
	if id, ok := s.byName[name]; ok {
		m = *s.methods[id]
	}
	if err := applyMethod(&m, req.Data, false); err != nil {
		return nil, err
	}
	if err := s.putMethod(ctx, &m); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"method_id": m.ID}}, nil
}

func (s *Store) readMethodByID(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.methods[p["method_id"]]
	if m == nil {
		return nil, nil
	}
	return &logical.Response{Data: methodData(m)}, nil
}

func (s *Store) readMethodByName(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byName[p["name"]]
	if !ok {
		return nil, nil
	}
	return &logical.Response{Data: methodData(s.methods[id])}, nil
}

func (s *Store) deleteMethodByID(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return nil, s.deleteMethod(ctx, p["method_id"])
}

func (s *Store) deleteMethodByName(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return nil, s.deleteMethod(ctx, s.byName[p["name"]])
}

func (s *Store) listMethods(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.Sorted(maps.Keys(s.methods))
	info := make(map[string]any, len(keys))
	for _, k := range keys {
		info[k] = methodData(s.methods[k])
	}
	return &logical.Response{Data: map[string]any{"keys": keys, "key_info": info}}, nil
}

// secretTarget reads method_id (and entity_id when admin) from req. mu
// must be held.
func (s *Store) secretTarget(req *logical.Request, admin bool) (*Method, string, error) {
	fields := secretFields[:1]
	if admin {
		fields = secretFields
	}
	if err := fields.Unknown(req.Data); err != nil {
		return nil, "", err
	}
	id, _, err := logical.Str(req.Data, "method_id")
	if err != nil {
		return nil, "", err
	}
	m := s.methods[id]
	if m == nil {
		return nil, "", logical.BadRequest("method_id: no such TOTP method")
	}
	var entity string
	if admin {
		entity, _, err = logical.Str(req.Data, "entity_id")
		if err != nil {
			return nil, "", err
		}
		if entity == "" {
			return nil, "", logical.BadRequest("entity_id is required")
		}
	} else {
		if req.Token != nil {
			entity = req.Token.EntityID
		}
		if entity == "" {
			return nil, "", logical.BadRequest("the calling token has no entity: log in through an auth method, or use admin-generate")
		}
	}
	if _, ok := s.entity(entity); !ok {
		return nil, "", logical.BadRequest("entity_id: no such entity")
	}
	return m, entity, nil
}

// secretResponse returns the provisioning URL of k, once. No QR image is
// rendered (the standard library has no QR encoder): barcode is empty,
// and any QR tool turns the url into one.
func (s *Store) secretResponse(m *Method, entity string, k interface {
	URL(issuer, account string) string
}) *logical.Response {
	account, _ := s.entity(entity)
	return &logical.Response{Data: map[string]any{"url": k.URL(m.Issuer, account), "barcode": ""}}
}

func (s *Store) generateSelf(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, entity, err := s.secretTarget(req, false)
	if err != nil {
		return nil, err
	}
	if _, ok := s.secrets[pairKey{m.ID, entity}]; ok {
		return &logical.Response{Warnings: []string{"the entity already has a secret for this method: an operator can replace it with admin-generate"}}, nil
	}
	k, err := s.newSecret(ctx, m, entity)
	if err != nil {
		return nil, err
	}
	return s.secretResponse(m, entity, k), nil
}

func (s *Store) generateAdmin(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, entity, err := s.secretTarget(req, true)
	if err != nil {
		return nil, err
	}
	k, err := s.newSecret(ctx, m, entity)
	if err != nil {
		return nil, err
	}
	return s.secretResponse(m, entity, k), nil
}

func (s *Store) destroyAdmin(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, entity, err := s.secretTarget(req, true)
	if err != nil {
		return nil, err
	}
	return nil, s.destroySecret(ctx, m.ID, entity)
}

func enforcementData(e *Enforcement) map[string]any {
	return map[string]any{
		"name": e.Name, "id": e.ID, "mfa_method_ids": orEmpty(e.MethodIDs),
		"auth_method_accessors": orEmpty(e.Accessors), "auth_method_types": orEmpty(e.AuthTypes),
		"identity_group_ids": orEmpty(e.GroupIDs), "identity_entity_ids": orEmpty(e.EntityIDs),
		"namespace_id": "root",
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Store) writeEnforcement(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	name := p["name"]
	if !policy.ValidMFAMethodName(name) {
		return nil, logical.BadRequest("name: 1 to 128 letters, digits, '-', '_' or '.'")
	}
	if err := enforcementFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := Enforcement{Name: name, ID: newID()}
	if old := s.enforcements[name]; old != nil {
		e = *old
	}
	for key, dst := range map[string]*[]string{"mfa_method_ids": &e.MethodIDs, "auth_method_accessors": &e.Accessors,
		"auth_method_types": &e.AuthTypes, "identity_group_ids": &e.GroupIDs, "identity_entity_ids": &e.EntityIDs} {
		v, ok, err := logical.Strings(req.Data, key)
		if err != nil {
			return nil, err
		}
		if ok {
			slices.Sort(v)
			*dst = slices.Compact(v)
		}
	}
	if len(e.MethodIDs) == 0 {
		return nil, logical.BadRequest("mfa_method_ids: at least one method is required")
	}
	for _, id := range e.MethodIDs {
		if s.methods[id] == nil {
			return nil, logical.BadRequest("mfa_method_ids: no MFA method %q", id)
		}
	}
	if len(e.Accessors)+len(e.AuthTypes)+len(e.GroupIDs)+len(e.EntityIDs) == 0 {
		return nil, logical.BadRequest("one of auth_method_accessors, auth_method_types, identity_group_ids or identity_entity_ids is required")
	}
	if err := logical.PutJSON(ctx, s.st, "enforcement/"+name, &e); err != nil {
		return nil, err
	}
	s.enforcements[name] = &e
	return nil, nil
}

func (s *Store) readEnforcement(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.enforcements[p["name"]]
	if e == nil {
		return nil, nil
	}
	return &logical.Response{Data: enforcementData(e)}, nil
}

func (s *Store) deleteEnforcement(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.st.Delete(ctx, "enforcement/"+p["name"]); err != nil {
		return nil, err
	}
	delete(s.enforcements, p["name"])
	return nil, nil
}

func (s *Store) listEnforcements(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.Sorted(maps.Keys(s.enforcements))
	info := make(map[string]any, len(keys))
	for _, k := range keys {
		info[k] = enforcementData(s.enforcements[k])
	}
	return &logical.Response{Data: map[string]any{"keys": keys, "key_info": info}}, nil
}
