package filecrypt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// blobDoc is a file encrypted whole: one value at path ["data"] of type
// bytes. Encrypted, it is a JSON object {"data": ENC[...], "keyward": {...}}.
type blobDoc struct {
	data string
	md   *Metadata
}

var blobPath = Path{"data"}

// parseBlob reads an encrypted blob, or takes data as the plaintext when it
// is not one.
func parseBlob(data []byte) (*blobDoc, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' && bytes.Contains(trimmed, []byte(`"`+MetadataKey+`"`)) {
		var enc struct {
			Data string    `json:"data"`
			Meta *Metadata `json:"keyward"`
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&enc); err == nil && enc.Meta != nil {
			if !IsEnvelope(enc.Data) {
				return nil, errors.New("binary: data is not an encrypted value")
			}
			return &blobDoc{data: enc.Data, md: enc.Meta}, nil
		}
	}
	return &blobDoc{data: string(data)}, nil
}

func (d *blobDoc) leaves() []leaf {
	return []leaf{{path: blobPath, value: d.data, typ: TypeBytes}}
}

func (d *blobDoc) set(p Path, value, typ string) error {
	if p.String() != blobPath.String() {
		return fmt.Errorf("%s: a binary file holds one value", p.Display())
	}
	d.data = value
	return nil
}

func (d *blobDoc) remove(p Path) error {
	return fmt.Errorf("%s: a binary file holds one value", p.Display())
}

func (d *blobDoc) meta() (*Metadata, error) { return d.md, nil }
func (d *blobDoc) setMeta(m *Metadata) error {
	d.md = m
	return nil
}

func (d *blobDoc) marshal() ([]byte, error) {
	if d.md == nil {
		return []byte(d.data), nil
	}
	b, err := json.MarshalIndent(struct {
		Data string    `json:"data"`
		Meta *Metadata `json:"keyward"`
	}{d.data, d.md}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
