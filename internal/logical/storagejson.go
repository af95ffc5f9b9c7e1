package logical

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
)

// GetJSON decodes the JSON value stored at key into v. found is false, and
// v untouched, when nothing is stored there.
func GetJSON(ctx context.Context, s Storage, key string, v any) (found bool, err error) {
	raw, err := s.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// PutJSON stores v at key as JSON.
func PutJSON(ctx context.Context, s Storage, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := s.Put(ctx, key, raw); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// LoadOrCreateKey returns the random key of size bytes stored at key,
// creating it from crypto/rand on first use (a backend's HMAC key). A
// stored key of another size is an error, never silently replaced.
func LoadOrCreateKey(ctx context.Context, s Storage, key string, size int) ([]byte, error) {
	k, err := s.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", key, err)
	}
	if k != nil {
		if len(k) != size {
			return nil, fmt.Errorf("key %s has %d bytes, want %d", key, len(k), size)
		}
		return k, nil
	}
	k = make([]byte, size)
	_, _ = rand.Read(k) // never fails (Go 1.24+)
	if err := s.Put(ctx, key, k); err != nil {
		return nil, fmt.Errorf("store key %s: %w", key, err)
	}
	return k, nil
}
