package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// cell renders one value for CSV: times in RFC 3339 (UTC, "" when zero),
// lists joined with ";", and numbers and booleans as Go prints them.
func cell(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case time.Time:
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	case []string:
		return strings.Join(t, ";")
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case uint64:
		return strconv.FormatUint(t, 10)
	case bool:
		return strconv.FormatBool(t)
	}
	return fmt.Sprint(v)
}

// Neutralise returns s safe to open in a spreadsheet: a cell starting
// with =, +, -, @, a tab or a carriage return is one a spreadsheet may run
// as a formula, so it gets a leading single quote (OWASP's advice for CSV
// injection). So does one where such a character follows leading spaces,
// line breaks, quotes or a byte-order mark, which importers may trim. A
// negative decimal number (-5, -3.5) is left alone.
func Neutralise(s string) string {
	if s == "" {
		return s
	}
	if s[0] == '\t' || s[0] == '\r' {
		return "'" + s
	}
	t := strings.TrimLeftFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '"' || r == '\ufeff' || r == '\u200b'
	})
	if t == "" {
		return s
	}
	switch t[0] {
	case '=', '+', '-', '@':
		if t[0] == '-' && negativeNumber.MatchString(t) {
			return s
		}
		return "'" + s
	}
	return s
}

var negativeNumber = regexp.MustCompile(`^-[0-9]+(\.[0-9]+)?$`)

// CSV writes columns as a header row and rows below it, quoting as RFC
// 4180 asks (commas, quotes and newlines inside a cell) and neutralising
// every cell (Neutralise), the header included.
func CSV(columns []string, rows [][]any) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	rec := make([]string, len(columns))
	for i, c := range columns {
		rec[i] = Neutralise(c)
	}
	_ = w.Write(rec) // a bytes.Buffer does not fail
	for _, r := range rows {
		rec = rec[:0]
		for _, v := range r {
			rec = append(rec, Neutralise(cell(v)))
		}
		_ = w.Write(rec)
	}
	w.Flush()
	return buf.Bytes()
}
