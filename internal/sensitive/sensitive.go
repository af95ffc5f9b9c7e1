// Package sensitive holds secret values in types that refuse to print them.
// Every formatting, logging and encoding path yields a placeholder; only
// Reveal returns the value, so each place a secret leaves the process is a
// visible Reveal call. It imports nothing but the standard library.
//
// What is covered, and how:
//   - fmt: Format answers every verb, flag and width (%v %+v %#v %s %q %x
//     %X %d ...) with the placeholder; %q quotes it.
//   - a String or Bytes inside a struct, map, slice or behind a pointer: its
//     methods run when fmt reaches it as an exported field or element; when it
//     is an unexported field fmt cannot call methods and prints the struct's
//     own fields, which hold only a pointer, never the value.
//   - log/slog: LogValue, for both the text and the JSON handler.
//   - encoding/json, encoding/xml, gopkg.in/yaml.v3 and every other encoder
//     that honours json.Marshaler or encoding.TextMarshaler: the placeholder.
//   - decoding: UnmarshalJSON and UnmarshalText refuse with ErrDecode (whose
//     text never holds the input). A secret that was encoded is the
//     placeholder, so decoding it back would silently replace the secret
//     with the word "[redacted]"; decode into a plain string and wrap it
//     with NewString at the one place the secret enters instead.
//   - ==: the types hold a [0]func(), so comparing them does not compile
//     (it would compare pointers); Equal compares in constant time.
//
// What is not covered: reflection (reflect, encoding/gob, unsafe) can read
// the value, and Reveal's result is an ordinary string or slice.
package sensitive

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
)

const redacted = "[redacted]"

// ErrDecode is returned by every decoding method: secrets are decoded as
// plain values and wrapped explicitly.
var ErrDecode = errors.New("sensitive: a secret is not decoded from an encoding; decode a plain value and wrap it")

// String holds a secret string. The zero value is the empty secret. The
// pointer hides the value even when a struct holding a String as an
// unexported field is printed with %+v.
type String struct {
	_ [0]func()
	p *string
}

// NewString wraps v.
func NewString(v string) String { return String{p: &v} }

// Reveal returns the secret.
func (s String) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// Empty reports whether the secret is empty.
func (s String) Empty() bool { return s.p == nil || *s.p == "" }

// Equal reports, in time independent of the contents, whether s and o hold
// the same secret.
func (s String) Equal(o String) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(o.Reveal())) == 1
}

func (String) Format(f fmt.State, verb rune)       { format(f, verb) }
func (String) String() string                      { return redacted }
func (String) GoString() string                    { return redacted }
func (String) LogValue() slog.Value                { return slog.StringValue(redacted) }
func (String) MarshalJSON() ([]byte, error)        { return []byte(`"` + redacted + `"`), nil }
func (String) MarshalText() ([]byte, error)        { return []byte(redacted), nil }
func (*String) UnmarshalJSON([]byte) error         { return ErrDecode }
func (*String) UnmarshalText([]byte) error         { return ErrDecode }
func (String) AppendText(b []byte) ([]byte, error) { return append(b, redacted...), nil }

// Bytes holds a secret byte slice (an unseal share, a key). The zero value
// is empty. Reveal returns the held slice itself, not a copy, so Wipe (or
// clearing what Reveal returned) erases the secret for every holder.
type Bytes struct {
	_ [0]func()
	p **[]byte // two pointers: fmt prints a *[]byte's elements, even nested (%!s(*[]uint8=&[…]))
}

// NewBytes wraps b without copying it: the caller hands b over.
func NewBytes(b []byte) Bytes {
	p := &b
	return Bytes{p: &p}
}

// Reveal returns the secret. The slice is shared with b.
func (b Bytes) Reveal() []byte {
	if b.p == nil {
		return nil
	}
	return **b.p
}

// Len is the length of the secret.
func (b Bytes) Len() int { return len(b.Reveal()) }

// Wipe overwrites the secret with zeros.
func (b Bytes) Wipe() { clear(b.Reveal()) }

// Equal reports, in time independent of the contents, whether b and o hold
// the same secret.
func (b Bytes) Equal(o Bytes) bool { return subtle.ConstantTimeCompare(b.Reveal(), o.Reveal()) == 1 }

func (Bytes) Format(f fmt.State, verb rune)       { format(f, verb) }
func (Bytes) String() string                      { return redacted }
func (Bytes) GoString() string                    { return redacted }
func (Bytes) LogValue() slog.Value                { return slog.StringValue(redacted) }
func (Bytes) MarshalJSON() ([]byte, error)        { return []byte(`"` + redacted + `"`), nil }
func (Bytes) MarshalText() ([]byte, error)        { return []byte(redacted), nil }
func (*Bytes) UnmarshalJSON([]byte) error         { return ErrDecode }
func (*Bytes) UnmarshalText([]byte) error         { return ErrDecode }
func (Bytes) AppendText(b []byte) ([]byte, error) { return append(b, redacted...), nil }

// format writes the placeholder for any verb, keeping width and the '-'
// flag so tables stay aligned; %q quotes it. Precision is ignored: it could
// only shorten the placeholder.
func format(f fmt.State, verb rune) {
	s := redacted
	if verb == 'q' {
		s = `"` + redacted + `"`
	}
	if w, ok := f.Width(); ok && w > len(s) {
		pad := make([]byte, w-len(s))
		for i := range pad {
			pad[i] = ' '
		}
		if f.Flag('-') {
			s += string(pad)
		} else {
			s = string(pad) + s
		}
	}
	_, _ = f.Write([]byte(s))
}
