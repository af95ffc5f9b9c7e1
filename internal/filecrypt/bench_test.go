package filecrypt

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkEncryptYAML10k encrypts a YAML file of 10,000 keys (100
// services of 100 settings each, values of about 30 bytes) for one age
// recipient.
func BenchmarkEncryptYAML10k(b *testing.B) {
	var sb strings.Builder
	for s := range 100 {
		fmt.Fprintf(&sb, "service%03d:\n", s)
		for k := range 100 {
			fmt.Fprintf(&sb, "  key%03d: value-%03d-%03d-abcdefghijklmnopq\n", k, s, k)
		}
	}
	plain := []byte(sb.String())
	o := Options{}
	b.SetBytes(int64(len(plain)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Encrypt(b.Context(), "big.yaml", plain, ageSettings(testRecipient), o); err != nil {
			b.Fatal(err)
		}
	}
}
