package filecrypt

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

// The test identities are public on purpose: they exist only for these
// golden files.
const (
	testIdentity   = "AGE-SECRET-KEY-1MF7AVS8NT2F28MKF0SWDXRQYM66LC7RNA092TNP4ZNYU9X0U4X8QER6YYJ"
	testRecipient  = "age1jvanty7z62urpt4lnfva23vwej5uaqu7p59sg6e68lcj5q0mt4qqkh8lq3"
	otherIdentity  = "AGE-SECRET-KEY-13ERQM3A0FA2HNTHQ48V3VRR2JF7LECPW8JXXVLGXSQJ8ELQH32VQRTGDWH"
	otherRecipient = "age15ktw677k7g299f442k5rw8fqmarfq3c2agk97zjtsuxv9zvt5ydqqp6k93"
)

var testDataKey, _ = hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")

func identity(tb testing.TB, s string) age.Identity {
	tb.Helper()
	id, err := age.ParseX25519Identity(s)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func testOptions(tb testing.TB) Options {
	return Options{Keys: Keys{Age: []age.Identity{identity(tb, testIdentity)}}, DataKey: testDataKey}
}

func ageSettings(recipients ...string) Settings {
	var g Group
	for _, r := range recipients {
		g.Age = append(g.Age, AgeKey{Recipient: r})
	}
	return Settings{Groups: []Group{g}}
}

var goldenFiles = []string{"app.yaml", "app.json", "app.env", "app.ini", "app.bin", "secret.yaml"}

func read(tb testing.TB, p string) []byte {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestGolden: each format's golden encrypted file decrypts to the plaintext
// in testdata, and re-encrypting that plaintext with the golden file's data
// key reproduces the golden file byte for byte (deterministic values, a
// stable format). -update rewrites the golden files.
func TestGolden(t *testing.T) {
	ctx := t.Context()
	for _, name := range goldenFiles {
		t.Run(name, func(t *testing.T) {
			plain := read(t, filepath.Join("testdata", name))
			golden := filepath.Join("testdata", "golden", name)
			if *update {
				enc, err := Encrypt(ctx, name, plain, ageSettings(testRecipient), testOptions(t))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, enc, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			enc := read(t, golden)
			got, err := Decrypt(ctx, name, enc, testOptions(t))
			if err != nil {
				t.Fatalf("Decrypt(%s) = %v", golden, err)
			}
			if !bytes.Equal(got, plain) {
				t.Errorf("Decrypt(%s) =\n%s\nwant\n%s", golden, got, plain)
			}
			again, err := Reencrypt(ctx, name, got, enc, testOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, enc) {
				t.Errorf("Reencrypt(unchanged %s) differs from the golden file:\n%s", name, again)
			}
			if name != "app.bin" && bytes.Contains(enc, []byte("s3cr3t-Pa55")) {
				t.Errorf("%s holds a plaintext secret", golden)
			}
			fresh, err := Encrypt(ctx, name, plain, ageSettings(testRecipient), testOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			if !sameValues(t, name, fresh, enc) {
				t.Errorf("Encrypt(%s) with the same data key gives other ciphertexts than the golden file", name)
			}
		})
	}
}

func leavesOf(tb testing.TB, name string, data []byte) []leaf {
	tb.Helper()
	d, err := parse(FormatFor(name), data)
	if err != nil {
		tb.Fatal(err)
	}
	return d.leaves()
}

func sameValues(tb testing.TB, name string, a, b []byte) bool {
	la, lb := leavesOf(tb, name, a), leavesOf(tb, name, b)
	if len(la) != len(lb) {
		return false
	}
	for i := range la {
		if la[i].path.String() != lb[i].path.String() || la[i].value != lb[i].value {
			return false
		}
	}
	return true
}

// TestStructureStaysReadable: keys, comments and values left in clear are
// readable in the encrypted file; a Kubernetes Secret encrypts only data
// and stringData.
func TestStructureStaysReadable(t *testing.T) {
	enc := read(t, "testdata/golden/app.yaml")
	for _, want := range []string{"# Application settings", "# the primary", "database:", "password: ENC[KW1,", "port_unencrypted: 8080", "nothing: null"} {
		if !bytes.Contains(enc, []byte(want)) {
			t.Errorf("encrypted app.yaml lacks %q", want)
		}
	}
	k8s := read(t, "testdata/golden/secret.yaml")
	for _, want := range []string{"kind: Secret", "name: payments-db", "type: Opaque", "password: ENC[KW1,", "token: ENC[KW1,", "encrypted_regex: ^(data|stringData)$"} {
		if !bytes.Contains(k8s, []byte(want)) {
			t.Errorf("encrypted secret.yaml lacks %q", want)
		}
	}
	env := read(t, "testdata/golden/app.env")
	if !bytes.Contains(env, []byte("LOG_LEVEL_unencrypted=debug # left in clear")) || !bytes.Contains(env, []byte("\n# keyward: {")) {
		t.Errorf("encrypted app.env:\n%s", env)
	}
}

// TestChangedValueOnlyChangesItsCiphertext: editing one value changes that
// value's line (and the MAC) and nothing else, so git diffs stay small.
func TestChangedValueOnlyChangesItsCiphertext(t *testing.T) {
	ctx := t.Context()
	enc := read(t, "testdata/golden/app.yaml")
	plain := read(t, "testdata/app.yaml")
	edited := bytes.Replace(plain, []byte("user: payments"), []byte("user: payments2"), 1)
	out, err := Reencrypt(ctx, "app.yaml", edited, enc, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	a, b := strings.Split(string(enc), "\n"), strings.Split(string(out), "\n")
	if len(a) != len(b) {
		t.Fatalf("line count changed: %d -> %d", len(a), len(b))
	}
	var changed []string
	for i := range a {
		if a[i] != b[i] {
			changed = append(changed, strings.TrimSpace(strings.SplitN(b[i], ":", 2)[0]))
		}
	}
	if strings.Join(changed, ",") != "user,mac" {
		t.Errorf("changed lines: %v, want user and mac", changed)
	}
}

// TestMovedValueFails: a ciphertext copied to another key does not
// decrypt there, even with a MAC recomputed by someone holding the key.
func TestMovedValueFails(t *testing.T) {
	ctx := t.Context()
	for _, name := range []string{"app.yaml", "app.json", "app.env", "app.ini"} {
		t.Run(name, func(t *testing.T) {
			d, err := parse(FormatFor(name), read(t, filepath.Join("testdata", "golden", name)))
			if err != nil {
				t.Fatal(err)
			}
			m, _ := d.meta()
			var enc []leaf
			for _, l := range d.leaves() {
				if IsEnvelope(l.value) {
					enc = append(enc, l)
				}
			}
			if len(enc) < 2 {
				t.Fatalf("%s: fewer than two encrypted values", name)
			}
			if err := d.set(enc[1].path, enc[0].value, TypeStr); err != nil {
				t.Fatal(err)
			}
			fk, err := newFileKey(testDataKey)
			if err != nil {
				t.Fatal(err)
			}
			m.MAC = base64.StdEncoding.EncodeToString(fk.mac(d.leaves(), m)) // as someone holding the key would
			if err := d.setMeta(m); err != nil {
				t.Fatal(err)
			}
			moved, err := d.marshal()
			if err != nil {
				t.Fatal(err)
			}
			_, err = Decrypt(ctx, name, moved, testOptions(t))
			if err == nil || !strings.Contains(err.Error(), "value at "+enc[1].path.Display()+" does not decrypt") {
				t.Fatalf("Decrypt(value of %s moved to %s) = %v, want a decrypt error naming %s", enc[0].path.Display(), enc[1].path.Display(), err, enc[1].path.Display())
			}
		})
	}
}

// TestFlippedByteFailsMAC: changing one byte of one ciphertext (so the
// file still parses) fails the MAC with a message naming the file.
func TestFlippedByteFailsMAC(t *testing.T) {
	ctx := t.Context()
	for _, name := range goldenFiles {
		t.Run(name, func(t *testing.T) {
			enc := read(t, filepath.Join("testdata", "golden", name))
			i := bytes.Index(enc, []byte("ENC[KW1,data:")) + len("ENC[KW1,data:") + 2
			bad := bytes.Clone(enc)
			bad[i] ^= 'A' ^ 'B'
			if bad[i] == '=' || bad[i] == '+' || bad[i] == '/' {
				bad[i] = 'Q'
			}
			if enc[i] == bad[i] {
				bad[i] = 'R'
			}
			_, err := Decrypt(ctx, "deploy/"+name, bad, testOptions(t))
			if err == nil || !strings.Contains(err.Error(), "deploy/"+name+": MAC mismatch") {
				t.Fatalf("Decrypt(flipped byte) = %v, want MAC mismatch naming deploy/%s", err, name)
			}
		})
	}
}

// TestWrongIdentityFails: without a matching identity nothing decrypts, and
// the error says which key group failed.
func TestWrongIdentityFails(t *testing.T) {
	o := Options{Keys: Keys{Age: []age.Identity{identity(t, otherIdentity)}}}
	_, err := Decrypt(t.Context(), "app.yaml", read(t, "testdata/golden/app.yaml"), o)
	if err == nil || !strings.Contains(err.Error(), "key group 1") {
		t.Fatalf("Decrypt(wrong identity) = %v", err)
	}
}

// TestShamirThreshold: with three groups and a threshold of two, any one
// identity is not enough and any two are.
func TestShamirThreshold(t *testing.T) {
	ctx := t.Context()
	third, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	s := Settings{Threshold: 2, Groups: []Group{
		{Age: []AgeKey{{Recipient: testRecipient}}},
		{Age: []AgeKey{{Recipient: otherRecipient}}},
		{Age: []AgeKey{{Recipient: third.Recipient().String()}}},
	}}
	plain := read(t, "testdata/app.env")
	enc, err := Encrypt(ctx, "app.env", plain, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	one := Options{Keys: Keys{Age: []age.Identity{identity(t, otherIdentity)}}}
	if _, err := Decrypt(ctx, "app.env", enc, one); err == nil || !strings.Contains(err.Error(), "1 of 2 key groups") {
		t.Fatalf("Decrypt(one identity of threshold 2) = %v", err)
	}
	two := Options{Keys: Keys{Age: []age.Identity{identity(t, otherIdentity), third}}}
	got, err := Decrypt(ctx, "app.env", enc, two)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt(two identities) = %v", err)
	}
}

// TestRotateAndUpdateKeys: rotate changes every ciphertext and keeps the
// plaintext; updatekeys adds a recipient and keeps every ciphertext.
func TestRotateAndUpdateKeys(t *testing.T) {
	ctx := t.Context()
	enc := read(t, "testdata/golden/app.json")
	plain := read(t, "testdata/app.json")
	rot, err := Rotate(ctx, "app.json", enc, Options{Keys: testOptions(t).Keys})
	if err != nil {
		t.Fatal(err)
	}
	la, lb := leavesOf(t, "app.json", enc), leavesOf(t, "app.json", rot)
	for i := range la {
		if IsEnvelope(la[i].value) && la[i].value == lb[i].value {
			t.Errorf("Rotate kept the ciphertext of %s", la[i].path.Display())
		}
	}
	if got, err := Decrypt(ctx, "app.json", rot, testOptions(t)); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt(rotated) = %v", err)
	}
	upd, changed, err := UpdateKeys(ctx, "app.json", enc, ageSettings(testRecipient, otherRecipient), testOptions(t))
	if err != nil || !changed {
		t.Fatalf("UpdateKeys = %v, %v", changed, err)
	}
	if !sameValues(t, "app.json", enc, upd) {
		t.Error("UpdateKeys changed ciphertexts")
	}
	other := Options{Keys: Keys{Age: []age.Identity{identity(t, otherIdentity)}}}
	if got, err := Decrypt(ctx, "app.json", upd, other); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt(updated, new recipient) = %v", err)
	}
	if _, changed, err := UpdateKeys(ctx, "app.json", enc, ageSettings(testRecipient), testOptions(t)); err != nil || changed {
		t.Fatalf("UpdateKeys(same keys) = %v, %v; want unchanged", changed, err)
	}
}

// TestCustomTagsStayInClearUnderTheMAC: a scalar with a custom tag keeps
// its tag and value, and changing it fails the MAC.
func TestCustomTagsStayInClearUnderTheMAC(t *testing.T) {
	ctx := t.Context()
	plain := []byte("bucket: !Ref BucketName\npassword: s3cr3t-tagged\n")
	enc, err := Encrypt(ctx, "cfn.yaml", plain, ageSettings(testRecipient), testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(enc, []byte("bucket: !Ref BucketName\n")) || bytes.Contains(enc, []byte("s3cr3t-tagged")) {
		t.Fatalf("encrypted:\n%s", enc)
	}
	if got, err := Decrypt(ctx, "cfn.yaml", enc, testOptions(t)); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
	bad := bytes.Replace(enc, []byte("!Ref BucketName"), []byte("!Ref OtherBucket"), 1)
	if _, err := Decrypt(ctx, "cfn.yaml", bad, testOptions(t)); err == nil || !strings.Contains(err.Error(), "MAC mismatch") {
		t.Fatalf("Decrypt(changed tagged value) = %v, want a MAC mismatch", err)
	}
}

// TestNoKeyGroupsSaysSo: a file whose metadata lists no key groups (or
// fewer than its threshold) fails with a message saying that, not a
// formatting artefact of an empty error list.
func TestNoKeyGroupsSaysSo(t *testing.T) {
	_, err := Decrypt(t.Context(), "x.yaml", []byte("a: 1\nkeyward:\n  version: 1\n  mac: AAAA\n"), testOptions(t))
	if err == nil || strings.Contains(err.Error(), "%!") || !strings.Contains(err.Error(), "key groups") {
		t.Fatalf("Decrypt(no key groups) = %v", err)
	}
}
