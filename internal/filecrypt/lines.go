package filecrypt

import (
	"encoding/json"
	"fmt"
	"strings"
)

// metaLinePrefix starts the comment line that carries a dotenv or INI
// file's metadata as one line of JSON.
const metaLinePrefix = "# keyward: "

func parseMetaLine(line string) (*Metadata, error) {
	var m Metadata
	dec := json.NewDecoder(strings.NewReader(strings.TrimPrefix(line, metaLinePrefix)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return &m, nil
}

func metaLine(m *Metadata) (string, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return metaLinePrefix + string(b), nil
}

// splitLines splits data into lines without their "\n" (a "\r" before it
// stays part of the line) and reports whether the last line ended in "\n".
func splitLines(data []byte) ([]string, bool) {
	s := string(data)
	if s == "" {
		return nil, true
	}
	nl := strings.HasSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n"), nl
}

func joinLines(lines []string, nl bool) []byte {
	s := strings.Join(lines, "\n")
	if nl && len(lines) > 0 {
		s += "\n"
	}
	return []byte(s)
}
