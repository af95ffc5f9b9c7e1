package httpapi

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestDecodeCostCoversAllocation keeps decodeCost honest: for bodies of
// each shape, what unmarshalObject allocates stays within decodeCost of
// the body's bytes and values (the budget charges the buffer itself
// separately). If decoding starts copying more, this fails and the
// factors in decode.go must be measured again.
func TestDecodeCostCoversAllocation(t *testing.T) {
	build := func(prefix string, n int, item, suffix string) string {
		var sb strings.Builder
		sb.WriteString(prefix)
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strings.ReplaceAll(item, "%d", fmt.Sprint(i)))
		}
		sb.WriteString(suffix)
		return sb.String()
	}
	tests := []struct{ name, body string }{
		{"one large string", `{"data":{"v":"` + strings.Repeat("x", 4<<20) + `"}}`},
		{"escapes", `{"data":{"v":"` + strings.Repeat(`\"\n\u00e9`, 400<<10) + `"}}`},
		{"multibyte text", `{"v":"` + strings.Repeat("wörd日本", 200<<10) + `"}`},
		{"small keys", build("{", 49_000, `"%d":1`, "}")},
		{"numbers", build(`{"a":[`, 99_000, "1", "]}")},
		{"empty objects", build(`{"a":[`, 99_000, "{}", "]}")},
		{"empty strings", build(`{"a":[`, 99_000, `""`, "]}")},
		{"nested", build(`{"a":[`, 19_000, `{"k":[true,null]}`, "]}")},
		{"strings of 300 bytes", build(`{"a":[`, 10_000, `"`+strings.Repeat("y", 300)+`"`, "]}")},
		{"small write", `{"data":{"password":"p4ss-wörd","user":"ci","port":5432},"options":{"cas":3}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.body)
			sc := limitScanner{lim: limits{maxDepth: DefaultMaxJSONDepth, maxValues: DefaultMaxJSONValues}}
			if err := sc.scan(b); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, err := unmarshalObject(b); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			got, budget := int64(after.TotalAlloc-before.TotalAlloc), decodeCost(int64(len(b)), int64(sc.values))
			t.Logf("%d bytes, %d values: allocated %d (%.2f per byte), charged %d", len(b), sc.values, got, float64(got)/float64(len(b)), budget)
			if got > budget {
				t.Errorf("decoding %d bytes with %d values allocated %d bytes, over its charge of %d", len(b), sc.values, got, budget)
			}
		})
	}
}
