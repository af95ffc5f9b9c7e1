// Package corpus generates deterministic test inputs for the scanner: a
// fake credential of every built-in kind, near-misses that must not be
// reported, file trees, git histories, container images and nested
// archives. Fake values are assembled at run time from pieces so this
// source holds no literal credential. It never touches anything outside the
// directories it is given.
package corpus

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/keyward/keyward/internal/scan"
)

// Alphabets for random values.
const (
	upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lowerA = "abcdefghijklmnopqrstuvwxyz"
	digits = "0123456789"
	alnum  = digits + upper + lowerA
	hexL   = "0123456789abcdef"
	b32    = upper + "234567"
	b64    = upper + lowerA + digits + "+/"
	urlA   = upper + lowerA + digits + "_-"
	bech   = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
)

// Gen draws deterministic random values.
type Gen struct{ r *rand.Rand }

// NewGen returns a generator for seed.
func NewGen(seed uint64) *Gen { return &Gen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

// S returns n random characters from alphabet.
func (g *Gen) S(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return string(b)
}

// Intn returns a random int in [0, n).
func (g *Gen) Intn(n int) int { return g.r.IntN(n) }

func (g *Gen) uuid() string {
	return g.S(8, hexL) + "-" + g.S(4, hexL) + "-4" + g.S(3, hexL) + "-a" + g.S(3, hexL) + "-" + g.S(12, hexL)
}

func (g *Gen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.IntN(256))
	}
	return b
}

func (g *Gen) pemBody(n int) string {
	s := base64.StdEncoding.EncodeToString(g.bytes(n))
	var lines []string
	for len(s) > 64 {
		lines = append(lines, s[:64])
		s = s[64:]
	}
	return strings.Join(append(lines, s), "\n")
}

// aws40 returns a value shaped like an AWS secret access key: 40
// characters of the base64 alphabet in groups of three and a digit, so no
// fixture word appears in it by chance, with every class present.
func (g *Gen) aws40() string {
	for {
		var b strings.Builder
		for range 10 {
			b.WriteString(g.S(3, b64) + g.S(1, digits))
		}
		s := b.String()
		if strings.ContainsAny(s, upper) && strings.ContainsAny(s, lowerA) && strings.Count(s, "/")+strings.Count(s, "+") <= 4 {
			return s
		}
	}
}

func (g *Gen) ghToken(prefix string) string {
	body := g.S(30, alnum)
	return prefix + body + scan.GitHubChecksum(body)
}

// Sample is one planted credential: the text to put in a file (possibly
// several lines) and the secret the scanner must report.
type Sample struct {
	Rule   string
	Text   string
	Secret string
}

// joins builds prefixes from parts so no literal token prefix followed by
// a body appears in this file.
func j(parts ...string) string { return strings.Join(parts, "") }

func assignLine(name, v string) string { return name + " = \"" + v + "\"" }

