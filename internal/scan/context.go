package scan

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"regexp"
	"strings"
)

// This file judges where a finding is: a configuration file, where an
// unlabelled key is credible, or test material, where a credential is most
// likely a published test vector.

// baseName is the last element of a reported path, inside archives too
// (bundle.zip!etc/app.properties -> app.properties).
func baseName(p string) string {
	if i := strings.LastIndexByte(p, '!'); i >= 0 {
		p = p[i+1:]
	}
	return path.Base(p)
}

var configExts = map[string]bool{
	".properties": true, ".ini": true, ".cfg": true, ".conf": true, ".config": true, ".cnf": true,
	".env": true, ".yaml": true, ".yml": true, ".toml": true, ".json": true, ".json5": true,
	".tfvars": true, ".tf": true, ".hcl": true, ".xml": true, ".plist": true, ".settings": true,
}

var configNames = map[string]bool{
	"dockerfile": true, "containerfile": true, "credentials": true, "config": true, ".npmrc": true,
	".pypirc": true, ".netrc": true, ".envrc": true, ".pgpass": true, ".my.cnf": true, "settings.py": true,
	"local_settings.py": true, "wp-config.php": true,
}

// configFile reports whether p names a configuration file: by extension
// (.properties, .yaml, .env, .tf…), by name (Dockerfile, credentials,
// .npmrc…) or as a dotenv variant (.env.production, prod.env).
func configFile(p string) bool {
	if translationFile(p) {
		return false
	}
	b := strings.ToLower(baseName(p))
	if configNames[b] || strings.HasPrefix(b, ".env.") || strings.HasPrefix(b, "docker-compose") || strings.HasPrefix(b, "dockerfile.") {
		return true
	}
	return configExts[path.Ext(b)]
}

var translationDirs = map[string]bool{
	"i18n": true, "l10n": true, "locale": true, "locales": true, "lang": true, "langs": true,
	"languages": true, "translations": true, "translation": true,
}

var translationExts = map[string]bool{".po": true, ".pot": true, ".strings": true, ".xlf": true, ".xliff": true, ".arb": true, ".resx": true}

// translationFile reports whether p holds a user interface's translated
// text: below i18n/, locales/, translations/… or a .po, .strings, .xlf,
// .arb or .resx file. Its "password" keys label fields; their values are
// words.
func translationFile(p string) bool {
	p = strings.ToLower(p)
	if translationExts[path.Ext(p)] {
		return true
	}
	segs := strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' || r == '!' })
	for _, s := range segs[:max(0, len(segs)-1)] {
		if translationDirs[s] {
			return true
		}
	}
	return false
}

// awsSecretShaped reports whether a value looks like an AWS secret access
// key: exactly 40 characters of the base64 alphabet without padding, with
// upper- and lower-case letters and digits and a random spread of them.
// Hex digests (40 hex digits, a git commit or SHA-1) and padded base64
// (which ends in =) never match.
func awsSecretShaped(v []byte) bool {
	if len(v) != 40 {
		return false
	}
	var up, lo, di, notHex bool
	slashes := 0
	for _, c := range v {
		switch {
		case 'A' <= c && c <= 'Z':
			up = true
			notHex = notHex || c > 'F'
		case 'a' <= c && c <= 'z':
			lo = true
			notHex = notHex || c > 'f'
		case '0' <= c && c <= '9':
			di = true
		case c == '/' || c == '+':
			slashes++
			notHex = true
		default:
			return false
		}
	}
	return up && lo && di && notHex && slashes <= 4 && entropy(string(v)) >= 4.2
}

// Test material: where a credential is most likely a published test
// vector or a fixture. Every reason names what was recognised.
const (
	reasonKnownKey   = "well-known test key"
	reasonVectorFile = "test-vector file"
	reasonFixture    = "test fixture directory"
	reasonTestFile   = "test source file"
	reasonHexVectors = "file of hex test vectors"
)

