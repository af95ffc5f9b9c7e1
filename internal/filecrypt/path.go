package filecrypt

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Path locates a value in a file's tree: each element is a string (a
// mapping key, a section or variable name) or an int (a sequence index).
type Path []any

// String is the canonical form used as additional data and in the MAC: the
// path as a JSON array, so ["a","0"] and ["a",0] differ.
func (p Path) String() string {
	if p == nil {
		p = Path{}
	}
	b, err := json.Marshal([]any(p))
	if err != nil {
		panic("filecrypt: path of unsupported element type") // programmer error: only string and int
	}
	return string(b)
}

// Display is the path for messages: data.password, items[2].name.
func (p Path) Display() string {
	if len(p) == 0 {
		return "(file)"
	}
	var b strings.Builder
	for i, s := range p {
		switch v := s.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(v) + "]")
		case string:
			if i > 0 {
				b.WriteByte('.')
			}
			if v == "" || strings.ContainsAny(v, ".[] \"") {
				b.WriteString(strconv.Quote(v))
			} else {
				b.WriteString(v)
			}
		}
	}
	return b.String()
}

func (p Path) child(s any) Path {
	c := make(Path, len(p), len(p)+1)
	copy(c, p)
	return append(c, s)
}

// leaf is one scalar value of a document: its path, its value as stored
// (ciphertext or plaintext) and its type.
type leaf struct {
	path  Path
	value string
	typ   string
}

// document is one parsed file. Implementations keep everything that is not
// a value (keys, comments, order) so that marshal reproduces the file with
// only the values changed.
type document interface {
	// leaves returns the scalar values in document order, metadata excluded.
	leaves() []leaf
	// set replaces the value at path, or adds it when its parent exists
	// (or can be created as a mapping).
	set(path Path, value, typ string) error
	// remove deletes the value at path.
	remove(path Path) error
	// meta returns the metadata block, or nil when the file has none.
	meta() (*Metadata, error)
	// setMeta replaces the metadata block (nil removes it).
	setMeta(m *Metadata) error
	marshal() ([]byte, error)
}
