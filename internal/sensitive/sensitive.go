// Package sensitive holds secret values in types that refuse to print them.
// Every formatting, logging and JSON path yields a placeholder; only Reveal
// returns the value. It imports nothing but the standard library.
package sensitive

import "log/slog"

const redacted = "[redacted]"

// String holds a secret. The zero value is the empty secret. The pointer
// hides the value even when a struct holding a String is printed with %+v.
type String struct{ p *string }

// NewString wraps v.
func NewString(v string) String { return String{&v} }

// Reveal returns the secret.
func (s String) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// Empty reports whether the secret is empty.
func (s String) Empty() bool { return s.p == nil || *s.p == "" }

func (String) String() string               { return redacted }
func (String) GoString() string             { return redacted }
func (String) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (String) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (String) MarshalText() ([]byte, error) { return []byte(redacted), nil }
