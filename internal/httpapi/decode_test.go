package httpapi

// White-box tests of the limit decoder: the fuzz target compares it with
// encoding/json, which needs the unexported function.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

var fuzzLimits = limits{maxBytes: 1 << 16, maxDepth: 8, maxValues: 64}

func TestDecodeLimits(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"depth at limit", strings.Repeat("[", 7) + strings.Repeat("]", 7), errNotObject},
		{"object depth at limit", strings.Repeat(`{"a":`, 8) + "1" + strings.Repeat("}", 8), nil},
		{"object depth over", strings.Repeat(`{"a":`, 9) + "1" + strings.Repeat("}", 9), errTooDeep},
		{"brackets in strings ignored", `{"a":"[[[[[[[[[[[[[[[[{{{{{{{{{{"}`, nil},
		{"escaped quote", `{"a":"\"[[[[[[[[[[[[[["}`, nil},
		{"escaped backslash", `{"a":"\\","b":[[[[[[[[[[]]]]]]]]]]}`, errTooDeep},
		{"values at limit", `{"a":[` + strings.Repeat("1,", 60) + `1]}`, nil},
		{"values over", `{"a":[` + strings.Repeat("1,", 61) + `1]}`, errTooManyValues},
		{"containers count", `{"a":[` + strings.Repeat("{},", 62) + `{}]}`, errTooManyValues},
		{"too large", `{"a":"` + strings.Repeat("x", 1<<16) + `"}`, errBodyTooLarge},
		{"malformed", `{"a":tru}`, errMalformedJSON},
		{"not object", `[1]`, errNotObject},
		{"unterminated", `{"a":"x`, errMalformedJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeBody(strings.NewReader(tt.in), -1, fuzzLimits, nil, nil)
			if !errors.Is(err, tt.want) {
				t.Errorf("decodeBody(%.40q) error = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

// TestDecodeRaise: a body over the small limit asks once, by its announced
// length before a byte is read or when what arrived passes the limit, for
// the larger one; a body within the small limit never asks.
func TestDecodeRaise(t *testing.T) {
	small := limits{maxBytes: 1 << 10, maxDepth: 8, maxValues: 64}
	large := limits{maxBytes: 1 << 16, maxDepth: 8, maxValues: 64}
	body := func(n int) string { return `{"a":"` + strings.Repeat("x", n) + `"}` }
	tests := []struct {
		name      string
		in        string
		announced bool
		known     bool
		want      error
		asks      int
		maxRead   int
	}{
		{"small, unknown token", body(500), true, false, nil, 0, 1 << 10},
		{"announced large, unknown", body(4000), true, false, errBodyTooLarge, 1, 0},
		{"announced large, known", body(4000), true, true, nil, 1, 1 << 16},
		{"chunked large, unknown", body(4000), false, false, errBodyTooLarge, 1, 2 << 10},
		{"chunked large, known", body(4000), false, true, nil, 1, 1 << 16},
		{"chunked over both, known", body(1 << 16), false, true, errBodyTooLarge, 1, 1<<16 + 1<<10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asks := 0
			raise := func() (limits, bool) { asks++; return large, tt.known }
			hint := int64(-1)
			if tt.announced {
				hint = int64(len(tt.in))
			}
			r := &countReader{r: strings.NewReader(tt.in)}
			_, err := decodeBody(r, hint, small, nil, raise)
			if !errors.Is(err, tt.want) {
				t.Errorf("error = %v, want %v", err, tt.want)
			}
			if asks != tt.asks {
				t.Errorf("asked %d times, want %d", asks, tt.asks)
			}
			if r.n > tt.maxRead {
				t.Errorf("read %d bytes, want at most %d", r.n, tt.maxRead)
			}
		})
	}
}

type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestDecodeSplitReads feeds one byte per Read so strings, escapes and
// literals straddle chunk boundaries.
func TestDecodeSplitReads(t *testing.T) {
	in := `{"a\"[":"x\\","b":[true,null,-1.5e3,"]]]"],"c":{"d":{}}}`
	got, err := decodeBody(iotest.OneByteReader(strings.NewReader(in)), int64(len(in)), fuzzLimits, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := reference([]byte(in))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// reference decodes b as encoding/json does with UseNumber, and counts depth
// and values from its token stream, independently of limitScanner.
func reference(b []byte) (v any, ok bool) {
	if !json.Valid(b) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// referenceCounts returns the max depth and value count of valid JSON b.
func referenceCounts(b []byte) (depth, values int) {
	dec := json.NewDecoder(bytes.NewReader(b))
	d := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return depth, values
		}
		if err != nil {
			return 1 << 30, 1 << 30
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			values++
			d++
			depth = max(depth, d)
		case json.Delim(']'), json.Delim('}'):
			d--
		default:
			values++
		}
	}
}

// surrogateEscape matches a \u escape of a UTF-16 surrogate half, which a
// body must hold if it is valid UTF-8 yet refused as invalid text.
var surrogateEscape = regexp.MustCompile(`\\u[dD][89a-fA-F][0-9a-fA-F]{2}`)

// replacements counts U+FFFD in the strings (keys and values) of v.
func replacements(v any) int {
	n := 0
	switch t := v.(type) {
	case string:
		n = strings.Count(t, "\ufffd")
	case []any:
		for _, e := range t {
			n += replacements(e)
		}
	case map[string]any:
		for k, e := range t {
			n += strings.Count(k, "\ufffd") + replacements(e)
		}
	}
	return n
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		``, `null`, `{}`, `{"a":1}`, `{"a":"\u00e9\"\\"}`, `[1,2]`, `"x"`, `{"a":[[[[[[[[[]]]]]]]]]}`,
		`{"a":{"b":{"c":null}},"d":[true,false,1e5,-0.5]}`, `{"a":1}{"b":2}`, `{"a":"\xff"}`, `{"a":1,"a":2}`,
		`{"a\"[":"]"}`, ` { "a" : 1 } `, `{"a":nul}`, `nulls`, `{"a":01}`,
		// Text that encoding/json would silently turn into U+FFFD.
		"{\"\xff\":1}", "{\"a\":\"\xc0\xae\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"x\xe6\x97\"}",
		`{"a":"\ud800"}`, `{"a":"\udc00"}`, `{"a":"\udc00\ud800"}`, `{"\uD83D":1}`, `{"a":"\ud800\u0041"}`,
		`{"a":"\ud800\"}`, `{"a":"\ud83d\ude00"}`, `{"a":"\\ud800"}`, `{"a":"\ufffd"}`, "{\"a\":\"\xef\xbf\xbd\"}",
		`{"a":"\u00"}`, `{"a":["\ud800"]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := decodeBody(bytes.NewReader(in), int64(len(in)), fuzzLimits, nil, nil)
		want, valid := reference(in)
		if err == nil {
			if !valid && len(bytes.TrimSpace(in)) != 0 {
				t.Fatalf("accepted invalid JSON %q", in)
			}
			var wantMap map[string]any
			if m, isMap := want.(map[string]any); isMap {
				wantMap = m
			} else if want != nil {
				t.Fatalf("accepted non-object %q", in)
			}
			if !reflect.DeepEqual(got, wantMap) {
				t.Fatalf("decodeBody(%q) = %#v, encoding/json = %#v", in, got, wantMap)
			}
			// Nothing was replaced: every U+FFFD in the result was sent
			// as one (literally or escaped; counting escapes generously).
			if !utf8.Valid(in) {
				t.Fatalf("accepted invalid UTF-8 %q", in)
			}
			sent := bytes.Count(in, []byte("\ufffd")) + bytes.Count(bytes.ToLower(in), []byte(`\ufffd`))
			if n := replacements(got); n > sent {
				t.Fatalf("decodeBody(%q) holds %d U+FFFD, only %d sent", in, n, sent)
			}
			return
		}
		// Refusals must be justified.
		switch {
		case errors.Is(err, errMalformedJSON):
			if valid {
				t.Fatalf("valid JSON %q refused as malformed", in)
			}
		case errors.Is(err, errNotObject):
			if _, isMap := want.(map[string]any); !valid || isMap || want == nil {
				t.Fatalf("%q refused as not an object", in)
			}
		case errors.Is(err, errTooDeep), errors.Is(err, errTooManyValues):
			if valid {
				d, n := referenceCounts(in)
				if d <= fuzzLimits.maxDepth && n <= fuzzLimits.maxValues {
					t.Fatalf("%q (depth %d, %d values) refused: %v", in, d, n, err)
				}
			}
		case errors.Is(err, errInvalidUTF8):
			if !valid {
				t.Fatalf("invalid JSON %q refused as invalid UTF-8, want malformed", in)
			}
			if utf8.Valid(in) && !surrogateEscape.Match(in) {
				t.Fatalf("%q refused as invalid UTF-8", in)
			}
		case errors.Is(err, errBodyTooLarge):
			if int64(len(in)) <= fuzzLimits.maxBytes {
				t.Fatalf("%d bytes refused as too large", len(in))
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}
