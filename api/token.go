package api

import (
	"errors"
	"fmt"
	"log/slog"
)

// Token holds a token (or any secret) so that it never prints: every fmt
// verb, slog, encoding/json and every encoder using encoding.TextMarshaler
// (YAML, XML) show "[redacted]", and only Reveal returns the value. The zero
// value is the empty token. Decoding is refused with ErrDecodeToken (an
// encoded Token is the placeholder, so decoding one back would silently
// replace the token): decode a string and wrap it with NewToken.
//
// It is api's own copy of the type Keyward keeps internally, because api
// imports nothing under internal/. A type, rather than a Config that redacts
// itself, keeps the token out of every struct that ever holds it, including
// as an unexported field, where fmt cannot call a method: the value sits
// behind a pointer, so only its address would print.
type Token struct {
	_ [0]func() // == would compare pointers: it does not compile
	p *string
}

// ErrDecodeToken is returned by Token's decoding methods.
var ErrDecodeToken = errors.New("api: a token is not decoded from an encoding; decode a string and use NewToken")

// NewToken wraps t.
func NewToken(t string) Token { return Token{p: &t} }

// Reveal returns the token.
func (t Token) Reveal() string {
	if t.p == nil {
		return ""
	}
	return *t.p
}

// Empty reports whether the token is empty.
func (t Token) Empty() bool { return t.p == nil || *t.p == "" }

const redacted = "[redacted]"

// Format writes the placeholder for every verb (quoted for %q, padded to
// the width).
func (Token) Format(f fmt.State, verb rune) {
	s := redacted
	if verb == 'q' {
		s = `"` + redacted + `"`
	}
	if w, ok := f.Width(); ok && w > len(s) {
		pad := fmt.Sprintf("%*s", w-len(s), "")
		if f.Flag('-') {
			s += pad
		} else {
			s = pad + s
		}
	}
	_, _ = f.Write([]byte(s))
}

func (Token) String() string                      { return redacted }
func (Token) GoString() string                    { return redacted }
func (Token) LogValue() slog.Value                { return slog.StringValue(redacted) }
func (Token) MarshalJSON() ([]byte, error)        { return []byte(`"` + redacted + `"`), nil }
func (Token) MarshalText() ([]byte, error)        { return []byte(redacted), nil }
func (Token) AppendText(b []byte) ([]byte, error) { return append(b, redacted...), nil }
func (*Token) UnmarshalJSON([]byte) error         { return ErrDecodeToken }
func (*Token) UnmarshalText([]byte) error         { return ErrDecodeToken }
