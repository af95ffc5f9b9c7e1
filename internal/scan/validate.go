package scan

import (
	"encoding/base64"
	"encoding/json"
	"hash/crc32"
	"strings"

	"github.com/keyward/keyward/internal/tokenfmt"
)

const (
	base62Upper = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	base62Lower = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

func base62(n uint32, alphabet string, width int) string {
	out := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		out[i] = alphabet[n%62]
		n /= 62
	}
	return string(out)
}

// validGitHubChecksum checks the CRC32 that GitHub (and npm) append to
// their 36-character token bodies: the last 6 characters are the base62
// CRC32 of the 30 before them. Both base62 digit orders in use are accepted.
func validGitHubChecksum(tok string) bool {
	i := strings.IndexByte(tok, '_')
	if i < 0 || len(tok)-i-1 != 36 {
		return false
	}
	body, sum := tok[i+1:i+31], tok[i+31:]
	c := crc32.ChecksumIEEE([]byte(body))
	return sum == base62(c, base62Upper, 6) || sum == base62(c, base62Lower, 6)
}

// GitHubChecksum returns the 6-character checksum for a 30-character token
// body; test corpora use it to build valid-looking tokens.
func GitHubChecksum(body string) string {
	return base62(crc32.ChecksumIEEE([]byte(body)), base62Upper, 6)
}

func validKeywardToken(s string) bool { return tokenfmt.Valid(s) }

// validJWT requires a JSON header with an alg and a JSON object payload.
func validJWT(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	var hdr map[string]any
	if !decodeJSONPart(parts[0], &hdr) {
		return false
	}
	if _, ok := hdr["alg"].(string); !ok {
		return false
	}
	var payload map[string]any
	return decodeJSONPart(parts[1], &payload)
}

func decodeJSONPart(p string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(p, "="))
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

// validBasicAuth requires base64 of user:password with a real password.
func validBasicAuth(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return false
		}
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok || len(pass) < 4 || isPlaceholder(pass, true) || pass == user {
		return false
	}
	return entropy(pass) >= 2.0
}

// validPEMBody requires a key body of real, random-looking base64.
func validPEMBody(s string) bool {
	var b strings.Builder
	s = strings.ReplaceAll(s, `\n`, "\n")
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "-----") || strings.HasPrefix(line, "----") || strings.Contains(line, ": ") {
			continue
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c == '+' || c == '/' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') {
				b.WriteByte(c)
			}
		}
	}
	body := b.String()
	return len(body) >= 64 && entropy(body) >= 4.5
}