var fixtureDirs = map[string]bool{
	"testdata": true, "test-data": true, "test_data": true, "fixtures": true, "fixture": true,
	"__fixtures__": true, "testfixtures": true, "test-fixtures": true, "test_fixtures": true,
}

var testDirs = map[string]bool{"test": true, "tests": true, "__tests__": true, "spec": true, "specs": true}

// vectorWords name known-answer test suites: Wycheproof, NIST CAVP and
// ACVP, KAT files, HPKE and other RFC vector sets.
var vectorWords = map[string]bool{
	"wycheproof": true, "nist": true, "cavp": true, "acvp": true, "kat": true, "kats": true, "vectors": true,
	"vector": true, "testvectors": true, "hpke": true,
}

var dataExts = map[string]bool{
	"": true, ".json": true, ".txt": true, ".rsp": true, ".req": true, ".fax": true, ".csv": true, ".yaml": true,
	".yml": true, ".toml": true, ".xml": true, ".hex": true, ".dat": true, ".vec": true, ".jsonl": true,
}

// pathMaterial says whether a path is test material by where it is: a
// test-vector data file, a fixture directory or a test source file. p is
// relative to the scanned root where there is one, so a checkout under
// ~/tests/ is not all test material.
func pathMaterial(p string) string {
	orig := baseName(p)
	p = strings.ToLower(p)
	segs := strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' || r == '!' })
	if len(segs) == 0 {
		return ""
	}
	name := segs[len(segs)-1]
	if dataExts[path.Ext(name)] {
		for _, s := range segs {
			for _, w := range strings.FieldsFunc(strings.TrimSuffix(s, path.Ext(s)), func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
				if vectorWords[w] {
					return reasonVectorFile
				}
			}
		}
	}
	for _, s := range segs[:len(segs)-1] {
		if fixtureDirs[s] {
			return reasonFixture
		}
	}
	if testFileName(orig) {
		return reasonTestFile
	}
	for _, s := range segs[:len(segs)-1] {
		if testDirs[s] {
			return reasonTestFile
		}
	}
	return ""
}

// testFileName recognises test sources by the conventions of their
// languages' test runners. JVM, .NET, PHP and Swift tests are classes
// named FooTest, FooTests, FooSpec or FooIT, so Latest.java is not one.
func testFileName(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	orig := strings.TrimSuffix(name, path.Ext(name))
	stem := strings.ToLower(orig)
	switch ext {
	case ".go", ".rb", ".exs", ".rs", ".c", ".cc", ".cpp":
		return strings.HasSuffix(stem, "_test") || strings.HasSuffix(stem, "_spec") || strings.HasPrefix(stem, "test_")
	case ".py":
		return strings.HasPrefix(stem, "test_") || strings.HasSuffix(stem, "_test") || stem == "conftest"
	case ".js", ".ts", ".jsx", ".tsx", ".mjs", ".cjs":
		return strings.HasSuffix(stem, ".test") || strings.HasSuffix(stem, ".spec")
	case ".java", ".kt", ".scala", ".cs", ".php", ".swift", ".groovy":
		return strings.HasSuffix(orig, "Test") || strings.HasSuffix(orig, "Tests") || strings.HasSuffix(orig, "Spec") || strings.HasSuffix(orig, "IT")
	}
	return false
}

var armour = regexp.MustCompile(`-{4,5} ?(?:BEGIN|END) [A-Z0-9 ]+ ?-{4,5}|\\[nr]`)

// keyFingerprint identifies a key or secret by its material alone: the
// base64 alphabet left after PEM armour, escapes and layout are removed,
// hashed. The same key in a PEM file, a Go raw string or a JSON string
// with \n escapes has one fingerprint.
func keyFingerprint(secret string) string {
	s := armour.ReplaceAllString(secret, "")
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; b64Table[c] && c != '-' && c != '_' {
			b = append(b, c)
		}
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// hexValue reports whether a secret is a run of hex digits long enough to
// be key material (a test vector's private key or shared secret).
func hexValue(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) < 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
