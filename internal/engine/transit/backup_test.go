package transit

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// backupTypes are the types the backup tests cover (one RSA size: the
// others differ only in the modulus).
var backupTypes = []string{typeAES256GCM96, typeChaCha20Poly1305, typeEd25519, typeECDSAP256, typeECDSAP384, typeRSA2048, typeHMAC}

func TestBackupRoundTrip(t *testing.T) {
	for _, typ := range backupTypes {
		k, err := newKey("k-"+typ, typ, testNow())
		if err != nil {
			t.Fatal(err)
		}
		if err := k.rotate(testNow()); err != nil {
			t.Fatal(err)
		}
		k.Exportable, k.AllowPlaintextBackup = true, true
		s, err := formatBackup(k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseBackup(s)
		if err != nil {
			t.Fatalf("%s: parse own backup: %v", typ, err)
		}
		if !reflect.DeepEqual(got, k) {
			t.Fatalf("%s: backup round trip changed the key", typ)
		}
	}
}

// Each damaged backup is refused, and the error shows no key material.
func TestParseBackupRefuses(t *testing.T) {
	k, err := newKey("k", typeAES256GCM96, testNow())
	if err != nil {
		t.Fatal(err)
	}
	if err := k.rotate(testNow()); err != nil {
		t.Fatal(err)
	}
	secret := base64.StdEncoding.EncodeToString(k.Versions["1"].Material)
	mutate := func(f func(m map[string]any)) string {
		raw, _ := json.Marshal(backupBlob{Format: backupFormat, Key: k})
		var m map[string]any
		json.Unmarshal(raw, &m)
		f(m)
		out, _ := json.Marshal(m)
		return base64.StdEncoding.EncodeToString(out)
	}
	key := func(m map[string]any) map[string]any { return m["key"].(map[string]any) }
	versions := func(m map[string]any) map[string]any { return key(m)["versions"].(map[string]any) }
	cases := map[string]string{
		"not base64":      "%%%",
		"not json":        base64.StdEncoding.EncodeToString([]byte("{")),
		"trailing":        base64.StdEncoding.EncodeToString([]byte(`{"keyward_transit_backup":1,"key":null} {}`)),
		"format 2":        mutate(func(m map[string]any) { m["keyward_transit_backup"] = 2 }),
		"unknown field":   mutate(func(m map[string]any) { key(m)["policy"] = "x" }),
		"type":            mutate(func(m map[string]any) { key(m)["type"] = "aes128-gcm96" }),
		"name slash":      mutate(func(m map[string]any) { key(m)["name"] = "a/b" }),
		"latest too high": mutate(func(m map[string]any) { key(m)["latest_version"] = 3 }),
		"min dec 0":       mutate(func(m map[string]any) { key(m)["min_decryption_version"] = 0 }),
		"min enc below":   mutate(func(m map[string]any) { key(m)["min_decryption_version"] = 2; key(m)["min_encryption_version"] = 1 }),
		"min avail above": mutate(func(m map[string]any) { key(m)["min_available_version"] = 2 }),
		"version gone":    mutate(func(m map[string]any) { delete(versions(m), "1") }),
		"version 01":      mutate(func(m map[string]any) { versions(m)["01"] = versions(m)["1"]; delete(versions(m), "1") }),
		"short material": mutate(func(m map[string]any) {
			v := versions(m)["1"].(map[string]any)
			v["material"] = base64.StdEncoding.EncodeToString(make([]byte, 16))
		}),
		"convergent alone": mutate(func(m map[string]any) { key(m)["convergent_encryption"] = true }),
		"key_size on aes":  mutate(func(m map[string]any) { key(m)["key_size"] = 64 }),
		"short period":     mutate(func(m map[string]any) { key(m)["auto_rotate_period"] = 60 }),
	}
	for name, s := range cases {
		_, err := parseBackup(s)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows key material", name)
		}
	}
}

// Whatever parses is a key the engine could have stored: it re-encodes to
// the same key, and an encryption key encrypts and decrypts with it.
func FuzzParseBackup(f *testing.F) {
	for _, typ := range []string{typeAES256GCM96, typeEd25519, typeHMAC} {
		k, err := newKey("seed", typ, testNow())
		if err != nil {
			f.Fatal(err)
		}
		s, err := formatBackup(k)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
	}
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"keyward_transit_backup":1,"key":{"name":"x","type":"aes256-gcm96","latest_version":1,"min_decryption_version":1,"min_encryption_version":0,"deletion_allowed":false,"exportable":false,"allow_plaintext_backup":false,"versions":{"1":{"material":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","created":0}}}}`)))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := parseBackup(s)
		if err != nil {
			return
		}
		again, err := formatBackup(k)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := parseBackup(again)
		if err != nil || !reflect.DeepEqual(k, k2) {
			t.Fatalf("re-encoded backup reads back differently (%v)", err)
		}
		if !aeadType(k.Type) {
			return
		}
		o := encOpts{context: []byte("c")}
		ct, _, err := k.encrypt(0, []byte("data"), o)
		if err != nil {
			t.Fatalf("a restored %s key cannot encrypt: %v", k.Type, err)
		}
		if pt, _, err := k.decrypt(ct, o); err != nil || string(pt) != "data" {
			t.Fatalf("a restored %s key does not decrypt its own ciphertext: %v", k.Type, err)
		}
	})
}
