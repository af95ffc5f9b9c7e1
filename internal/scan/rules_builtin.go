package scan

import "github.com/keyward/keyward/internal/tokenfmt"

// The building blocks of context rules: a vendor name, then (within the same
// identifier) an assignment, then the value.
const (
	assign = `[\w.\-]{0,40}?[ \t'"\x60\]]{0,3}(?:=|:=|:|=>|\|\|=|,|\()[ \t'"\x60]{0,5}`
	uuid   = `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`
	tail   = `(?:[^0-9A-Za-z_\-]|$)`
)

// floatingRules are token rules whose match does not start at a keyword
// (the keyword sits inside the credential or after a prefix), so they
// search a window around each keyword occurrence. Every other built-in
// rule is anchored: tried once, at the keyword.
var floatingRules = map[string]bool{
	"gcp-service-account": true, "azure-sas-token": true, "azure-ad-client-secret": true,
	"terraform-cloud-token": true, "mailchimp-api-key": true, "telegram-bot-token": true,
	"firebase-fcm-server-key": true, "openai-api-key": true, "private-key": true,
	"openssh-private-key": true, "pgp-private-key": true, "ssh2-private-key": true,
	"database-url-password": true, "jdbc-password": true,
	"slack-webhook-url": true, "discord-webhook-url": true, "microsoft-teams-webhook": true,
	"aws-session-token": true, "square-access-token": true,
}

// structuralRules are token rules that recognise a credential by its
// structure or its label (a key block, a URL, a header, AccountKey=)
// rather than by a vendor's prefix: test material can lower them.
var structuralRules = map[string]bool{
	"private-key": true, "openssh-private-key": true, "pgp-private-key": true, "ssh2-private-key": true,
	"putty-private-key": true, "gcp-service-account": true, "jwt": true, "database-url-password": true,
	"jdbc-password": true, "url-credentials": true, "netrc-password": true, "kubeconfig-token": true,
	"kubeconfig-client-key": true, "http-basic-auth": true, "http-bearer-token": true, "docker-config-auth": true,
	"azure-storage-account-key": true, "azure-sas-token": true, "azure-service-bus-key": true,
}

// mediumRules match shapes that are as often examples as credentials.
var mediumRules = map[string]bool{
	"jwt": true, "url-credentials": true, "http-basic-auth": true, "http-bearer-token": true,
}

// passwordRules report a password, not a token: their values get the
// generic placeholder vocabulary (password, test, pass…).
var passwordRules = map[string]bool{
	"database-url-password": true, "jdbc-password": true, "url-credentials": true,
	"netrc-password": true, "snowflake-password": true, "oracle-cloud-key-fingerprint": true,
}

type ruleOpt func(*Rule)

func multiline(r *Rule) { r.Multiline = true }
func generic(r *Rule)   { r.Generic = true }
func noEntropy(r *Rule) { r.MinEntropy = 0 }
func minEntropy(h float64) ruleOpt {
	return func(r *Rule) { r.MinEntropy = h }
}
func validate(f func(string) bool) ruleOpt { return func(r *Rule) { r.validate = f } }

