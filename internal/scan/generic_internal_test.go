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
	} {
		if got := identOK(tc.ident, tc.password); got != tc.want {
			t.Errorf("identOK(%q, password=%v) = %v, want %v", tc.ident, tc.password, got, tc.want)
		}
	}
}
