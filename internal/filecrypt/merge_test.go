package filecrypt

import (
	"strings"
	"testing"
)

func encryptFor(t *testing.T, name, plain string) []byte {
	t.Helper()
	enc, err := Encrypt(t.Context(), name, []byte(plain), ageSettings(testRecipient), testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// reencryptFor encrypts plain as an edit of prev (same data key).
func reencryptFor(t *testing.T, name, plain string, prev []byte) []byte {
	t.Helper()
	enc, err := Reencrypt(t.Context(), name, []byte(plain), prev, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// TestMerge: per format, two sides changing, adding and removing different
// values merge with no conflict; the same value changed differently on
// both sides is a conflict that keeps ours.
func TestMerge(t *testing.T) {
	cases := []struct {
		name                       string
		base, ours, theirs, merged string
		conflicts                  string
	}{
		{name: "a.yaml",
			base:   "a: 1\nb: two\nc: three\nd: four\n",
			ours:   "a: 2\nb: two\nc: three\nd: four\n",
			theirs: "a: 1\nb: TWO\nc: three\ne: five\n",
			merged: "a: 2\nb: TWO\nc: three\ne: five\n"},
		{name: "a.yaml",
			base:   "db:\n  password: old\n  user: u\n",
			ours:   "db:\n  password: ours-pass\n  user: u\n",
			theirs: "db:\n  password: theirs-pass\n  user: v\n",
			merged: "db:\n  password: ours-pass\n  user: v\n", conflicts: "db.password"},
		{name: "a.json",
			base:   "{\"a\": 1, \"b\": {\"c\": \"x\"}}",
			ours:   "{\"a\": 2, \"b\": {\"c\": \"x\"}}",
			theirs: "{\"a\": 1, \"b\": {\"c\": \"y\", \"d\": true}}",
			merged: "{\n  \"a\": 2,\n  \"b\": {\n    \"c\": \"y\",\n    \"d\": true\n  }\n}\n"},
		{name: "a.env",
			base:   "A=1\nB=2\nC=3\n",
			ours:   "A=10\nB=2\nC=3\nD=4\n",
			theirs: "A=1\nB=20\nC=3\nE=5\n",
			merged: "A=10\nB=20\nC=3\nD=4\nE=5\n"},
		{name: "a.env",
			base:   "A=1\n",
			ours:   "A=2\n",
			theirs: "A=3\n",
			merged: "A=2\n", conflicts: "A"},
		{name: "a.ini",
			base:   "[s]\na = 1\nb = 2\n",
			ours:   "[s]\na = 10\nb = 2\n",
			theirs: "[s]\na = 1\nb = 20\n[t]\nc = 3\n",
			merged: "[s]\na = 10\nb = 20\n[t]\nc = 3\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := encryptFor(t, c.name, c.base)
			ours := reencryptFor(t, c.name, c.ours, base)
			theirs := reencryptFor(t, c.name, c.theirs, base)
			merged, conflicts, err := Merge(t.Context(), c.name, base, ours, theirs, testOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range conflicts {
				names = append(names, p.Display())
			}
			if got := strings.Join(names, ","); got != c.conflicts {
				t.Errorf("conflicts = %q, want %q", got, c.conflicts)
			}
			got, err := Decrypt(t.Context(), c.name, merged, testOptions(t))
			if err != nil {
				t.Fatalf("Decrypt(merged) = %v", err)
			}
			if string(got) != c.merged {
				t.Errorf("merged =\n%s\nwant\n%s", got, c.merged)
			}
			// Values neither side changed keep their ciphertext.
			for _, l := range leavesOf(t, c.name, merged) {
				for _, b := range leavesOf(t, c.name, base) {
					if l.path.String() == b.path.String() && IsEnvelope(l.value) && !IsEnvelope(b.value) {
						t.Errorf("%s lost its encryption", l.path.Display())
					}
				}
			}
		})
	}
}

// TestMergeRefusesDamagedInput: a side whose MAC fails is not merged.
func TestMergeRefusesDamagedInput(t *testing.T) {
	base := encryptFor(t, "a.env", "A=1\nB=2\n")
	ours := reencryptFor(t, "a.env", "A=2\nB=2\n", base)
	theirs := []byte(strings.Replace(string(base), "B=ENC[KW1,data:", "B=ENC[KW1,data:AA", 1))
	_, _, err := Merge(t.Context(), "a.env", base, ours, theirs, testOptions(t))
	if err == nil || !strings.Contains(err.Error(), "a.env (theirs): MAC mismatch") {
		t.Fatalf("Merge(damaged theirs) = %v", err)
	}
}

// TestMergeKeepsTheirRotation: theirs rotated the data key, ours changed a
// value: the merge has ours' change under theirs' new data key.
func TestMergeKeepsTheirRotation(t *testing.T) {
	base := encryptFor(t, "a.env", "A=1\nB=2\n")
	ours := reencryptFor(t, "a.env", "A=10\nB=2\n", base)
	o := testOptions(t)
	o.DataKey = nil // a fresh random key
	theirs, err := Rotate(t.Context(), "a.env", base, o)
	if err != nil {
		t.Fatal(err)
	}
	merged, conflicts, err := Merge(t.Context(), "a.env", base, ours, theirs, testOptions(t))
	if err != nil || len(conflicts) > 0 {
		t.Fatalf("Merge = %v, %v", conflicts, err)
	}
	got, err := Decrypt(t.Context(), "a.env", merged, testOptions(t))
	if err != nil || string(got) != "A=10\nB=2\n" {
		t.Fatalf("Decrypt(merged) = %q, %v", got, err)
	}
	lm, lt := leavesOf(t, "a.env", merged), leavesOf(t, "a.env", theirs)
	if lm[1].value != lt[1].value {
		t.Error("the merge did not keep theirs' rotated data key")
	}
}
