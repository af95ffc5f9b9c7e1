package mask_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"github.com/keyward/keyward/internal/mask"
)

// FuzzWriterNeverLeaks plants random secrets (raw, base64 and hex) in random
// data, writes it in random chunks and checks that no planted form survives.
func FuzzWriterNeverLeaks(f *testing.F) {
	f.Add([]byte("token=s3cr3t-value\n"), uint64(1), uint8(3))
	f.Add([]byte{}, uint64(2), uint8(0))
	f.Add(bytes.Repeat([]byte("a"), 300), uint64(3), uint8(200))
	f.Add([]byte("-----BEGIN KEY-----\nAAAA\n-----END KEY-----\n"), uint64(4), uint8(7))
	f.Add([]byte("\x00\xff\xfe binary \x80"), uint64(5), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, chunk uint8) {
		r := rand.New(rand.NewPCG(seed, uint64(chunk)))
		secrets := make([]mask.Secret, 1+r.IntN(3))
		var forms [][]byte
		for i := range secrets {
			v := make([]byte, 6+r.IntN(35))
			for j := range v {
				// Any byte but '*', which the mask itself writes.
				if v[j] = byte(r.IntN(256)); v[j] == '*' {
					v[j] = '+'
				}
			}
			secrets[i] = mask.Secret{Value: string(v)}
			forms = append(forms, v, []byte(base64.StdEncoding.EncodeToString(v)), []byte(hex.EncodeToString(v)))
		}
		in := append([]byte(nil), data...)
		for range 1 + r.IntN(6) {
			at := r.IntN(len(in) + 1)
			form := forms[r.IntN(len(forms))]
			in = append(in[:at], append(append([]byte(nil), form...), in[at:]...)...)
		}
		var out bytes.Buffer
		w := mask.NewWriter(&out, secrets, mask.Options{FlushDelay: -1})
		for p := in; len(p) > 0; {
			n := min(len(p), 1+r.IntN(int(chunk)+1))
			w.Write(p[:n])
			p = p[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		for _, form := range forms {
			if bytes.Contains(out.Bytes(), form) {
				t.Fatalf("form %q leaked: in %q out %q", form, in, out.Bytes())
			}
		}
	})
}
