package barrier

import (
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

const keyringVersion = 1

// term is one keyring entry. key is zeroed and aead dropped on seal.
type term struct {
	num       uint32
	key       []byte
	installed time.Time
	aead      cipher.AEAD
}

// keyringFile is the JSON form of the keyring, only ever stored encrypted.
type keyringFile struct {
	Version int        `json:"version"`
	Terms   []termFile `json:"terms"`
}

type termFile struct {
	Term        uint32    `json:"term"`
	Key         []byte    `json:"key"`
	InstallTime time.Time `json:"install_time"`
}

// newTerm builds a term around key, which it keeps (not a copy).
func newTerm(num uint32, key []byte, installed time.Time) (*term, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("term %d: %w", num, err)
	}
	return &term{num: num, key: key, installed: installed, aead: aead}, nil
}

// encodeKeyring returns the keyring's JSON. The result holds key material:
// the caller zeroes it once encrypted.
func encodeKeyring(terms []*term) ([]byte, error) {
	f := keyringFile{Version: keyringVersion, Terms: make([]termFile, len(terms))}
	for i, t := range terms {
		f.Terms[i] = termFile{Term: t.num, Key: t.key, InstallTime: t.installed.UTC()}
	}
	out, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode keyring: %w", err)
	}
	return out, nil
}

// decodeKeyring parses and checks a decrypted keyring. It returns the terms
// and the newest one. On error every decoded key is zeroed.
func decodeKeyring(data []byte) (map[uint32]*term, *term, error) {
	var f keyringFile
	err := json.Unmarshal(data, &f)
	defer func() {
		if err != nil {
			for _, t := range f.Terms {
				clear(t.Key)
			}
		}
	}()
	if err != nil {
		// The JSON error may quote input, which holds key material.
		return nil, nil, errors.New("decode keyring: malformed JSON")
	}
	if f.Version != keyringVersion {
		err = fmt.Errorf("decode keyring: unsupported version %d", f.Version)
		return nil, nil, err
	}
	if len(f.Terms) == 0 {
		err = errors.New("decode keyring: no terms")
		return nil, nil, err
	}
	terms := make(map[uint32]*term, len(f.Terms))
	var active *term
	for _, tf := range f.Terms {
		if tf.Term == 0 {
			err = errors.New("decode keyring: term 0 is reserved")
			return nil, nil, err
		}
		if _, dup := terms[tf.Term]; dup {
			err = fmt.Errorf("decode keyring: term %d appears twice", tf.Term)
			return nil, nil, err
		}
		var t *term
		t, err = newTerm(tf.Term, tf.Key, tf.InstallTime)
		if err != nil {
			err = fmt.Errorf("decode keyring: %w", err)
			return nil, nil, err
		}
		terms[tf.Term] = t
		if active == nil || t.num > active.num {
			active = t
		}
	}
	return terms, active, nil
}
