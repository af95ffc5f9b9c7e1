package mask_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/mask"
)

// noTimer keeps table tests deterministic: held bytes wait for the next
// write or Close (the timer has its own tests, with a fake clock).
var noTimer = mask.Options{FlushDelay: -1}

// run writes chunks through a new Writer and returns what came out.
func run(t testing.TB, secrets []mask.Secret, opts mask.Options, chunks ...[]byte) string {
	t.Helper()
	var out bytes.Buffer
	w := mask.NewWriter(&out, secrets, opts)
	for _, c := range chunks {
		if n, err := w.Write(c); n != len(c) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", len(c), n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	return out.String()
}

// chunkings returns in split every way the tests use: whole, one byte per
// write, and (for short inputs) two writes split at every offset.
func chunkings(in string) map[string][][]byte {
	b := []byte(in)
	c := map[string][][]byte{"whole": {b}}
	if len(b) <= 4096 {
		var bytewise [][]byte
		for i := range b {
			bytewise = append(bytewise, b[i:i+1])
		}
		c["bytewise"] = bytewise
		for i := 1; i < len(b); i++ {
			c["split@"+itoa(i)] = [][]byte{b[:i], b[i:]}
		}
	} else {
		for _, i := range []int{1, len(b) / 2, len(b) - 1} {
			c["split@"+itoa(i)] = [][]byte{b[:i], b[i:]}
		}
		var blocks [][]byte
		for p := b; len(p) > 0; p = p[min(4093, len(p)):] {
			blocks = append(blocks, p[:min(4093, len(p))])
		}
		c["4093-byte writes"] = blocks
	}
	return c
}

func itoa(i int) string { return strconv.Itoa(i) }

func sec(vs ...string) []mask.Secret {
	s := make([]mask.Secret, len(vs))
	for i, v := range vs {
		s[i] = mask.Secret{Name: "S" + itoa(i), Value: v}
	}
	return s
}

const pem = "-----BEGIN OPENSSH PRIVATE KEY-----\n" +
	"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" +
	"QyNTUxOQAAACDmY2xlYW4tdGVzdC1rZXktbm90LXJlYWwtYXQtYWxsAAAAmAAAAAAAAAAA\n" +
	"-----END OPENSSH PRIVATE KEY-----\n"

func b64(s string) string  { return base64.StdEncoding.EncodeToString([]byte(s)) }
func b64u(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }
func jsonStr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestWriterTable(t *testing.T) {
	const v = "s3cr3t-Pa55w0rd-42"
	special := `p@ss w/rd&x=1?"'\$` + "`y"
	meta := `.*+?[](){}|^$\ re`
	uni := "pässwörd-🔑-秘密-ключ"
	jsonSecret := `{"user":"deploy-bot","password":"hunter2-hunter2","nested":{"token":"tok-abcdef-123456"},"list":["list-item-secret"],"port":5432}`
	binary := "\x00\xff\x01\xfe" + v + "\x80\x81\x00"
	big := strings.Repeat("x", 1<<20)

	tests := []struct {
		name    string
		secrets []mask.Secret
		opts    mask.Options
		in      string
		want    string   // exact output, if set
		leak    []string // must not appear in the output
		keep    []string // must appear in the output
	}{
		{name: "raw mid line", secrets: sec(v), in: "token=" + v + "\n", want: "token=***\n"},
		{name: "value at start", secrets: sec(v), in: v + " trailing", want: "*** trailing"},
		{name: "value at end no newline", secrets: sec(v), in: "end:" + v, want: "end:***"},
		{name: "value alone", secrets: sec(v), in: v, want: "***"},
		{name: "two occurrences", secrets: sec(v), in: v + " and " + v + "\n", want: "*** and ***\n"},
		{name: "adjacent occurrences merge", secrets: sec(v), in: "<" + v + v + ">", want: "<***>"},
		{name: "base64 std padded", secrets: sec(v), in: "b64=" + b64(v) + "\n", want: "b64=***\n"},
		{name: "base64 unpadded", secrets: sec(v + "x"), in: "b64=" + strings.TrimRight(b64(v+"x"), "=") + ".\n", want: "b64=***.\n"},
		{name: "base64 url alphabet", secrets: sec("\xfb\xff\xbf-binary-token>>??"), in: "u=" + b64u("\xfb\xff\xbf-binary-token>>??") + "\n", leak: []string{b64u("\xfb\xff\xbf-binary-token>>??")[2:20]}},
		{name: "base64 user:pass offset 2", secrets: sec(v), in: "Authorization: Basic " + b64("ci:"+v) + "\n", leak: []string{b64("ci:" + v)[4:24]}},
		{name: "base64 offset 1", secrets: sec(v), in: b64("x"+v+"tail") + "\n", leak: []string{b64("x" + v + "tail")[4:24]}},
		{name: "base64 offset 0 inside longer data", secrets: sec(v), in: b64("abc"+v+"more data follows") + "\n", leak: []string{b64("abc" + v + "more data follows")[4:24]}},
		{name: "base64 of base64 with echo newlines", secrets: sec(v), in: b64(b64(v+"\n")+"\n") + "\n", leak: []string{b64(b64(v+"\n") + "\n")[:20]}},
		{name: "base64 of base64 w0", secrets: sec(v), in: b64(b64(v)) + "\n", want: "***\n"},
		{name: "hex lower", secrets: sec(v), in: "hex " + hex.EncodeToString([]byte(v)) + "\n", want: "hex ***\n"},
		{name: "hex upper", secrets: sec(v), in: "HEX " + strings.ToUpper(hex.EncodeToString([]byte(v))) + "\n", want: "HEX ***\n"},
		{name: "query escaped", secrets: sec(special), in: "GET /?p=" + url.QueryEscape(special) + " HTTP/1.1\n", want: "GET /?p=*** HTTP/1.1\n"},
		{name: "query escaped lower-case hex", secrets: sec(special), in: "p=" + strings.ToLower(url.QueryEscape(special)) + "\n", want: "p=***\n"},
		{name: "base64 wrapped at 76", secrets: sec(pem), in: wrap(b64(pem), 76), leak: []string{b64(pem)[:40], b64(pem)[100:140]}},
		{name: "base64 wrapped at 64", secrets: sec(pem), in: wrap(b64(pem), 64), leak: []string{b64(pem)[:40], b64(pem)[100:140]}},
		{name: "path escaped", secrets: sec(special), in: "GET /" + url.PathEscape(special) + "/x\n", want: "GET /***/x\n"},
		{name: "url credentials", secrets: sec(v), in: "cloning https://bot:" + v + "@git.example.com/r.git\n", want: "cloning https://bot:***@git.example.com/r.git\n"},
		{name: "json escaped", secrets: sec(special), in: `{"password":` + jsonStr(special) + "}\n", leak: []string{jsonStr(special)[1 : len(jsonStr(special))-1]}, keep: []string{`{"password":"***"}`}},
		{name: "json html escaped", secrets: sec("a<b>&c-secret"), in: `{"p":"a\u003cb\u003e\u0026c-secret"}`, want: `{"p":"***"}`},
		{name: "shell single quoted", secrets: sec("it's-a-secret"), in: `echo 'it'\''s-a-secret'` + "\n", want: "echo '***'\n"},
		{name: "shell backslash escaped", secrets: sec("pa ss$word!x"), in: `+ echo pa\ ss\$word\!x` + "\n", want: "+ echo ***\n"},
		{name: "shell double quoted", secrets: sec(`q"u$o` + "`te"), in: `"q\"u\$o` + "\\`te\"\n", want: "\"***\"\n"},
		{name: "jenkins dollar dollar", secrets: sec("pa$$word$x"), in: "pa$$$$word$$x\n", want: "***\n"},
		{name: "xml escaped", secrets: sec("a&b<c>-secret"), in: "<p>a&amp;b&lt;c&gt;-secret</p>", want: "<p>***</p>"},
		{name: "json secret field alone", secrets: sec(jsonSecret), in: "password is hunter2-hunter2\n", want: "password is ***\n"},
		{name: "json secret nested field", secrets: sec(jsonSecret), in: "tok-abcdef-123456 list-item-secret\n", want: "*** ***\n"},
		{name: "json secret field base64", secrets: sec(jsonSecret), in: b64("hunter2-hunter2") + "\n", want: "***\n"},
		{name: "json secret whole", secrets: sec(jsonSecret), in: jsonSecret + "\n", want: "***\n"},
		{name: "trailing newline of a value kept", secrets: sec(v + "\n"), in: "a\n" + v + "\nb\n", want: "a\n***\nb\n"},
		{name: "surrounding space of a value kept", secrets: sec("  " + v + "\r\n"), in: "[" + v + "]", want: "[***]"},
		{name: "value with newline still masked base64", secrets: sec(v + "\n"), in: b64(v+"\n") + "\n", want: "***\n"},
		{name: "json short fields ignored", secrets: sec(jsonSecret), in: "port 5432 user\n", want: "port 5432 user\n"},
		{name: "multi-line json: short lines not masked (M3)", secrets: sec("{\n  \"k\": \"multi-line-secret\"\n}\n"), in: "{\n}\nmulti-line-secret\n", want: "{\n}\n***\n"},
		{name: "pem whole", secrets: sec(pem), in: "key:\n" + pem + "done\n", keep: []string{"key:\n***", "done\n"}, leak: []string{"b3BlbnNzaC1r", "QyNTUxOQAAAC"}},
		{name: "pem single line", secrets: sec(pem), in: "line: QyNTUxOQAAACDmY2xlYW4tdGVzdC1rZXktbm90LXJlYWwtYXQtYWxsAAAAmAAAAAAAAAAA\n", want: "line: ***\n"},
		{name: "pem crlf", secrets: sec(pem), in: strings.ReplaceAll(pem, "\n", "\r\n"), leak: []string{"b3BlbnNzaC1r", "QyNTUxOQAAAC"}},
		{name: "pem base64", secrets: sec(pem), in: b64(pem) + "\n", want: "***\n"},
		{name: "pem crlf secret printed lf", secrets: sec(strings.ReplaceAll(pem, "\n", "\r\n")), in: pem, leak: []string{"b3BlbnNzaC1r", "QyNTUxOQAAAC"}},
		{name: "overlapping values", secrets: sec("abcdefgh-1", "efgh-1-ijklmn"), in: "[abcdefgh-1-ijklmn]", want: "[***]"},
		{name: "value inside another", secrets: sec("inner-secret", "outer-inner-secret-x"), in: "outer-inner-secret-x inner-secret", want: "*** ***"},
		{name: "regex metacharacters", secrets: sec(meta), in: "m=" + meta + "\n", want: "m=***\n"},
		{name: "regex metacharacters not a regex", secrets: sec(meta), in: "... re\n", want: "... re\n"},
		{name: "unicode", secrets: sec(uni), in: "u=" + uni + "\n", want: "u=***\n"},
		{name: "unicode base64", secrets: sec(uni), in: b64(uni) + "\n", want: "***\n"},
		{name: "binary noise", secrets: sec(v), in: binary, want: "\x00\xff\x01\xfe***\x80\x81\x00"},
		{name: "near miss untouched", secrets: sec(v), in: "s3cr3t-Pa55w0rd-4\ns3cr3t-Pa55w0rd-43\n", want: "s3cr3t-Pa55w0rd-4\ns3cr3t-Pa55w0rd-43\n"},
		{name: "prefix at end of stream untouched", secrets: sec(v), in: "tail s3cr3t-Pa5", want: "tail s3cr3t-Pa5"},
		{name: "no secrets", secrets: nil, in: "plain " + v, want: "plain " + v},
		{name: "short value raw only", secrets: sec("abc"), opts: mask.Options{FlushDelay: -1}, in: "abc " + b64("abc") + "\n", want: "*** " + b64("abc") + "\n"},
		{name: "one-byte value (allowed past Check)", secrets: sec("q", "long-secret-value"), in: "quiq long-secret-value", want: "***ui*** ***"},
		{name: "name style", secrets: []mask.Secret{{Name: "DB_PASS", Value: v}}, opts: mask.Options{Style: mask.StyleName, FlushDelay: -1}, in: "p=" + v + "\n", want: "p=[DB_PASS]\n"},
		{name: "name style json field", secrets: []mask.Secret{{Name: "CREDS", Value: jsonSecret}}, opts: mask.Options{Style: mask.StyleName, FlushDelay: -1}, in: "hunter2-hunter2\n", want: "[CREDS.password]\n"},
		{name: "same value two names", secrets: []mask.Secret{{Name: "A", Value: v}, {Name: "B", Value: v}}, in: v, want: "***"},
		{name: "1 MB line with values", secrets: sec(v), in: big + v + big + v, want: big + "***" + big + "***"},
		{name: "1 MB line prefix ends", secrets: sec(v), in: big + v[:10], want: big + v[:10]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			if opts == (mask.Options{}) {
				opts = noTimer
			}
			var first string
			for how, chunks := range chunkings(tc.in) {
				got := run(t, tc.secrets, opts, chunks...)
				if tc.want != "" && got != tc.want {
					t.Fatalf("%s: got %q, want %q", how, clip(got), clip(tc.want))
				}
				if first == "" {
					first = got
				} else if got != first {
					t.Fatalf("%s: output %q differs from another chunking's %q", how, clip(got), clip(first))
				}
				for _, s := range tc.secrets {
					if len(s.Value) >= 6 && strings.Contains(got, s.Value) {
						t.Fatalf("%s: value %s leaked in %q", how, s.Name, clip(got))
					}
				}
				for _, l := range tc.leak {
					if strings.Contains(got, l) {
						t.Fatalf("%s: %q leaked in %q", how, l, clip(got))
					}
				}
				for _, k := range tc.keep {
					if !strings.Contains(got, k) {
						t.Fatalf("%s: %q missing from %q", how, k, clip(got))
					}
				}
			}
		})
	}
}

