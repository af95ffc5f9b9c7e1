package corpus

import (
	"encoding/base64"
	"strings"
)

// NearMisses returns lines that look like credentials but are not:
// documented examples, placeholders, template references, hashes, UUIDs,
// look-alike tokens with bad checksums and code that only handles secrets.
// A scanner must report none of them.
func NearMisses(seed uint64) []string {
	g := NewGen(seed)
	body := g.S(36, alnum)
	kwBody := g.S(49, alnum)
	lines := []string{
		"aws_access_key_id = " + j("AKIA", "IOSFODNN7", "EXAMPLE"),
		"aws_secret_access_key = " + j("wJalrXUtnFEMI/K7MDENG/", "bPxRfiCY", "EXAMPLEKEY"),
		"password = \"changeme\"",
		"password: ${DB_PASSWORD}",
		"password = \"<your-password>\"",
		"DB_PASSWORD={{ .Values.db.password }}",
		"token = \"xxxxxxxxxxxxxxxxxxxxxxxx\"",
		"api_key = os.Getenv(\"API_KEY\")",
		"secret := cfg.Secret",
		"password = getPassword()",
		"let token = await getToken();",
		"token = tokens[i]",
		"const apiKey = process.env.API_KEY;",
		"Authorization: Bearer ${TOKEN}",
		"Authorization: Bearer <token>",
		"password = \"test1234\"",
		"password: password123",
		"secret: \"**********\"",
		"password=%(password)s",
		"private_key = open('key.pem').read()",
		"TOKEN_URL = \"https://oauth2.googleapis.com/token\"",
		"password_hash = \"$2b$12$" + g.S(53, alnum+"./") + "\"",
		"commit: " + g.S(40, hexL),
		"checksum = \"" + g.S(64, hexL) + "\"",
		"sha1 = '" + g.S(40, hexL) + "'",
		"\"request_id\": \"" + g.uuid() + "\",",
		"trace_id = " + g.uuid(),
		"id: " + g.uuid(),
		"\"integrity\": \"sha512-" + base64.StdEncoding.EncodeToString(g.bytes(64)) + "\",",
		"golang.org/x/crypto v0.31.0 h1:" + base64.StdEncoding.EncodeToString(g.bytes(32)),
		"api_key: 0123456789abcdef0123456789abcdef",
		"slack_webhook = " + j("https://hooks.", "slack.com/services/", "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
		"gh_token = " + j("gh", "p_") + body, // bad checksum
		"npm_token = " + j("np", "m_") + g.S(36, alnum),
		"keyward = " + j("kw", "s_") + kwBody,
		"stripe = " + j("sk", "_live_") + strings.Repeat("x", 24),
		"DATABASE_URL=postgres://postgres:postgres@localhost:5432/app",
		"DATABASE_URL=postgres://user:${DB_PASS}@db:5432/app",
		"DATABASE_URL=mysql://root:changeme@127.0.0.1/test",
		"url = https://user:" + "pass" + "@example.com",
		"redis_url = redis://localhost:6379/0",
		"secret_key_base = Rails.application.credentials.secret_key_base",
		"\"api_key\": \"YOUR_API_KEY\",",
		"-----BEGIN " + "RSA PRIVATE KEY-----\n...\n-----END " + "RSA PRIVATE KEY-----",
		"-----BEGIN PUBLIC KEY-----\n" + g.pemBody(270) + "\n-----END PUBLIC KEY-----",
		"ssh-ed25519 " + base64.StdEncoding.EncodeToString(g.bytes(51)) + " dev@laptop",
		"data = \"" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("lorem ipsum dolor sit amet ", 4))) + "\"",
		"function n(e){var t=e.token||\"\";return t.length>0?t:null}",
		"if password == \"\" { return errEmpty }",
		"passwordField.placeholder = \"Enter your password\"",
		"token_type = \"bearer\"",
		"max_token_length = 4096",
		"secret_name = \"prod/db/credentials\"",
		"AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY",
		"export GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }}",
		"client_id = \"" + g.S(20, digits) + ".apps.googleusercontent.com\"",
		"color: #a1b2c3; background: url(data:image/png;base64,iVBORw0KGgo=)",
		"version = \"" + g.S(7, hexL) + "\"",
		"key_id = \"" + g.S(20, upper+digits) + "\"",
		"password = \"\"",
		"password: null",
		"token: ~",
		"eyJhbGciOiJIUzI1NiJ9.notajwt.sig",
		"passport_number = \"" + g.S(9, digits) + "\"",
		"bypass_token_check = true",
	}
	return lines
}
