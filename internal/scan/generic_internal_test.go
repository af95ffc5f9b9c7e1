package scan

import "testing"

// TestIdentNames pins the word-boundary rule for key names: a password or
// secret word written in any style qualifies; a word that merely contains
// a keyword, or a name about the secret, does not.
func TestIdentNames(t *testing.T) {
	for _, tc := range []struct {
		ident    string
		password bool
		want     bool
	}{
		{"password", true, true}, {"DB_PASSWORD", true, true}, {"dbPassword", true, true}, {"db-password", true, true},
		{"DBPassword", true, true}, {"db.password", true, true}, {"passwd", true, true}, {"pwd", true, true},
		{"MYSQL_ROOT_PWD", true, true}, {"pass", true, true}, {"adminPass", true, true}, {"rootpass", true, true},
		{"passphrase", true, true}, {"--db-password", true, true}, {"keyStorePassword", true, true}, {"passwords", true, true},
		{"bypass", true, false}, {"compass", true, false}, {"passport", true, false}, {"passthrough", true, false},
		{"passThrough", true, false}, {"PASS_THROUGH", true, false}, {"surpass_limit", true, false}, {"passenger_count", true, false},
		{"password_policy", true, false}, {"passwordHint", true, false}, {"PASSWORDHINT", true, false}, {"password_file", true, false},
		{"passwordless", true, false}, {"PasswordChar", true, false},
		{"secret", false, true}, {"secretKey", false, true}, {"apiKey", false, true}, {"auth_token", false, true},
		{"credentials", false, true}, {"client_secret", false, true}, {"secret.key", false, true}, {"SECRET_KEY_BASE", false, true},
		{"token_type", false, false}, {"secretName", false, false}, {"tokenizer", false, false}, {"secretary", false, false},
		{"api_key_id", false, false}, {"accessKeyId", false, false},
		{"LABEL_PASSWORD", true, false}, {"FORGOT_PASSWORD", true, false}, {"SHOW_PWD_TOOLTIP", true, false},
		{"LABEL_TWO_FACTOR_AUTH_TOKEN", false, false}, {"privateKeyAuthMagic", false, false},
	} {
		if got := identOK(tc.ident, tc.password); got != tc.want {
			t.Errorf("identOK(%q, password=%v) = %v, want %v", tc.ident, tc.password, got, tc.want)
		}
	}
}

// TestPathMaterial pins which paths are test material, and why.
func TestPathMaterial(t *testing.T) {
	for p, want := range map[string]string{
		"crypto/hpke/testdata/hpke-pq.json":     reasonVectorFile,
		"third_party/wycheproof/ecdh_test.json": reasonVectorFile,
		"vectors/x25519.json":                   reasonVectorFile,
		"nist/cavp/SHA256ShortMsg.rsp":          reasonVectorFile,
		"crypto/mlkem/kat_768.txt":              reasonVectorFile,
		"crypto/tls/testdata/example-key.pem":   reasonFixture,
		"spec/fixtures/users.yml":               reasonFixture,
		"app.zip!pkg/testdata/key.pem":          reasonFixture,
		"crypto/tls/handshake_test.go":          reasonTestFile,
		"tests/test_login.py":                   reasonTestFile,
		"pkg/conftest.py":                       reasonTestFile,
		"web/login.spec.ts":                     reasonTestFile,
		"src/test/java/AppTest.java":            reasonTestFile,
		"Api.Tests/LoginTests.cs":               reasonTestFile,
		"spec/models/user_spec.rb":              reasonTestFile,
		"crypto/hpke/hpke.go":                   "",
		"src/testing/testing.go":                "",
		"vectors.go":                            "",
		"config/prod.env":                       "",
		"src/contest.py":                        "",
		"docs/latest/setup.md":                  "",
	} {
		if got := pathMaterial(p); got != want {
			t.Errorf("pathMaterial(%q) = %q, want %q", p, got, want)
		}
	}
	for p, want := range map[string]bool{
		"app.properties": true, "deploy/.env": true, ".env.production": true, "Dockerfile": true, "docker-compose.yml": true,
		"x.zip!conf/app.yaml": true, "home/.aws/credentials": true, "main.go": false, "README.md": false, "build.gradle": false,
		"frontend/src/assets/i18n/fr_FR.json": false, "config/locales/de.yml": false,
	} {
		if got := configFile(p); got != want {
			t.Errorf("configFile(%q) = %v, want %v", p, got, want)
		}
	}
}