func wrap(s string, width int) string {
	var b strings.Builder
	for len(s) > width {
		b.WriteString(s[:width] + "\n")
		s = s[width:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:120] + "..." + s[len(s)-120:]
	}
	return s
}

func TestWriterSplitEveryOffsetAllForms(t *testing.T) {
	// Every registered encoding, split across two writes at every offset.
	const v = "Zq9-vault-token/+==" // exercises base64's +, / and =
	forms := []string{v, b64(v), b64u(v), b64(b64(v)), hex.EncodeToString([]byte(v)), url.QueryEscape(v), `Zq9-vault-token\/+==`}
	for _, f := range forms {
		in := "<" + f + ">"
		for i := 1; i < len(in); i++ {
			got := run(t, sec(v), noTimer, []byte(in[:i]), []byte(in[i:]))
			if got != "<***>" {
				t.Fatalf("form %q split at %d: got %q, want %q", f, i, got, "<***>")
			}
		}
	}
}

func TestWriterConcurrent(t *testing.T) {
	// stdout and stderr Writers share one destination; each is also written
	// by two goroutines. Every Write holds whole lines, as a child's do.
	var out clocktest.Buffer
	secrets := sec("stdout-secret-value", "stderr-secret-value")
	ws := []*mask.Writer{mask.NewWriter(&out, secrets, mask.Options{}), mask.NewWriter(&out, secrets, mask.Options{})}
	var wg sync.WaitGroup
	for g := range 4 {
		w := ws[g%2]
		wg.Go(func() {
			for range 200 {
				w.Write([]byte("line " + secrets[g%2].Value + " " + b64(secrets[(g+1)%2].Value) + "\n"))
			}
		})
	}
	wg.Wait()
	for _, w := range ws {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got := out.String()
	if n := strings.Count(got, "line *** ***\n"); n != 800 {
		t.Fatalf("got %d masked lines, want 800; output starts %q", n, clip(got))
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestWriterErrors(t *testing.T) {
	boom := errors.New("boom")
	w := mask.NewWriter(writerFunc(func([]byte) (int, error) { return 0, boom }), sec("secret-value"), noTimer)
	if _, err := w.Write([]byte("hello\n")); !errors.Is(err, boom) {
		t.Fatalf("Write() error = %v, want %v", err, boom)
	}
	if _, err := w.Write([]byte("again\n")); !errors.Is(err, boom) {
		t.Fatalf("second Write() error = %v, want sticky %v", err, boom)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close() = %v, want %v", err, boom)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, mask.ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
	short := mask.NewWriter(writerFunc(func(p []byte) (int, error) { return len(p) - 1, nil }), sec("secret-value"), noTimer)
	if _, err := short.Write([]byte("hello\n")); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short Write() error = %v, want io.ErrShortWrite", err)
	}
}

func TestCheck(t *testing.T) {
	err := mask.Check([]mask.Secret{{Name: "OK", Value: "long-enough"}, {Name: "PIN", Value: "1234"}, {Value: "ab"}})
	var short *mask.ErrTooShort
	if !errors.As(err, &short) {
		t.Fatalf("Check() = %v, want *ErrTooShort", err)
	}
	if got := strings.Join(short.Names, ","); got != "PIN,#2" {
		t.Fatalf("ErrTooShort.Names = %q, want %q", got, "PIN,#2")
	}
	if strings.Contains(err.Error(), "1234") || strings.Contains(err.Error(), "ab,") {
		t.Fatalf("error %q reveals a value", err)
	}
	if err := mask.Check(sec("long-enough")); err != nil {
		t.Fatalf("Check(long) = %v", err)
	}
	if err := (mask.Options{MinLen: 3}).Check(sec("1234")); err != nil {
		t.Fatalf("Check with MinLen 3 = %v", err)
	}
}
