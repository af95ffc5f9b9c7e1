package transit

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/keyward/keyward/internal/logical"
)

// itemFunc serves one encrypt, decrypt or rewrap item against k.
type itemFunc func(k *key, item map[string]any) (map[string]any, error)

// itemFields are the per-item fields of a data operation.
var itemFields = []string{"plaintext", "ciphertext", "key_version", "associated_data", "reference", "context", "nonce"}

func (b *backend) encrypt(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := b.fieldsOf("encrypt/{name}").Unknown(req.Data); err != nil {
		return nil, err
	}
	name := p["name"]
	k, err := loadKey(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		if req.Operation != logical.CreateOperation {
			return nil, logical.BadRequest("encryption key %q not found", name)
		}
		if k, err = b.upsertKey(ctx, req, name); err != nil {
			return nil, err
		}
	}
	return serve(req, k, encryptItem, itemFields)
}

// upsertKey creates key name on an encrypt's first use, with the type the
// request names (aes256-gcm96 by default).
func (b *backend) upsertKey(ctx context.Context, req *logical.Request, name string) (*key, error) {
	typ, _, err := logical.Str(req.Data, "type")
	if err != nil {
		return nil, err
	}
	if typ == "" {
		typ = typeAES256GCM96
	}
	if err := validType(typ); err != nil {
		return nil, err
	}
	if !aeadType(typ) {
		return nil, logical.BadRequest("key type %s cannot be created by encrypt: create it with keys/:name", typ)
	}
	// A context on the first encrypt makes the key derived, as in Vault
	// (in a batch, the first item's).
	first := req.Data
	if items, ok := req.Data["batch_input"].([]any); ok && len(items) > 0 {
		first, _ = items[0].(map[string]any)
	}
	derived := false
	if first != nil {
		c, _, _ := logical.Str(first, "context")
		derived = c != ""
	}
	defer b.lock(name)()
	k, err := loadKey(ctx, req.Storage, name)
	if err != nil || k != nil {
		return k, err
	}
	if k, err = newKey(name, typ, b.now()); err != nil {
		return nil, err
	}
	k.Derived = derived
	return k, storeKey(ctx, req.Storage, k)
}

func (b *backend) decrypt(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.withKey(ctx, req, p, "decrypt/{name}", decryptItem)
}

func (b *backend) rewrap(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.withKey(ctx, req, p, "rewrap/{name}", rewrapItem)
}

func (b *backend) withKey(ctx context.Context, req *logical.Request, p logical.Params, pattern string, f itemFunc) (*logical.Response, error) {
	if err := b.fieldsOf(pattern).Unknown(req.Data); err != nil {
		return nil, err
	}
	k, err := loadKey(ctx, req.Storage, p["name"])
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.BadRequest("encryption key %q not found", p["name"])
	}
	return serve(req, k, f, itemFields)
}

// serve runs f on the request's single item, or on each of batch_input.
// A batch answers every item, each with its result or its error; when some
// item failed the status is 400, or partial_failure_response_code when
// others succeeded, as in Vault.
// A batch item may carry only the names in allowed.
func serve(req *logical.Request, k *key, f itemFunc, allowed []string) (*logical.Response, error) {
	raw, isBatch := req.Data["batch_input"]
	if !isBatch || raw == nil {
		out, err := f(k, req.Data)
		if err != nil {
			return nil, err
		}
		delete(out, "reference")
		return &logical.Response{Data: out}, nil
	}
	items, ok := raw.([]any)
	if !ok {
		return nil, logical.BadRequest("field %q: expected a list of objects", "batch_input")
	}
	if len(items) == 0 {
		return nil, logical.BadRequest("field %q: missing items", "batch_input")
	}
	partial, _, err := logical.Int(req.Data, "partial_failure_response_code")
	if err != nil {
		return nil, err
	}
	if partial != 0 && (partial < 200 || partial > 599) {
		return nil, logical.BadRequest("field %q: not an HTTP status", "partial_failure_response_code")
	}
	results := make([]any, len(items))
	failed, succeeded := false, false
	for i, it := range items {
		item, ok := it.(map[string]any)
		var out map[string]any
		if !ok {
			err = logical.BadRequest("batch item %d: expected an object", i)
		} else if err = logical.UnknownFields(item, allowed...); err == nil {
			out, err = f(k, item)
		}
		if err != nil {
			var ce *logical.CodedError
			if !errors.As(err, &ce) {
				return nil, err // internal: not the caller's input
			}
			failed = true
			out = map[string]any{"error": ce.Msg}
			if ref, _, _ := logical.Str(item, "reference"); ref != "" {
				out["reference"] = ref
			}
		} else {
			succeeded = true
		}
		results[i] = out
	}
	resp := &logical.Response{Data: map[string]any{"batch_results": results}}
	if failed {
		resp.Status = http.StatusBadRequest
		if succeeded && partial != 0 {
			resp.Status = partial
		}
	}
	return resp, nil
}