// Samples returns one sample for every built-in rule, generated from seed.
func Samples(seed uint64) []Sample {
	g := NewGen(seed)
	var out []Sample
	add := func(rule, text, secret string) { out = append(out, Sample{Rule: rule, Text: text, Secret: secret}) }
	tokv := func(rule, name, v string) { add(rule, assignLine(name, v), v) }

	v := j("AK", "IA") + g.S(16, b32)
	tokv("aws-access-key-id", "aws_access_key_id", v)
	v = g.S(40, b64)
	tokv("aws-secret-access-key", "aws_secret_access_key", v)
	v = g.S(300, b64)
	tokv("aws-session-token", "aws_session_token", v)
	tokv("aws-mws-key", "mws_auth", j("amzn", ".mws.")+g.uuid())
	key := "-----BEGIN " + "PRIVATE KEY-----\\n" + strings.ReplaceAll(g.pemBody(600), "\n", "\\n") + "\\n-----END " + "PRIVATE KEY-----\\n"
	add("gcp-service-account", fmt.Sprintf("{\n  \"type\": \"service_account\",\n  \"project_id\": \"demo-%s\",\n  \"private_key_id\": \"%s\",\n  \"private_key\": \"%s\",\n  \"client_email\": \"svc@demo.iam.gserviceaccount.com\"\n}", g.S(6, lowerA), g.S(40, hexL), key), key)
	tokv("gcp-api-key", "maps_key", j("AI", "za")+g.S(35, urlA))
	tokv("gcp-oauth-client-secret", "client_secret_google", j("GOC", "SPX-")+g.S(28, urlA))
	tokv("google-oauth-access-token", "access", j("ya", "29.")+g.S(60, urlA))
	tokv("google-oauth-refresh-token", "refresh", j("1/", "/0")+g.S(60, urlA))
	tokv("firebase-fcm-server-key", "fcm", j("AAAA", g.S(7, urlA), ":APA", "91b", g.S(134, urlA)))
	v = g.S(86, b64) + "=="
	add("azure-storage-account-key", "conn = \"DefaultEndpointsProtocol=https;AccountName=acct"+g.S(4, lowerA)+";"+j("Account", "Key=")+v+";EndpointSuffix=core.windows.net\"", v)
	v = g.S(43, alnum) + "%3D"
	add("azure-sas-token", "blob_url = \"https://acct.blob.core.windows.net/c/f?sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01&"+j("si", "g=")+v+"\"", v)
	tokv("azure-ad-client-secret", "azure_client", g.S(3, alnum)+"8"+j("Q", "~")+g.S(34, alnum))
	v = g.S(43, b64) + "="
	add("azure-service-bus-key", "sb = \"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;"+j("SharedAccess", "Key=")+v+"\"", v)
	tokv("azure-devops-pat", "AZURE_DEVOPS_PAT", g.S(52, "abcdefghijklmnopqrstuvwxyz234567"))
	tokv("alibaba-access-key-id", "ali_id", j("LT", "AI")+g.S(20, alnum))
	tokv("alibaba-secret-key", "alibaba_secret", g.S(30, alnum))
	tokv("tencent-secret-id", "tc_id", j("AK", "ID")+g.S(32, alnum))
	tokv("digitalocean-pat", "do_tok", j("dop", "_v1_")+g.S(64, hexL))
	tokv("digitalocean-oauth-token", "do_oauth", j("doo", "_v1_")+g.S(64, hexL))
	tokv("digitalocean-refresh-token", "do_refresh", j("dor", "_v1_")+g.S(64, hexL))
	tokv("heroku-api-key", "HEROKU_API_KEY", g.uuid())
	tokv("heroku-api-key-v2", "heroku2", j("HR", "KU-")+g.S(60, urlA))
	tokv("ibm-cloud-api-key", "ibm_api_key", g.S(44, urlA))
	tokv("cloudflare-api-token", "CLOUDFLARE_API_TOKEN", g.S(40, urlA))
	tokv("cloudflare-origin-ca-key", "origin_ca", j("v1", ".0-")+g.S(24, hexL)+"-"+g.S(146, hexL))
	tokv("linode-token", "LINODE_TOKEN", g.S(64, hexL))
	tokv("vultr-api-key", "VULTR_API_KEY", g.S(36, upper+digits))
	tokv("scaleway-secret-key", "SCW_SECRET_KEY", g.uuid())
	tokv("oracle-cloud-key-fingerprint", "oci_private_key_passphrase", g.S(12, alnum)+"#"+g.S(8, alnum))
	tokv("hashicorp-vault-token", "vault", j("hv", "s.")+g.S(95, urlA))
	tokv("hashicorp-vault-batch-token", "vault_batch", j("hv", "b.")+g.S(150, urlA))
	tokv("terraform-cloud-token", "tfe", g.S(14, alnum)+j(".atlas", "v1.")+g.S(67, urlA))
	tokv("pulumi-access-token", "pulumi", j("pu", "l-")+g.S(40, hexL))
	tokv("doppler-token", "doppler", j("dp", ".pt.")+g.S(43, alnum))
	tokv("flyio-token", "fly", j("fo", "1_")+g.S(43, urlA))
	tokv("netlify-token", "NETLIFY_AUTH_TOKEN", g.S(43, urlA))
	tokv("vercel-token", "VERCEL_TOKEN", g.S(24, alnum))
	tokv("render-api-key", "render", j("rn", "d_")+g.S(32, alnum))
	tokv("supabase-token", "supabase", j("sb", "p_")+g.S(40, hexL))
	tokv("planetscale-token", "pscale", j("pscale", "_tkn_")+g.S(43, urlA))
	tokv("databricks-token", "dbx", j("da", "pi")+g.S(32, hexL))
	tokv("tailscale-key", "ts", j("tskey", "-auth-")+g.S(12, alnum)+"-"+g.S(30, alnum))
	tokv("ngrok-token", "NGROK_AUTHTOKEN", g.S(2, alnum)+g.S(41, alnum+"_"))

	tokv("github-pat", "gh", g.ghToken(j("gh", "p_")))
	tokv("github-oauth-token", "gh_oauth", g.ghToken(j("gh", "o_")))
	tokv("github-user-to-server-token", "gh_u2s", g.ghToken(j("gh", "u_")))
	tokv("github-app-token", "gh_app", g.ghToken(j("gh", "s_")))
	tokv("github-refresh-token", "gh_refresh", g.ghToken(j("gh", "r_")))
	tokv("github-fine-grained-pat", "gh_fg", j("github", "_pat_")+g.S(22, alnum)+"_"+g.S(59, alnum))
	tokv("gitlab-pat", "gl", j("glp", "at-")+g.S(20, urlA))
	tokv("gitlab-pipeline-trigger-token", "gl_trigger", j("glp", "tt-")+g.S(40, hexL))
	tokv("gitlab-runner-token", "gl_runner", j("gl", "rt-")+g.S(20, urlA))
	tokv("gitlab-runner-registration-token", "gl_reg", j("GR134", "8941")+g.S(20, urlA))
	tokv("gitlab-deploy-token", "gl_deploy", j("gl", "dt-")+g.S(20, urlA))
	tokv("gitlab-feed-token", "gl_feed", j("gl", "ft-")+g.S(20, urlA))
	tokv("gitlab-oauth-secret", "gl_oauth", j("glo", "as-")+g.S(64, hexL))
	tokv("gitlab-scim-token", "gl_scim", j("glso", "at-")+g.S(20, urlA))
	tokv("gitlab-cicd-job-token", "gl_job", j("glc", "bt-")+g.S(30, urlA))
	tokv("gitlab-incoming-mail-token", "gl_mail", j("gli", "mt-")+g.S(25, urlA))
	tokv("gitlab-agent-token", "gl_agent", j("glag", "ent-")+g.S(50, urlA))
	tokv("bitbucket-client-secret", "BITBUCKET_CLIENT_SECRET", g.S(64, urlA))
	tokv("atlassian-api-token", "atl", j("ATA", "TT3")+g.S(186, urlA))
	tokv("atlassian-legacy-token", "JIRA_API_TOKEN", g.S(24, alnum))
	tokv("circleci-token", "CIRCLECI_TOKEN", g.S(40, hexL))
	tokv("travis-token", "TRAVIS_TOKEN", g.S(22, urlA))
	tokv("buildkite-token", "bk", j("bk", "ua_")+g.S(40, hexL))
	tokv("sonarqube-token", "sonar", j("sq", "p_")+g.S(40, hexL))
	tokv("snyk-token", "SNYK_TOKEN", g.uuid())
	tokv("codecov-token", "CODECOV_TOKEN", g.uuid())
	tokv("postman-api-key", "postman", j("PM", "AK-")+g.S(24, hexL)+"-"+g.S(34, hexL))
	tokv("readme-api-key", "readme", j("rd", "me_")+g.S(70, hexL+"ghijklmnopqrstuvwxyz"))

	tokv("slack-bot-token", "slack", j("xo", "xb-")+g.S(12, digits)+"-"+g.S(12, digits)+"-"+g.S(24, alnum))
	tokv("slack-user-token", "slack_user", j("xo", "xp-")+g.S(12, digits)+"-"+g.S(12, digits)+"-"+g.S(12, digits)+"-"+g.S(32, alnum))
	tokv("slack-app-token", "slack_app", j("xa", "pp-1-")+g.S(11, upper+digits)+"-"+g.S(13, digits)+"-"+g.S(64, hexL))
	tokv("slack-config-token", "slack_cfg", j("xoxe", ".xoxp-1-")+g.S(150, alnum))
	tokv("slack-legacy-token", "slack_legacy", j("xo", "xs-")+g.S(10, digits)+"-"+g.S(10, digits)+"-"+g.S(40, alnum))
	tokv("slack-webhook-url", "hook", j("https://hooks.", "slack.com/services/T")+g.S(10, upper+digits)+"/B"+g.S(10, upper+digits)+"/"+g.S(24, alnum))
	tokv("discord-webhook-url", "dhook", j("https://discord", ".com/api/webhooks/")+g.S(18, digits)+"/"+g.S(68, urlA))
	tokv("discord-bot-token", "DISCORD_BOT_TOKEN", "M"+g.S(23, alnum)+"."+g.S(6, urlA)+"."+g.S(38, urlA))
	tokv("telegram-bot-token", "tg", g.S(9, digits)+j(":A", "A")+g.S(33, urlA))
	tokv("microsoft-teams-webhook", "teams", "https://acme.webhook"+j(".office", ".com/webhookb2/")+g.uuid()+"@"+g.uuid()+"/IncomingWebhook/"+g.S(32, hexL)+"/"+g.uuid())
	tokv("twilio-api-key", "TWILIO_API_KEY", j("S", "K")+g.S(32, hexL))
	tokv("twilio-auth-token", "TWILIO_AUTH_TOKEN", g.S(32, hexL))
	tokv("sendgrid-api-key", "sendgrid", j("S", "G.")+g.S(22, urlA)+"."+g.S(43, urlA))
	tokv("mailgun-api-key", "mailgun", j("ke", "y-")+g.S(32, hexL))
	tokv("mailchimp-api-key", "mailchimp", g.S(32, hexL)+j("-u", "s6"))
	tokv("mandrill-api-key", "MANDRILL_API_KEY", g.S(22, urlA))
	tokv("postmark-token", "POSTMARK_SERVER_TOKEN", g.uuid())
	tokv("brevo-api-key", "brevo", j("xkey", "sib-")+g.S(64, hexL)+"-"+g.S(16, alnum))
	tokv("mailjet-secret", "MAILJET_SECRET_KEY", g.S(32, hexL))
	tokv("intercom-token", "INTERCOM_ACCESS_TOKEN", g.S(60, alnum))
	tokv("zendesk-token", "ZENDESK_API_TOKEN", g.S(40, alnum))
	tokv("pagerduty-token", "PAGERDUTY_API_KEY", g.S(20, alnum))
	tokv("opsgenie-api-key", "OPSGENIE_API_KEY", g.uuid())

	tokv("stripe-secret-key", "stripe", j("sk", "_live_")+g.S(32, alnum))
	tokv("stripe-restricted-key", "stripe_rk", j("rk", "_live_")+g.S(32, alnum))
	tokv("stripe-webhook-secret", "stripe_wh", j("wh", "sec_")+g.S(32, alnum))
	tokv("square-access-token", "square", j("EA", "AA")+g.S(60, urlA))
	tokv("square-oauth-secret", "square_oauth", j("sq0", "csp-")+g.S(43, urlA))
	tokv("braintree-access-token", "braintree", j("access", "_token$production$")+g.S(16, digits+lowerA)+"$"+g.S(32, hexL))
	tokv("flutterwave-secret-key", "flw", j("FLW", "SECK-")+g.S(32, hexL)+"-X")
	tokv("razorpay-key", "rzp", j("rzp", "_live_")+g.S(14, alnum))
	tokv("plaid-access-token", "plaid", j("access", "-production-")+g.uuid())
	tokv("shopify-access-token", "shopify", j("shp", "at_")+g.S(32, hexL))
	tokv("shopify-shared-secret", "shopify_ss", j("shp", "ss_")+g.S(32, hexL))
	tokv("shopify-custom-app-token", "shopify_ca", j("shp", "ca_")+g.S(32, hexL))
	tokv("shopify-private-app-token", "shopify_pa", j("shp", "pa_")+g.S(32, hexL))
	tokv("gocardless-token", "GOCARDLESS_ACCESS_TOKEN", j("li", "ve_")+g.S(40, urlA))
	tokv("shippo-token", "shippo", j("shippo", "_live_")+g.S(40, hexL))
	tokv("easypost-api-key", "easypost", j("EZ", "AK")+g.S(54, alnum))
	tokv("coinbase-secret", "COINBASE_API_SECRET", g.S(64, b64))

	tokv("npm-token", "npm", g.ghToken(j("np", "m_")))
	tokv("pypi-token", "pypi", j("pypi-AgEIc", "HlwaS5vcmc")+g.S(80, urlA))
	tokv("testpypi-token", "testpypi", j("pypi-AgENdGVzd", "C5weXBpLm9yZw")+g.S(80, urlA))
	tokv("dockerhub-pat", "dockerhub", j("dckr", "_pat_")+g.S(27, urlA))
	v = base64.StdEncoding.EncodeToString([]byte("deploy:" + g.S(20, alnum)))
	add("docker-config-auth", "{\n  \"auths\": {\n    \"registry.example.io\": {\n      \"auth\": \""+v+"\"\n    }\n  }\n}", v)
	tokv("rubygems-api-key", "gem", j("rubygems", "_")+g.S(48, hexL))
	tokv("nuget-api-key", "nuget", j("oy", "2")+g.S(43, digits+lowerA))
	tokv("clojars-token", "clojars", j("CLOJ", "ARS_")+g.S(60, digits+lowerA))
	tokv("artifactory-api-key", "artifactory", j("AK", "Cp")+g.S(69, alnum))
	tokv("artifactory-reference-token", "jfrog", j("cmVm", "dGtu")+g.S(56, alnum))
	tokv("packagecloud-token", "PACKAGECLOUD_TOKEN", g.S(48, hexL))
	tokv("huggingface-token", "hf", j("h", "f_")+g.S(34, upper+lowerA))
	tokv("prefect-api-key", "prefect", j("pn", "u_")+g.S(36, alnum))

	tokv("datadog-api-key", "DATADOG_API_KEY", g.S(32, hexL))
	tokv("datadog-app-key", "DD_APP_KEY", g.S(40, hexL))
	tokv("newrelic-user-api-key", "newrelic", j("NR", "AK-")+g.S(27, upper+digits))
	tokv("newrelic-browser-key", "nr_browser", j("NR", "JS-")+g.S(19, hexL))
	tokv("newrelic-insert-key", "nr_insert", j("NR", "II-")+g.S(32, urlA))
	tokv("grafana-cloud-token", "grafana_cloud", j("gl", "c_")+g.S(80, alnum)+"==")
	tokv("grafana-service-account-token", "grafana_sa", j("gl", "sa_")+g.S(32, alnum)+"_"+g.S(8, hexL))
	tokv("grafana-api-key", "grafana_key", j("eyJr", "Ijoi")+g.S(80, alnum)+"=")
	tokv("dynatrace-token", "dynatrace", j("dt0", "c01.")+g.S(24, upper+digits)+"."+g.S(64, upper+digits))
	tokv("sentry-org-token", "sentry", j("sntr", "ys_eyJ")+g.S(80, alnum))
	tokv("sentry-user-token", "sentry_user", j("sntr", "yu_")+g.S(64, hexL))
	tokv("sumologic-access-key", "SUMO_ACCESS_KEY", g.S(64, alnum))
	tokv("rollbar-token", "ROLLBAR_ACCESS_TOKEN", g.S(32, hexL))
	tokv("bugsnag-api-key", "BUGSNAG_API_KEY", g.S(32, hexL))
	tokv("launchdarkly-key", "LAUNCHDARKLY_SDK_KEY", "sdk-"+g.uuid())
	tokv("honeycomb-api-key", "HONEYCOMB_API_KEY", g.S(32, hexL))

	tokv("openai-api-key", "openai", j("sk", "-proj-")+g.S(120, urlA))
	tokv("anthropic-api-key", "anthropic", j("sk-", "ant-api03-")+g.S(93, urlA)+"AA")
	tokv("groq-api-key", "groq", j("gs", "k_")+g.S(52, alnum))
	tokv("perplexity-api-key", "pplx", j("pp", "lx-")+g.S(48, alnum))
	tokv("xai-api-key", "xai", j("xa", "i-")+g.S(80, alnum))
	tokv("replicate-api-token", "replicate", j("r", "8_")+g.S(37, alnum))
	tokv("cohere-api-key", "COHERE_API_KEY", g.S(40, alnum))
	tokv("mistral-api-key", "MISTRAL_API_KEY", g.S(32, alnum))
	tokv("deepseek-api-key", "DEEPSEEK_API_KEY", j("s", "k-")+g.S(32, hexL))
	tokv("contentful-pat", "contentful", j("CF", "PAT-")+g.S(43, urlA))
	tokv("hubspot-pat", "hubspot", j("pat", "-na1-")+g.uuid())
	tokv("linear-api-key", "linear", j("lin", "_api_")+g.S(40, alnum))
	tokv("notion-token", "notion", j("nt", "n_")+g.S(11, digits)+g.S(35, alnum))
	tokv("airtable-pat", "airtable", j("pa", "t")+g.S(14, alnum)+"."+g.S(64, hexL))
	tokv("figma-pat", "figma", j("fi", "gd_")+g.S(40, urlA))
	tokv("typeform-token", "typeform", j("tf", "p_")+g.S(59, alnum))
	tokv("mapbox-secret-token", "mapbox", j("sk", ".eyJ")+g.S(60, urlA)+"."+g.S(22, urlA))
	tokv("dropbox-token", "dropbox", j("s", "l.")+g.S(140, urlA))
	tokv("frameio-token", "frameio", j("fio", "-u-")+g.S(64, urlA))
	tokv("adobe-client-secret", "adobe", j("p8", "e-")+g.S(32, alnum))
	tokv("twitter-bearer-token", "twitter", strings.Repeat("A", 22)+g.S(90, alnum))
	tokv("facebook-access-token", "fb", j("EAACEd", "Eose0cBA")+g.S(40, alnum))
	tokv("facebook-app-secret", "FACEBOOK_APP_SECRET", g.S(32, hexL))
	tokv("linkedin-client-secret", "LINKEDIN_CLIENT_SECRET", g.S(16, alnum))
	tokv("algolia-admin-key", "ALGOLIA_ADMIN_KEY", g.S(32, hexL))
	tokv("okta-api-token", "OKTA_API_TOKEN", "00"+g.S(40, urlA))
	tokv("auth0-client-secret", "AUTH0_CLIENT_SECRET", g.S(64, urlA))
	tokv("asana-pat", "ASANA_ACCESS_TOKEN", "1/"+g.S(16, digits)+":"+g.S(32, hexL))
	tokv("confluent-api-secret", "CONFLUENT_API_SECRET", g.S(64, b64[:62]))
	tokv("snowflake-password", "SNOWFLAKE_PASSWORD", g.S(10, alnum)+"!"+g.S(6, alnum))
	tokv("yandex-api-key", "yandex", j("AQ", "VN")+g.S(36, urlA))
	tokv("age-secret-key", "age", j("AGE-SECRET", "-KEY-1")+strings.ToUpper(g.S(58, bech)))
	tokv("onepassword-secret-key", "op", j("A", "3-")+g.S(6, upper+digits)+"-"+g.S(11, upper+digits)+"-"+g.S(5, upper+digits)+"-"+g.S(5, upper+digits)+"-"+g.S(5, upper+digits))

	pem := func(kind string) string {
		return "-----BEGIN " + kind + "PRIVATE KEY-----\n" + g.pemBody(900) + "\n-----END " + kind + "PRIVATE KEY-----"
	}
	v = pem("RSA ")
	add("private-key", v, v)
	v = "-----BEGIN OPENSSH " + "PRIVATE KEY-----\n" + g.pemBody(300) + "\n-----END OPENSSH " + "PRIVATE KEY-----"
	add("openssh-private-key", v, v)
	v = "-----BEGIN PGP " + "PRIVATE KEY BLOCK-----\n\n" + g.pemBody(500) + "\n=" + g.S(4, b64) + "\n-----END PGP " + "PRIVATE KEY BLOCK-----"
	add("pgp-private-key", v, v)
	v = "---- BEGIN SSH2 ENCRYPTED " + "PRIVATE KEY ----\nComment: \"rsa-key\"\n" + g.pemBody(400) + "\n---- END SSH2 ENCRYPTED " + "PRIVATE KEY ----"
	add("ssh2-private-key", v, v)
	priv := g.pemBody(96)
	v = "PuTTY-User-Key-File-" + "3: ssh-ed25519\nEncryption: none\nComment: k\nPublic-Lines: 2\n" + g.pemBody(51) + "\nPrivate-Lines: 2\n" + priv + "\n"
	add("putty-private-key", v+"Private-MAC: "+g.S(64, hexL), v)
	enc := base64.RawURLEncoding.EncodeToString
	hdr, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT"})
	pl, _ := json.Marshal(map[string]any{"sub": g.S(10, alnum), "iat": 1700000000 + g.Intn(1000000)})
	v = enc(hdr) + "." + enc(pl) + "." + g.S(43, urlA)
	tokv("jwt", "session", v)
	pw := g.S(6, alnum) + "#" + g.S(4, alnum) + "!" + g.S(3, alnum) + "%" + g.S(2, alnum)
	add("database-url-password", "DATABASE_URL=postgres://app_user:"+pw+"@db.internal.corp:5432/orders?sslmode=require", pw)
	pw = g.S(8, alnum) + "$" + g.S(6, alnum)
	add("jdbc-password", "jdbc.url=jdbc:sqlserver://sql.corp:1433;databaseName=app;user=svc;password="+pw, pw)
	pw = g.S(12, alnum) + "~" + g.S(4, alnum)
	add("url-credentials", "remote = https://deploy:"+pw+"@git.corp.example.net/repo.git", pw)
	pw = g.S(14, alnum) + "!" + g.S(4, alnum)
	add("netrc-password", "machine api.corp.net\n  login deploy\n  password "+pw+"\n", pw)
	v = enc(hdr) + "." + enc(pl) + "." + g.S(300, urlA)
	add("kubeconfig-token", "users:\n- name: ci\n  user:\n    token: "+v+"\n", v)
	v = base64.StdEncoding.EncodeToString(g.bytes(200))
	add("kubeconfig-client-key", "users:\n- name: admin\n  user:\n    client-key-data: "+v+"\n", v)
	v = base64.StdEncoding.EncodeToString([]byte("admin:" + g.S(12, alnum) + "!" + g.S(4, alnum)))
	add("http-basic-auth", "curl -H \"Authorization: Basic "+v+"\" https://api.corp.net/v1", v)
	v = g.S(48, urlA)
	add("http-bearer-token", "headers = {\"Authorization\": \"Bearer "+v+"\"}", v)
	body := g.S(43, alnum)
	v = j("kw", "s_") + body + scan.GitHubChecksum(j("kw", "s_")+body)
	tokv("keyward-token", "KEYWARD_TOKEN", v)
	pw = g.S(5, alnum) + "&" + g.S(3, alnum) + "!x#" + g.S(4, alnum) + "@%" + g.S(2, alnum)
	add("generic-password", "db_password = \""+pw+"\"", pw)
	v = g.S(20, alnum) + "+" + g.S(10, alnum)
	add("generic-secret", "signing_secret: '"+v+"'", v)
	// last, so adding it kept every earlier sample's value
	tokv("aws-secret-access-key-unlabelled", "app.secret.key", g.aws40())
	return out
}

// AzuriteConnectionString is a connection string for the Azure storage
// emulator's documented account: its key is published, so a scanner should
// take it for test material wherever it appears.
func AzuriteConnectionString() string {
	return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" + j("Account", "Key=") +
		j("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6", "IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==") +
		";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
}
