package scan

import (
	"path"
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
	b := strings.ToLower(baseName(p))
	if configNames[b] || strings.HasPrefix(b, ".env.") || strings.HasPrefix(b, "docker-compose") || strings.HasPrefix(b, "dockerfile.") {
		return true
	}
	return configExts[path.Ext(b)]
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