// bytesField decodes a base64 field; absent is nil.
func bytesField(item map[string]any, name string) ([]byte, bool, error) {
	s, ok, err := logical.Str(item, name)
	if err != nil || !ok {
		return nil, ok, err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, true, logical.BadRequest("field %q: could not decode base64", name)
	}
	return b, true, nil
}

// common reads the fields every item shares.
func common(item map[string]any) (o encOpts, version int, ref string, err error) {
	if err = refuseNonce(item); err != nil {
		return o, 0, "", err
	}
	if o.aad, _, err = bytesField(item, "associated_data"); err != nil {
		return o, 0, "", err
	}
	if o.context, _, err = bytesField(item, "context"); err != nil {
		return o, 0, "", err
	}
	if version, _, err = logical.Int(item, "key_version"); err != nil {
		return o, 0, "", err
	}
	ref, _, err = logical.Str(item, "reference")
	return o, version, ref, err
}

// refuseNonce refuses a caller-chosen nonce: convergent encryption derives
// its own (Vault's convergent version 1, where the caller gave it, is not
// served).
func refuseNonce(item map[string]any) error {
	if s, _, err := logical.Str(item, "nonce"); err != nil || s != "" {
		return logical.BadRequest("field \"nonce\" is not accepted: convergent encryption derives its nonce from the plaintext and context")
	}
	return nil
}

func encryptItem(k *key, item map[string]any) (map[string]any, error) {
	o, version, ref, err := common(item)
	if err != nil {
		return nil, err
	}
	pt, ok, err := bytesField(item, "plaintext")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, logical.BadRequest("missing plaintext to encrypt")
	}
	ct, v, err := k.encrypt(version, pt, o)
	clear(pt)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ciphertext": ct, "key_version": v, "reference": ref}, nil
}

func decryptItem(k *key, item map[string]any) (map[string]any, error) {
	o, _, ref, err := common(item)
	if err != nil {
		return nil, err
	}
	ct, ok, err := logical.Str(item, "ciphertext")
	if err != nil {
		return nil, err
	}
	if !ok || ct == "" {
		return nil, logical.BadRequest("missing ciphertext to decrypt")
	}
	pt, _, err := k.decrypt(ct, o)
	if err != nil {
		return nil, err
	}
	out := base64.StdEncoding.EncodeToString(pt)
	clear(pt)
	return map[string]any{"plaintext": out, "reference": ref}, nil
}

func rewrapItem(k *key, item map[string]any) (map[string]any, error) {
	o, version, ref, err := common(item)
	if err != nil {
		return nil, err
	}
	ct, ok, err := logical.Str(item, "ciphertext")
	if err != nil {
		return nil, err
	}
	if !ok || ct == "" {
		return nil, logical.BadRequest("missing ciphertext to rewrap")
	}
	pt, _, err := k.decrypt(ct, o)
	if err != nil {
		return nil, err
	}
	nct, v, err := k.encrypt(version, pt, o)
	clear(pt)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ciphertext": nct, "key_version": v, "reference": ref}, nil
}