// tok builds a rule for a token with a distinctive prefix.
func tok(id, desc string, sev Severity, kws []string, pattern string, opts ...ruleOpt) *Rule {
	r := &Rule{ID: id, Description: desc, Severity: sev, Keywords: kws, src: pattern, MinEntropy: 2.5, anchored: !floatingRules[id], loosePlaceholders: passwordRules[id], prefixed: !structuralRules[id]}
	if mediumRules[id] {
		r.Confidence = ConfidenceMedium
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// ctx builds a rule for a value that is recognisable only by the vendor
// name assigned to it: VENDOR_API_KEY = "value".
func ctx(id, desc string, sev Severity, kws []string, name, secret string, opts ...ruleOpt) *Rule {
	p := `(?i)(?:` + name + `)` + assign + `(` + secret + `)` + tail
	r := &Rule{ID: id, Description: desc, Severity: sev, Keywords: kws, src: p, MinEntropy: 3.0, anchored: !floatingRules[id], loosePlaceholders: passwordRules[id]}
	for _, o := range opts {
		o(r)
	}
	return r
}

const (
	crit = SeverityCritical
	high = SeverityHigh
	med  = SeverityMedium
	low  = SeverityLow
)

// BuiltinRules returns a fresh copy of the built-in ruleset.
func BuiltinRules() []*Rule {
	rs := []*Rule{
		// Cloud providers.
		tok("aws-access-key-id", "AWS access key ID", crit, []string{"akia", "asia", "abia", "acca", "a3t"}, `\b((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16})\b`, minEntropy(3.0)),
		ctx("aws-secret-access-key", "AWS secret access key", crit, []string{"aws"}, `aws[\w.\-]{0,20}?(?:secret|sk|private)`, `[A-Za-z0-9/+]{40}`),
		{ID: "aws-secret-access-key-unlabelled", Description: "AWS-shaped secret key under a generic name, next to another credential or in a configuration file", Severity: high, Keywords: []string{"secret"}, Generic: true, Confidence: ConfidenceMedium, derivedFrom: "generic-secret"},
		ctx("aws-session-token", "AWS session token", high, []string{"session_token", "sessiontoken", "session-token"}, `aws[\w.\-]{0,10}?session[\w.\-]?token`, `[A-Za-z0-9/+=]{100,1000}`),
		tok("aws-mws-key", "Amazon MWS auth token", high, []string{"amzn.mws."}, `\b(amzn\.mws\.`+uuid+`)\b`),
		tok("gcp-service-account", "GCP service account private key (JSON)", crit, []string{"service_account"}, `(?s)"type"\s*:\s*"service_account".*?"private_key"\s*:\s*"(-----BEGIN (?:RSA )?PRIVATE KEY-----(?:\\n|[A-Za-z0-9+/=\s])+?-----END (?:RSA )?PRIVATE KEY-----(?:\\n)?)"`, multiline),
		tok("gcp-api-key", "Google Cloud API key", high, []string{"aiza"}, `\b(AIza[0-9A-Za-z_\-]{35})`+tail),
		tok("gcp-oauth-client-secret", "Google OAuth client secret", high, []string{"gocspx-"}, `\b(GOCSPX-[0-9A-Za-z_\-]{28})`+tail),
		tok("google-oauth-access-token", "Google OAuth access token", high, []string{"ya29."}, `\b(ya29\.[0-9A-Za-z_\-]{30,})`),
		tok("google-oauth-refresh-token", "Google OAuth refresh token", high, []string{"1//0"}, `(1//0[0-9A-Za-z_\-]{40,})`),
		tok("firebase-fcm-server-key", "Firebase Cloud Messaging server key", high, []string{":apa91b"}, `\b(AAAA[A-Za-z0-9_\-]{7}:APA91b[A-Za-z0-9_\-]{130,})`),
		tok("azure-storage-account-key", "Azure storage account key", crit, []string{"accountkey="}, `(?i)AccountKey=([A-Za-z0-9+/]{86}==)`),
		tok("azure-sas-token", "Azure shared access signature", high, []string{"sig="}, `[?&]sig=([A-Za-z0-9%+/]{43,}(?:%3D|=))`),
		tok("azure-ad-client-secret", "Azure AD client secret", high, []string{"q~"}, `(?:^|[^A-Za-z0-9_~.\-])([A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34})`+tail, minEntropy(3.5)),
		tok("azure-service-bus-key", "Azure Service Bus / Event Hubs shared access key", crit, []string{"sharedaccesskey="}, `(?i)SharedAccessKey=([A-Za-z0-9+/]{42,43}=)`),
		ctx("azure-devops-pat", "Azure DevOps personal access token", high, []string{"azure", "devops", "ado_"}, `azure|devops|ado`, `[a-z2-7]{52}`),
		tok("alibaba-access-key-id", "Alibaba Cloud AccessKey ID", high, []string{"ltai"}, `\b(LTAI[A-Za-z0-9]{20})\b`),
		ctx("alibaba-secret-key", "Alibaba Cloud AccessKey secret", crit, []string{"alibaba", "aliyun"}, `(?:alibaba|aliyun)[\w.\-]{0,20}?secret`, `[A-Za-z0-9]{30}`),
		tok("tencent-secret-id", "Tencent Cloud SecretId", high, []string{"akid"}, `\b(AKID[A-Za-z0-9]{32})\b`),
		tok("digitalocean-pat", "DigitalOcean personal access token", high, []string{"dop_v1_"}, `\b(dop_v1_[a-f0-9]{64})\b`),
		tok("digitalocean-oauth-token", "DigitalOcean OAuth token", high, []string{"doo_v1_"}, `\b(doo_v1_[a-f0-9]{64})\b`),
		tok("digitalocean-refresh-token", "DigitalOcean refresh token", high, []string{"dor_v1_"}, `\b(dor_v1_[a-f0-9]{64})\b`),
		ctx("heroku-api-key", "Heroku API key", high, []string{"heroku"}, `heroku`, uuid),
		tok("heroku-api-key-v2", "Heroku API key (HRKU format)", high, []string{"hrku-"}, `\b(HRKU-[A-Za-z0-9_\-]{60})`+tail),
		ctx("ibm-cloud-api-key", "IBM Cloud API key", high, []string{"ibm"}, `ibm[\w.\-]{0,20}?(?:api|key)`, `[A-Za-z0-9_\-]{44}`),
		ctx("cloudflare-api-token", "Cloudflare API token", high, []string{"cloudflare", "cf_api"}, `cloudflare|cf_api`, `[A-Za-z0-9_\-]{40}`),
		tok("cloudflare-origin-ca-key", "Cloudflare Origin CA key", high, []string{"v1.0-"}, `\b(v1\.0-[a-f0-9]{24}-[a-f0-9]{146})\b`),
		ctx("linode-token", "Linode API token", high, []string{"linode"}, `linode`, `[a-f0-9]{64}`),
		ctx("vultr-api-key", "Vultr API key", high, []string{"vultr"}, `vultr`, `[A-Z0-9]{36}`),
		ctx("scaleway-secret-key", "Scaleway secret key", high, []string{"scaleway", "scw_"}, `scaleway|scw`, uuid),
		ctx("oracle-cloud-key-fingerprint", "Oracle Cloud API signing key fingerprint with key", med, []string{"oci_", "oracle"}, `(?:oci|oracle)[\w.\-]{0,20}?(?:private|secret|pass)`, `[A-Za-z0-9!@#$%^&*+=_\-]{16,64}`),
		tok("hashicorp-vault-token", "HashiCorp Vault service token", crit, []string{"hvs."}, `\b(hvs\.[A-Za-z0-9_\-]{90,120})`+tail),
		tok("hashicorp-vault-batch-token", "HashiCorp Vault batch token", high, []string{"hvb."}, `\b(hvb\.[A-Za-z0-9_\-]{138,300})`+tail),
		tok("terraform-cloud-token", "Terraform Cloud / Enterprise API token", high, []string{"atlasv1"}, `\b([A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,70})`+tail),
		tok("pulumi-access-token", "Pulumi access token", high, []string{"pul-"}, `\b(pul-[a-f0-9]{40})\b`),
		tok("doppler-token", "Doppler service token", high, []string{"dp.pt.", "dp.st."}, `\b(dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44})\b`),
		tok("flyio-token", "Fly.io access token", high, []string{"fo1_"}, `\b(fo1_[A-Za-z0-9_\-]{43})`+tail),
		ctx("netlify-token", "Netlify access token", high, []string{"netlify"}, `netlify`, `[A-Za-z0-9_\-]{40,46}`),
		ctx("vercel-token", "Vercel access token", high, []string{"vercel"}, `vercel`, `[A-Za-z0-9]{24}`),
		tok("render-api-key", "Render API key", high, []string{"rnd_"}, `\b(rnd_[A-Za-z0-9]{32})\b`),
		tok("supabase-token", "Supabase access token", high, []string{"sbp_"}, `\b(sbp_[a-f0-9]{40})\b`),
		tok("planetscale-token", "PlanetScale token or password", high, []string{"pscale_"}, `\b(pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.\-]{32,64})`+tail),
		tok("databricks-token", "Databricks API token", high, []string{"dapi"}, `\b(dapi[a-f0-9]{32}(?:-\d)?)\b`),
		tok("tailscale-key", "Tailscale auth or API key", high, []string{"tskey-"}, `\b(tskey-(?:api|auth|client|webhook|scim)-[A-Za-z0-9]{10,}-[A-Za-z0-9]{20,})\b`),
		ctx("ngrok-token", "ngrok auth token", med, []string{"ngrok"}, `ngrok`, `[0-9A-Za-z]{2}[0-9A-Za-z_]{40,50}`),

		// Source hosting and CI.
		tok("github-pat", "GitHub personal access token (classic)", crit, []string{"ghp_"}, `\b(ghp_[A-Za-z0-9]{36})\b`, validate(validGitHubChecksum)),
		tok("github-oauth-token", "GitHub OAuth access token", crit, []string{"gho_"}, `\b(gho_[A-Za-z0-9]{36})\b`, validate(validGitHubChecksum)),
		tok("github-user-to-server-token", "GitHub App user-to-server token", crit, []string{"ghu_"}, `\b(ghu_[A-Za-z0-9]{36})\b`, validate(validGitHubChecksum)),
		tok("github-app-token", "GitHub App installation (server-to-server) token", crit, []string{"ghs_"}, `\b(ghs_[A-Za-z0-9]{36})\b`, validate(validGitHubChecksum)),
		tok("github-refresh-token", "GitHub App refresh token", crit, []string{"ghr_"}, `\b(ghr_[A-Za-z0-9]{36})\b`, validate(validGitHubChecksum)),
		tok("github-fine-grained-pat", "GitHub fine-grained personal access token", crit, []string{"github_pat_"}, `\b(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b`),
		tok("gitlab-pat", "GitLab personal access token", crit, []string{"glpat-"}, `\b(glpat-[A-Za-z0-9_\-]{20,60})`+tail),
		tok("gitlab-pipeline-trigger-token", "GitLab pipeline trigger token", high, []string{"glptt-"}, `\b(glptt-[a-f0-9]{40})\b`),
		tok("gitlab-runner-token", "GitLab runner authentication token", high, []string{"glrt-"}, `\b(glrt-[A-Za-z0-9_\-]{20,60})`+tail),
		tok("gitlab-runner-registration-token", "GitLab runner registration token", high, []string{"gr1348941"}, `\b(GR1348941[A-Za-z0-9_\-]{20})`+tail),
		tok("gitlab-deploy-token", "GitLab deploy token", high, []string{"gldt-"}, `\b(gldt-[A-Za-z0-9_\-]{20,60})`+tail),
		tok("gitlab-feed-token", "GitLab feed token", med, []string{"glft-"}, `\b(glft-[A-Za-z0-9_\-]{20,60})`+tail),
		tok("gitlab-oauth-secret", "GitLab OAuth application secret", high, []string{"gloas-"}, `\b(gloas-[a-f0-9]{64})\b`),
		tok("gitlab-scim-token", "GitLab SCIM token", high, []string{"glsoat-"}, `\b(glsoat-[A-Za-z0-9_\-]{20,60})`+tail),
		tok("gitlab-cicd-job-token", "GitLab CI/CD job token", med, []string{"glcbt-"}, `\b(glcbt-[A-Za-z0-9_\-]{20,80})`+tail),
		tok("gitlab-incoming-mail-token", "GitLab incoming mail token", med, []string{"glimt-"}, `\b(glimt-[A-Za-z0-9_\-]{25,60})`+tail),
		tok("gitlab-agent-token", "GitLab Kubernetes agent token", high, []string{"glagent-"}, `\b(glagent-[A-Za-z0-9_\-]{50,80})`+tail),
		ctx("bitbucket-client-secret", "Bitbucket client secret", high, []string{"bitbucket"}, `bitbucket[\w.\-]{0,20}?secret`, `[A-Za-z0-9=_\-]{64}`),
		tok("atlassian-api-token", "Atlassian API token", high, []string{"atatt3"}, `\b(ATATT3[A-Za-z0-9_\-=]{186})`+tail),
		ctx("atlassian-legacy-token", "Atlassian / Jira / Confluence API token (legacy)", high, []string{"atlassian", "confluence", "jira"}, `atlassian|confluence|jira`, `[A-Za-z0-9]{24}`),
		ctx("circleci-token", "CircleCI personal token", high, []string{"circleci", "circle_"}, `circle(?:ci)?[\w.\-]{0,20}?token`, `(?:CCIPAT_[A-Za-z0-9]{22}_)?[a-f0-9]{40}`),
		ctx("travis-token", "Travis CI token", med, []string{"travis"}, `travis`, `[A-Za-z0-9_\-]{22}`),
		tok("buildkite-token", "Buildkite agent or API token", high, []string{"bkua_", "bkat_"}, `\b(bk(?:ua|at)_[a-f0-9]{40})\b`),
		tok("sonarqube-token", "SonarQube / SonarCloud token", med, []string{"squ_", "sqp_", "sqa_"}, `\b(sq[upa]_[a-f0-9]{40})\b`),
		ctx("snyk-token", "Snyk API token", high, []string{"snyk"}, `snyk`, uuid),
		ctx("codecov-token", "Codecov upload token", med, []string{"codecov"}, `codecov`, uuid),
		tok("postman-api-key", "Postman API key", high, []string{"pmak-"}, `\b(PMAK-[a-f0-9]{24}-[a-f0-9]{34})\b`),
		tok("readme-api-key", "ReadMe API key", med, []string{"rdme_"}, `\b(rdme_[a-z0-9]{70})\b`),

		// Chat, mail and messaging.
		tok("slack-bot-token", "Slack bot token", high, []string{"xoxb-"}, `\b(xoxb-[0-9]{10,13}-[0-9]{10,13}-[A-Za-z0-9]{24,34})\b`),
		tok("slack-user-token", "Slack user token", high, []string{"xoxp-", "xoxe-"}, `\b(xox[pe]-[0-9]{10,13}-[0-9]{10,13}-[0-9]{10,13}-[A-Za-z0-9]{28,34})\b`),
		tok("slack-app-token", "Slack app-level token", high, []string{"xapp-"}, `\b(xapp-\d-[A-Z0-9]{9,12}-\d{10,13}-[a-z0-9]{64})\b`),
		tok("slack-config-token", "Slack configuration token", high, []string{"xoxe.xox"}, `\b(xoxe\.xox[bp]-\d-[A-Za-z0-9]{146,170})\b`),
		tok("slack-legacy-token", "Slack legacy or workspace token", high, []string{"xoxo-", "xoxs-", "xoxa-", "xoxr-"}, `\b(xox[osar]-(?:\d+-){1,3}[A-Za-z0-9]{24,64})\b`),
		tok("slack-webhook-url", "Slack incoming webhook URL", high, []string{"hooks.slack.com"}, `(https://hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{8,12}/[AB][A-Z0-9]{8,12}/[A-Za-z0-9]{23,25})`),
		tok("discord-webhook-url", "Discord webhook URL", high, []string{"discord"}, `(https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/[A-Za-z0-9_\-]{60,68})`),
		ctx("discord-bot-token", "Discord bot token", high, []string{"discord"}, `discord`, `[MNO][A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38}`),
		tok("telegram-bot-token", "Telegram bot token", high, []string{":aa"}, `\b(\d{8,10}:AA[A-Za-z0-9_\-]{33})`+tail),
		tok("microsoft-teams-webhook", "Microsoft Teams incoming webhook URL", high, []string{"webhook.office.com"}, `(https://[a-z0-9]+\.webhook\.office\.com/webhookb2/[a-z0-9\-]+@[a-z0-9\-]+/IncomingWebhook/[a-z0-9]{32}/[a-z0-9\-]{36})`),
		ctx("twilio-api-key", "Twilio API key", high, []string{"twilio"}, `twilio`, `SK[0-9a-fA-F]{32}`),
		ctx("twilio-auth-token", "Twilio auth token", high, []string{"twilio"}, `twilio[\w.\-]{0,20}?(?:auth|token|secret)`, `[a-f0-9]{32}`),
		tok("sendgrid-api-key", "SendGrid API key", high, []string{"sg."}, `\b(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})`+tail),
		tok("mailgun-api-key", "Mailgun private API key", high, []string{"key-"}, `\b(key-[a-f0-9]{32})\b`, minEntropy(3.2)),
		tok("mailchimp-api-key", "Mailchimp API key", high, []string{"-us"}, `\b([a-f0-9]{32}-us\d{1,2})\b`),
		ctx("mandrill-api-key", "Mandrill API key", high, []string{"mandrill"}, `mandrill`, `[A-Za-z0-9_\-]{22}`),
		ctx("postmark-token", "Postmark server token", high, []string{"postmark"}, `postmark`, uuid),
		tok("brevo-api-key", "Brevo (Sendinblue) API key", high, []string{"xkeysib-"}, `\b(xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16})\b`),
		ctx("mailjet-secret", "Mailjet API secret", high, []string{"mailjet"}, `mailjet[\w.\-]{0,20}?(?:secret|key)`, `[a-f0-9]{32}`),
		ctx("intercom-token", "Intercom access token", high, []string{"intercom"}, `intercom`, `[A-Za-z0-9=_\-]{59,60}`),
		ctx("zendesk-token", "Zendesk API token", high, []string{"zendesk"}, `zendesk`, `[A-Za-z0-9]{40}`),
		ctx("pagerduty-token", "PagerDuty API key", high, []string{"pagerduty"}, `pagerduty`, `[A-Za-z0-9_+\-]{20}`),
		ctx("opsgenie-api-key", "Opsgenie API key", high, []string{"opsgenie"}, `opsgenie`, uuid),

		// Payments and commerce.
		tok("stripe-secret-key", "Stripe secret key", crit, []string{"sk_live_", "sk_test_"}, `\b(sk_(?:live|test)_[A-Za-z0-9]{24,99})\b`),
		tok("stripe-restricted-key", "Stripe restricted key", high, []string{"rk_live_", "rk_test_"}, `\b(rk_(?:live|test)_[A-Za-z0-9]{24,99})\b`),
		tok("stripe-webhook-secret", "Stripe webhook signing secret", high, []string{"whsec_"}, `\b(whsec_[A-Za-z0-9+/]{32,88})`+tail),
		tok("square-access-token", "Square access token", high, []string{"eaaa", "sq0atp-"}, `(?:^|[^A-Za-z0-9+/=_\-])((?:EAAA|sq0atp-)[A-Za-z0-9_\-]{22,60})(?:[^A-Za-z0-9_\-+/=]|$)`, minEntropy(4.0)),
		tok("square-oauth-secret", "Square OAuth secret", high, []string{"sq0csp-"}, `\b(sq0csp-[A-Za-z0-9_\-]{43})`+tail),
		tok("braintree-access-token", "PayPal Braintree access token", crit, []string{"access_token$"}, `(access_token\$(?:production|sandbox)\$[a-z0-9]{16}\$[a-f0-9]{32})`),
		tok("flutterwave-secret-key", "Flutterwave secret key", high, []string{"flwseck"}, `\b(FLWSECK(?:_TEST)?-[a-h0-9]{32}-X)\b`),
		tok("razorpay-key", "Razorpay live key", high, []string{"rzp_live_"}, `\b(rzp_live_[A-Za-z0-9]{14})\b`),
		tok("plaid-access-token", "Plaid access token", high, []string{"access-production-", "access-development-", "access-sandbox-"}, `\b(access-(?:sandbox|development|production)-`+uuid+`)\b`),
		tok("shopify-access-token", "Shopify access token", high, []string{"shpat_"}, `\b(shpat_[a-fA-F0-9]{32})\b`),
		tok("shopify-shared-secret", "Shopify shared secret", high, []string{"shpss_"}, `\b(shpss_[a-fA-F0-9]{32})\b`),
		tok("shopify-custom-app-token", "Shopify custom app access token", high, []string{"shpca_"}, `\b(shpca_[a-fA-F0-9]{32})\b`),
		tok("shopify-private-app-token", "Shopify private app access token", high, []string{"shppa_"}, `\b(shppa_[a-fA-F0-9]{32})\b`),
		ctx("gocardless-token", "GoCardless access token", high, []string{"gocardless"}, `gocardless`, `live_[A-Za-z0-9_=\-]{40}`),
		tok("shippo-token", "Shippo live API token", high, []string{"shippo_live_"}, `\b(shippo_live_[a-f0-9]{40})\b`),
		tok("easypost-api-key", "EasyPost API key", high, []string{"ezak"}, `\b(EZAK[A-Za-z0-9]{54})\b`),
		ctx("coinbase-secret", "Coinbase API secret", high, []string{"coinbase"}, `coinbase[\w.\-]{0,20}?secret`, `[A-Za-z0-9+/=]{32,88}`),

		// Package registries and artifact stores.
		tok("npm-token", "npm access token", crit, []string{"npm_"}, `\b(npm_[A-Za-z0-9]{36})\b`, validate(validGitHubChecksum)),
		tok("pypi-token", "PyPI upload token", crit, []string{"pypi-ag"}, `\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,})`),
		tok("testpypi-token", "TestPyPI upload token", med, []string{"pypi-ag"}, `\b(pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9_\-]{50,})`),
		tok("dockerhub-pat", "Docker Hub personal access token", high, []string{"dckr_pat_", "dckr_oat_"}, `\b(dckr_(?:pat|oat)_[A-Za-z0-9_\-]{27,32})`+tail),
		tok("docker-config-auth", "Docker config.json registry credentials", high, []string{`"auths"`}, `(?s)"auths"\s*:\s*\{.*?"auth"\s*:\s*"([A-Za-z0-9+/]{16,}={0,2})"`, multiline, validate(validBasicAuth)),
		tok("rubygems-api-key", "RubyGems API key", high, []string{"rubygems_"}, `\b(rubygems_[a-f0-9]{48})\b`),
		tok("nuget-api-key", "NuGet API key", high, []string{"oy2"}, `\b(oy2[a-z0-9]{43})\b`, minEntropy(3.5)),
		tok("clojars-token", "Clojars deploy token", high, []string{"clojars_"}, `\b(CLOJARS_[a-z0-9]{60})\b`),
		tok("artifactory-api-key", "JFrog Artifactory API key", high, []string{"akcp"}, `\b(AKCp[A-Za-z0-9]{69})\b`),
		tok("artifactory-reference-token", "JFrog Artifactory reference token", high, []string{"cmvmdgtu"}, `\b(cmVmdGtu[A-Za-z0-9]{56})\b`),
		ctx("packagecloud-token", "packagecloud token", med, []string{"packagecloud"}, `packagecloud`, `[a-f0-9]{48}`),
		tok("huggingface-token", "Hugging Face access token", high, []string{"hf_"}, `\b(hf_[A-Za-z]{34})\b`, minEntropy(3.5)),
		tok("prefect-api-key", "Prefect API key", high, []string{"pnu_"}, `\b(pnu_[A-Za-z0-9]{36})\b`),

		// Observability.
		ctx("datadog-api-key", "Datadog API key", high, []string{"datadog", "dd_api", "dd-api", "ddapi"}, `(?:datadog|dd)[\w.\-]{0,10}?api[\w.\-]{0,3}?key`, `[a-f0-9]{32}`),
		ctx("datadog-app-key", "Datadog application key", high, []string{"datadog", "dd_app", "dd-app", "ddapp"}, `(?:datadog|dd)[\w.\-]{0,10}?app(?:lication)?[\w.\-]{0,3}?key`, `[a-f0-9]{40}`),
		tok("newrelic-user-api-key", "New Relic user API key", high, []string{"nrak-"}, `\b(NRAK-[A-Z0-9]{27})\b`),
		tok("newrelic-browser-key", "New Relic browser API token", med, []string{"nrjs-"}, `\b(NRJS-[a-f0-9]{19})\b`),
		tok("newrelic-insert-key", "New Relic insights insert key", high, []string{"nrii-"}, `\b(NRII-[A-Za-z0-9_\-]{32})`+tail),
		tok("grafana-cloud-token", "Grafana Cloud API token", high, []string{"glc_"}, `\b(glc_[A-Za-z0-9+/]{32,400}={0,2})`),
		tok("grafana-service-account-token", "Grafana service account token", high, []string{"glsa_"}, `\b(glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})\b`),
		tok("grafana-api-key", "Grafana API key (legacy)", high, []string{"eyjrijoi"}, `\b(eyJrIjoi[A-Za-z0-9+/]{70,400}={0,2})`),
		tok("dynatrace-token", "Dynatrace API token", high, []string{"dt0c01."}, `\b(dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64})\b`),
		tok("sentry-org-token", "Sentry organisation auth token", high, []string{"sntrys_"}, `\b(sntrys_eyJ[A-Za-z0-9+/=_\-]{60,})`),
		tok("sentry-user-token", "Sentry user auth token", high, []string{"sntryu_"}, `\b(sntryu_[a-f0-9]{64})\b`),
		ctx("sumologic-access-key", "Sumo Logic access key", high, []string{"sumo"}, `sumo[\w.\-]{0,20}?key`, `[A-Za-z0-9]{64}`),
		ctx("rollbar-token", "Rollbar access token", med, []string{"rollbar"}, `rollbar`, `[a-f0-9]{32}`),
		ctx("bugsnag-api-key", "Bugsnag API key", med, []string{"bugsnag"}, `bugsnag`, `[a-f0-9]{32}`),
		ctx("launchdarkly-key", "LaunchDarkly SDK or API key", high, []string{"launchdarkly"}, `launchdarkly`, `(?:api|sdk)-`+uuid),
		ctx("honeycomb-api-key", "Honeycomb API key", med, []string{"honeycomb"}, `honeycomb`, `[A-Za-z0-9]{22}|[a-f0-9]{32}`),

		// SaaS APIs and AI providers.
		tok("openai-api-key", "OpenAI API key", crit, []string{"t3blbkfj", "sk-proj-", "sk-svcacct-", "sk-admin-"}, `\b(sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{58,200}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}))`+tail),
		tok("anthropic-api-key", "Anthropic API key", crit, []string{"sk-ant-"}, `\b(sk-ant-(?:api|admin)0\d-[A-Za-z0-9_\-]{90,100})`+tail),
		tok("groq-api-key", "Groq API key", high, []string{"gsk_"}, `\b(gsk_[A-Za-z0-9]{52})\b`),
		tok("perplexity-api-key", "Perplexity API key", high, []string{"pplx-"}, `\b(pplx-[A-Za-z0-9]{48})\b`),
		tok("xai-api-key", "xAI API key", high, []string{"xai-"}, `\b(xai-[A-Za-z0-9]{80})\b`),
		tok("replicate-api-token", "Replicate API token", high, []string{"r8_"}, `\b(r8_[A-Za-z0-9]{37})\b`),
		ctx("cohere-api-key", "Cohere API key", high, []string{"cohere", "co_api"}, `cohere|co_api`, `[A-Za-z0-9]{40}`),
		ctx("mistral-api-key", "Mistral API key", high, []string{"mistral"}, `mistral`, `[A-Za-z0-9]{32}`),
		ctx("deepseek-api-key", "DeepSeek API key", high, []string{"deepseek"}, `deepseek`, `sk-[a-f0-9]{32}`),
		tok("contentful-pat", "Contentful personal access token", high, []string{"cfpat-"}, `\b(CFPAT-[A-Za-z0-9_\-]{43})`+tail),
		tok("hubspot-pat", "HubSpot private app token", high, []string{"pat-na1-", "pat-eu1-"}, `\b(pat-(?:na|eu)1-`+uuid+`)\b`),
		tok("linear-api-key", "Linear API key", high, []string{"lin_api_"}, `\b(lin_api_[A-Za-z0-9]{40})\b`),
		tok("notion-token", "Notion integration token", high, []string{"ntn_", "secret_"}, `\b((?:ntn_[0-9]{11}[A-Za-z0-9]{35})|(?:secret_[A-Za-z0-9]{43}))\b`),
		tok("airtable-pat", "Airtable personal access token", high, []string{"pat"}, `\b(pat[A-Za-z0-9]{14}\.[a-f0-9]{64})\b`),
		tok("figma-pat", "Figma personal access token", high, []string{"figd_"}, `\b(figd_[A-Za-z0-9_\-]{40})`+tail),
		tok("typeform-token", "Typeform personal access token", med, []string{"tfp_"}, `\b(tfp_[A-Za-z0-9_.\-]{59})`+tail),
		tok("mapbox-secret-token", "Mapbox secret access token", high, []string{"sk.eyj"}, `\b(sk\.eyJ[A-Za-z0-9_\-]{50,}\.[A-Za-z0-9_\-]{20,})`),
		tok("dropbox-token", "Dropbox short-lived access token", high, []string{"sl."}, `\b(sl\.[A-Za-z0-9_\-]{130,152})`+tail, minEntropy(4.0)),
		tok("frameio-token", "Frame.io API token", med, []string{"fio-u-"}, `\b(fio-u-[A-Za-z0-9_=\-]{64})`+tail),
		tok("adobe-client-secret", "Adobe client secret", high, []string{"p8e-"}, `\b(p8e-[A-Za-z0-9]{32})\b`),
		tok("twitter-bearer-token", "Twitter/X app bearer token", high, []string{"aaaaaaaaaaaaaaaaaaaaa"}, `\b(A{22}[A-Za-z0-9%]{80,120})`+tail, noEntropy),
		tok("facebook-access-token", "Facebook access token", high, []string{"eaacedeose0cba"}, `\b(EAACEdEose0cBA[A-Za-z0-9]{20,})\b`),
		ctx("facebook-app-secret", "Facebook app secret", high, []string{"facebook", "fb_"}, `(?:facebook|fb)[\w.\-]{0,20}?secret`, `[a-f0-9]{32}`),
		ctx("linkedin-client-secret", "LinkedIn client secret", high, []string{"linkedin"}, `linkedin[\w.\-]{0,20}?secret`, `[A-Za-z0-9]{16}`),
		ctx("algolia-admin-key", "Algolia admin API key", high, []string{"algolia"}, `algolia`, `[a-f0-9]{32}`),
		ctx("okta-api-token", "Okta API token", high, []string{"okta"}, `okta`, `00[A-Za-z0-9_\-]{40}`),
		ctx("auth0-client-secret", "Auth0 client secret", high, []string{"auth0"}, `auth0[\w.\-]{0,20}?secret`, `[A-Za-z0-9_\-]{64}`),
		ctx("asana-pat", "Asana personal access token", high, []string{"asana"}, `asana`, `[0-9]/[0-9]{16}:[a-f0-9]{32}|2/[0-9]{16}/[0-9]{16}:[a-f0-9]{32}`),
		ctx("confluent-api-secret", "Confluent Cloud API secret", high, []string{"confluent"}, `confluent[\w.\-]{0,20}?secret`, `[A-Za-z0-9+/]{64}`),
		ctx("snowflake-password", "Snowflake password", high, []string{"snowflake"}, `snowflake[\w.\-]{0,20}?pass(?:word)?`, `[A-Za-z0-9!@#$%^&*_+=~\-]{10,64}`),
		tok("yandex-api-key", "Yandex Cloud API key", high, []string{"aqvn"}, `\b(AQVN[A-Za-z0-9_\-]{35,38})`+tail),
		tok("age-secret-key", "age secret key", crit, []string{"age-secret-key-1"}, `\b(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b`),
		tok("onepassword-secret-key", "1Password account secret key", crit, []string{"a3-"}, `\b(A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b`),

		// Keys, certificates and protocol credentials.
		tok("private-key", "Private key (PEM)", crit, []string{"private key-----"}, `(-----BEGIN (?:RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY-----(?:\\r|\\n|[A-Za-z0-9+/=:,\- \r\n\t])+?-----END (?:RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY-----)`, multiline, generic, validate(validPEMBody)),
		tok("openssh-private-key", "OpenSSH private key", crit, []string{"begin openssh private key"}, `(-----BEGIN OPENSSH PRIVATE KEY-----(?:\\r|\\n|[A-Za-z0-9+/=\r\n\t ])+?-----END OPENSSH PRIVATE KEY-----)`, multiline, validate(validPEMBody)),
		tok("pgp-private-key", "PGP private key block", crit, []string{"begin pgp private key block"}, `(-----BEGIN PGP PRIVATE KEY BLOCK-----(?:\\r|\\n|[A-Za-z0-9+/=:.,()\-\r\n\t ])+?-----END PGP PRIVATE KEY BLOCK-----)`, multiline, validate(validPEMBody)),
		tok("ssh2-private-key", "SSH2 (SECSH) encrypted private key", crit, []string{"begin ssh2 encrypted private key"}, `(---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----(?:\\r|\\n|[A-Za-z0-9+/=:"\-\r\n\t ])+?---- END SSH2 ENCRYPTED PRIVATE KEY ----)`, multiline, validate(validPEMBody)),
		tok("putty-private-key", "PuTTY private key", crit, []string{"putty-user-key-file-"}, `(?s)(PuTTY-User-Key-File-[23]: [a-z0-9\-]+.*?Private-Lines: \d+\r?\n(?:[A-Za-z0-9+/=]+\r?\n)+)`, multiline, validate(validPEMBody)),
		tok("jwt", "JSON Web Token", med, []string{"eyj"}, `\b(eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{16,})`+tail, generic, validate(validJWT), span(8192)),
		tok("database-url-password", "Database connection URL with password", crit,
			[]string{"postgres://", "postgresql://", "mysql://", "mariadb://", "mongodb://", "mongodb+srv://", "redis://", "rediss://", "amqp://", "amqps://", "mssql://", "sqlserver://", "clickhouse://", "cockroachdb://", "couchdb://", "neo4j://", "neo4j+s://", "oracle://", "db2://", "memcached://", "cassandra://", "jdbc:"},
			`(?i)\b(?:jdbc:)?(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|clickhouse|cockroachdb|couchdb|neo4j(?:\+s)?|oracle|db2|memcached|cassandra)://(?P<user>[^\s:/@'"\x60]*):([^\s'"\x60]{3,128}?)@[A-Za-z0-9_.\-\[\]]+(?::\d+)?(?:[/?#\s'"\x60;,]|$)`,
			minEntropy(1.5)),
		tok("jdbc-password", "JDBC URL with password parameter", high, []string{"jdbc:"}, `(?i)jdbc:[a-z0-9]+:[^\s'"\x60]*?[;?&]password=([^\s;&'"\x60]{3,128})`, minEntropy(1.5)),
		tok("url-credentials", "URL with embedded credentials", high, []string{"https://", "http://", "ftp://", "sftp://", "smtp://", "smtps://", "ldap://", "ldaps://", "git+https://"},
			`(?i)\b(?:https?|s?ftp|smtps?|ldaps?|git\+https)://(?P<user>[A-Za-z0-9._%\-]+):([^\s:/@'"\x60<>]{6,128})@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`, generic, minEntropy(2.5)),
		tok("netrc-password", ".netrc machine password", high, []string{"machine"}, `machine[ \t]+[^\s]+\s+login[ \t]+[^\s]+\s+password[ \t]+([^\s]{8,128})`, lineStart, minEntropy(2.5)),
		tok("kubeconfig-token", "Kubernetes kubeconfig user token", high, []string{"token:"}, `token:[ \t]*['"]?([A-Za-z0-9._~+/=\-]{20,})['"]?[ \t]*(?:\r?\n|$)`, lineStart, span(8192), minEntropy(3.5)),
		tok("kubeconfig-client-key", "Kubernetes kubeconfig client key data", crit, []string{"client-key-data"}, `client-key-data:\s*['"]?([A-Za-z0-9+/]{60,}={0,2})`),
		tok("http-basic-auth", "HTTP Authorization Basic credentials", med, []string{"authorization"}, `(?i)authorization["']?[ \t]*[:=,][ \t]*["']?basic[ \t]+([A-Za-z0-9+/]{12,}={0,2})`, generic, validate(validBasicAuth)),
		tok("http-bearer-token", "HTTP Authorization Bearer token", med, []string{"authorization"}, `(?i)authorization["']?[ \t]*[:=,][ \t]*["']?bearer[ \t]+([A-Za-z0-9._~+/\-]{20,}=*)`, generic, minEntropy(3.5)),
		tok("keyward-token", "Keyward token", crit, []string{"kws_", "kwb_", "kww_", "kwr_", "kwi_"}, `\b(kw[swri]_[0-9A-Za-z]{49}|kwb_[0-9A-Za-z]{49,})\b`, validate(validKeywardToken), span(tokenfmt.MaxBatchLen+8)),
	}
	for _, r := range rs {
		// most URLs carry no credentials: skip those without '@' cheaply
		r.needAt = r.ID == "url-credentials"
	}
	rs = append(rs, genericRules()...)
	return rs
}

// lineStart anchors a rule's keyword to the start of a line (after
// indentation), as in .netrc and YAML files.
func lineStart(r *Rule) { r.lineStart = true }

// span lets an anchored match run longer than the default 512 bytes.
func span(n int) ruleOpt { return func(r *Rule) { r.span = n } }
