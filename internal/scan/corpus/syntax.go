package corpus

import (
	"fmt"
	"strings"
)

// Syntax is one common way of writing configuration or code: the file its
// lines are planted in, credentials assigned in that syntax (with key
// names written in several styles), and near-misses of the same syntax
// that a scanner must not report.
type Syntax struct {
	Name       string
	File       string // base name of the file the lines are planted in
	Samples    []Sample
	NearMisses []string
}

// passwordSymbols are the symbols values are built with: the ones that
// trip naive value patterns (comment, glob, format and path characters).
const passwordSymbols = "~#*%.-"

// password returns a password-like value: runs of two or three letters
// and digits separated by symbols from syms, starting and ending with a
// letter or digit, with every class present. A symbol is always followed
// by at least two letters or digits, so no printf verb (%s at the end) or
// doubled symbol ("..") appears by chance, and no four letters in a row
// spell a fixture word (test, todo) that makes a scanner take the value
// for a placeholder, so a miss is never luck.
func (g *Gen) password(syms string) string {
	var b strings.Builder
	b.WriteString(g.S(1, upper) + g.S(1, lowerA) + g.S(1, digits))
	for range 4 {
		b.WriteByte(syms[g.Intn(len(syms))])
		b.WriteString(g.S(2+g.Intn(2), alnum))
	}
	return b.String()
}

// token returns an API-key-like value of 24 to 36 letters and digits,
// sometimes split by a dash: groups of two letters or digits and a digit,
// so no fixture word appears in it by chance either.
func (g *Gen) token() string {
	var b strings.Builder
	b.WriteString(g.S(1, upper) + g.S(1, lowerA) + g.S(1, digits))
	for k := range 7 + g.Intn(4) {
		if k == 4 && g.Intn(2) == 0 {
			b.WriteByte('-')
		}
		b.WriteString(g.S(2, alnum) + g.S(1, digits))
	}
	return b.String()
}

// syntaxForm describes a syntax by its usual assignment, so the same key
// styles, placeholders and look-alike names are tried in every syntax.
type syntaxForm struct {
	name, file string
	// assign writes the usual assignment of value to key.
	assign func(key, value string) string
	// passwordKeys and secretKeys are key names in this syntax's styles.
	passwordKeys, secretKeys []string
	// syms are the symbols a bare value may hold in this syntax.
	syms string
	// extra adds the syntax's other forms and its own near-misses.
	extra func(g *Gen, s *Syntax)
}

// Placeholders are values that stand for a password without being one:
// templates, references to somewhere else, redactions and fill-me-ins.
// Every syntax gets each of them, assigned to a password key, as a
// near-miss.
var Placeholders = []string{
	"<password>", "${PASSWORD}", "${env:DB_PASSWORD}", "{{ .Password }}", "{{password}}", "xxx", "***", "********",
	"XXXXXXXXXX", "your-password-here", "changeme", "CHANGE_ME_BEFORE_USE", "%(password)s", "#{db.password}", "((db_password))",
	"@db.password@", "$DB_PASSWORD", "%DB_PASSWORD%", "ENC(" + "Zm9vYmFyYmF6cXV4" + ")", "REPLACE_WITH_REAL_PASSWORD",
	"TODO", "<insert password>", "••••••••", "…",
}

// lookAlikes are names that contain a keyword without naming a secret;
// each syntax assigns a strong value to each as a near-miss, so only the
// name keeps them out.
var lookAlikes = []string{"bypass", "compass", "passport", "passthrough", "password_policy", "passwordHint", "surpass_limit", "passenger_count", "token_type", "secret_name", "tokenizer"}

// style rewrites a snake_case name in the key style of exemplar: UPPER,
// camelCase, kebab-case or dotted.
func style(name, exemplar string) string {
	switch {
	case strings.ToUpper(exemplar) == exemplar:
		return strings.ToUpper(name)
	case strings.Contains(exemplar, "-"):
		return strings.ReplaceAll(name, "_", "-")
	case strings.Contains(exemplar, "."):
		return strings.ReplaceAll(name, "_", ".")
	}
	return name
}

func q(v string) string  { return `"` + v + `"` }
func sq(v string) string { return "'" + v + "'" }

var syntaxForms = []syntaxForm{
	{
		name: "java-properties", file: "application.properties", syms: passwordSymbols,
		assign:       func(k, v string) string { return k + "=" + v },
		passwordKeys: []string{"spring.datasource.password", "db.pass", "mail.smtp.passwd", "ldap.bindPassword"},
		secretKeys:   []string{"app.secretKey", "service.api-key", "jwt.secret", "oauth.credentials"},
		extra: func(g *Gen, s *Syntax) {
			s.add("generic-password", "db.password = "+g.password(passwordSymbols))
			s.add("generic-password", "keystore.password: "+g.password(passwordSymbols))
			s.miss("password.min-length=12", "spring.datasource.password=", "cache.bypass=true", "password.policy=strict")
		},
	},
	{
		name: "config-lines", file: "app.conf", syms: passwordSymbols,
		assign:       func(k, v string) string { return k + ": " + v },
		passwordKeys: []string{"password", "admin_pass", "pwd", "RootPassword"},
		secretKeys:   []string{"auth_token", "SECRET_KEY", "apiKey", "secret"},
		extra: func(g *Gen, s *Syntax) {
			s.miss("password: required", "password_min_length: 12", "passwordless: true")
		},
	},
	{
		name: "ini", file: "config.ini", syms: passwordSymbols,
		assign:       func(k, v string) string { return k + " = " + v },
		passwordKeys: []string{"password", "passwd", "smtp_pass", "db-password"},
		secretKeys:   []string{"secret_key", "client_secret", "access_token"},
		extra: func(g *Gen, s *Syntax) {
			s.add("generic-password", "[database]\nhost = db.internal\npassword="+g.password(passwordSymbols)+"\n")
			s.miss("[passwords]", "password =", "password_file = /etc/app/db.pw", "bypass = true")
		},
	},
	{
		name: "dotenv", file: ".env", syms: passwordSymbols,
		assign:       func(k, v string) string { return k + "=" + v },
		passwordKeys: []string{"DB_PASSWORD", "REDIS_PASS", "MYSQL_ROOT_PWD", "SMTP_PASSWD"},
		secretKeys:   []string{"API_KEY", "AUTH_TOKEN", "APP_SECRET", "STRIPE_SECRET_KEY"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", "DB_PASSWORD="+q(v), v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "ADMIN_PASSWORD="+sq(v)+" # rotated monthly", v)
			s.miss("DB_PASSWORD=", "DB_PASSWORD_FILE=/run/secrets/db_password", "BYPASS_AUTH=true", "PASSPORT_STRATEGY=jwt")
		},
	},
	{
		name: "yaml", file: "values.yaml", syms: passwordSymbols,
		assign:       func(k, v string) string { return "  " + k + ": " + v },
		passwordKeys: []string{"password", "db-password", "adminPassword", "POSTGRES_PASSWORD"},
		secretKeys:   []string{"apiKey", "client_secret", "authToken", "credentials"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", "database:\n  user: app\n  password: "+q(v)+"\n", v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "- name: admin\n  pass: "+sq(v), v)
			s.miss("  password: !vault |", "  password: ~", "  password: null", "  password: \"\"", "  secretName: db-credentials",
				"  existingSecret: app-secrets", "  password: \"{{ vault_db_password }}\"", "  passwordPolicy: strict",
				"  secretKeyRef:", "      key: password")
		},
	},
	{
		name: "json", file: "config.json",
		assign:       func(k, v string) string { return "  " + q(k) + ": " + q(v) + "," },
		passwordKeys: []string{"password", "dbPassword", "smtp_pass", "ADMIN_PWD"},
		secretKeys:   []string{"api_key", "secretKey", "auth-token", "clientSecret"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", `{"db":{"user":"app","password":"`+v+`"}}`, v)
			s.miss(`  "passwordRequired": true,`, `  "password": null,`, `  "token_type": "bearer",`, `  "password": "",`)
		},
	},
	{
		name: "toml", file: "config.toml",
		assign:       func(k, v string) string { return k + " = " + q(v) },
		passwordKeys: []string{"password", "db_password", "pass"},
		secretKeys:   []string{"api_token", "secret", "signing_key"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", "[database]\npassword = "+sq(v), v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", `root_password = """`+v+`"""`, v)
			s.miss(`password_file = "/etc/app/db.pw"`, `password = ""`, `max_password_age = "90d"`, `password_policy = "strict"`, "bypass = true")
		},
	},
	{
		name: "xml", file: "settings.xml",
		assign:       func(k, v string) string { return "<" + k + ">" + v + "</" + k + ">" },
		passwordKeys: []string{"password", "DbPassword", "keystore.password"},
		secretKeys:   []string{"secretKey", "apiToken", "client_secret"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", `<datasource user="app" password="`+v+`" url="jdbc:h2:mem:x"/>`, v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", `<add key="DbPassword" value="`+v+`" />`, v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", `<property name="hibernate.connection.password" value="`+v+`"/>`, v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", `<entry key="smtp.password">`+v+`</entry>`, v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", `<password><![CDATA[`+v+`]]></password>`, v)
			v = g.token()
			s.addSecret("generic-secret", `<service name="billing" apiKey="`+v+`"/>`, v)
			s.miss("<password></password>", "<password>${db.password}</password>", "<passwordPolicy>strict</passwordPolicy>",
				`<add key="PasswordHint" value="`+g.password(passwordSymbols)+`"/>`, `<property name="password.policy" value="strict"/>`,
				"<bypass>true</bypass>", `<input type="password" name="password" placeholder="Password">`)
		},
	},
	{
		name: "hcl", file: "main.tf",
		assign:       func(k, v string) string { return "  " + k + " = " + q(v) },
		passwordKeys: []string{"password", "master_password", "admin_pass"},
		secretKeys:   []string{"api_token", "client_secret", "secret_key"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", "variable \"db_password\" {\n  type      = string\n  sensitive = true\n  default   = "+q(v)+"\n}", v)
			s.miss("  password = var.db_password", "  password = random_password.db.result", `  password = "${var.db_password}"`,
				"variable \"db_password\" {\n  type      = string\n  sensitive = true\n}", "  manage_master_user_password = true",
				"  password = data.aws_secretsmanager_secret_version.db.secret_string")
		},
	},
	{
		name: "shell", file: "deploy.sh", syms: "~#%.-",
		assign:       func(k, v string) string { return "export " + k + "=" + v },
		passwordKeys: []string{"DB_PASSWORD", "PGPASSWORD", "ADMIN_PASS"},
		secretKeys:   []string{"API_TOKEN", "SECRET_KEY", "GITHUB_API_KEY"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", "export DB_PASSWORD="+sq(v), v)
			v = g.password("~#%.-")
			s.addSecret("generic-password", "MYSQL_PWD="+v+" mysql -h db -u app app", v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "declare -x REDIS_PASSWORD="+q(v), v)
			s.miss(`export DB_PASSWORD="$(cat /run/secrets/db)"`, "export DB_PASSWORD=$DB_PASSWORD", "read -rs PASSWORD",
				"export PASSWORD_FILE=/run/secrets/pw", "export BYPASS_PROXY=1", `PASSWORD="${PASSWORD:-}"`)
		},
	},
	{
		name: "dockerfile", file: "Dockerfile", syms: passwordSymbols,
		assign:       func(k, v string) string { return "ENV " + k + "=" + v },
		passwordKeys: []string{"DB_PASSWORD", "RABBITMQ_DEFAULT_PASS"},
		secretKeys:   []string{"API_KEY", "SECRET_KEY_BASE"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", "ENV POSTGRES_PASSWORD "+v, v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "ARG ADMIN_PASSWORD="+v, v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "ENV APP_ENV=production DB_PASS="+v+" DB_HOST=db", v)
			s.miss("ARG DB_PASSWORD", "ENV DB_PASSWORD=${DB_PASSWORD}", "RUN --mount=type=secret,id=db_password cat /run/secrets/db_password",
				"ENV PASSWORD_FILE=/run/secrets/db")
		},
	},
	{
		name: "go", file: "config.go",
		assign:       func(k, v string) string { return "\t" + k + " := " + q(v) },
		passwordKeys: []string{"password", "dbPassword", "adminPass"},
		secretKeys:   []string{"apiKey", "authToken", "clientSecret"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", "const DefaultPassword = "+q(v), v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "\tcfg := Config{User: \"app\", Password: "+q(v)+"}", v)
			v = g.token()
			s.addSecret("generic-secret", "var apiKey string = "+q(v), v)
			v = g.token()
			s.addSecret("generic-secret", "\tSecretKey: `"+v+"`,", v)
			s.miss("\tpassword := os.Getenv(\"DB_PASSWORD\")", "\tPassword: cfg.Password,", "\tPassword: \"\",",
				"\tvar bypassCache = true", "\tpasswordHint := \"at least twelve characters\"", "\tif password == \"\" {")
		},
	},
	{
		name: "python", file: "settings.py",
		assign:       func(k, v string) string { return k + " = " + q(v) },
		passwordKeys: []string{"PASSWORD", "db_password", "smtp_pass"},
		secretKeys:   []string{"SECRET_KEY", "api_key", "auth_token"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", `conn = psycopg2.connect(host="db", user="app", password="`+v+`")`, v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", `DATABASES = {"default": {"NAME": "app", "PASSWORD": "`+v+`"}}`, v)
			v = g.token()
			s.addSecret("generic-secret", "        self.api_key = "+sq(v), v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "db_pass: str = "+q(v), v)
			s.miss(`password = os.environ["DB_PASSWORD"]`, "password = getpass.getpass()", "password = None",
				`AUTH_PASSWORD_VALIDATORS = [{"NAME": "x"}]`, `password = f"{prefix}{suffix}"`, "def check_password(password):")
		},
	},
	{
		name: "javascript", file: "config.ts",
		assign:       func(k, v string) string { return "const " + k + " = " + q(v) + ";" },
		passwordKeys: []string{"password", "dbPassword", "ADMIN_PASS"},
		secretKeys:   []string{"apiKey", "authToken", "clientSecret"},
		extra: func(g *Gen, s *Syntax) {
			v := g.token()
			s.addSecret("generic-secret", "module.exports = { apiKey: "+q(v)+", region: \"eu\" };", v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "    this.password = `"+v+"`;", v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "const dbPass: string = "+sq(v)+";", v)
			s.miss("const password = process.env.DB_PASSWORD;", "  password: req.body.password,", `const passport = require("passport");`,
				"const passThrough = true;", "  passwordHint: \"at least twelve characters\",")
		},
	},
	{
		name: "java", file: "Config.java",
		assign:       func(k, v string) string { return "    private static final String " + k + " = " + q(v) + ";" },
		passwordKeys: []string{"DB_PASSWORD", "password", "keystorePass"},
		secretKeys:   []string{"API_KEY", "secretKey", "accessToken"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", "        props.setProperty(\"password\", "+q(v)+");", v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "        System.setProperty(\"javax.net.ssl.keyStorePassword\", "+q(v)+");", v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "        String password = "+q(v)+";", v)
			s.miss(`        String password = System.getenv("DB_PASSWORD");`, `        String p = System.getProperty("db.password");`,
				`    private static final String PASSWORD_PATTERN = "^(?=.*[0-9]).{8,}$";`, `        props.setProperty("password", password);`)
		},
	},
	{
		name: "csharp", file: "Settings.cs",
		assign:       func(k, v string) string { return "        string " + k + " = " + q(v) + ";" },
		passwordKeys: []string{"password", "adminPassword"},
		secretKeys:   []string{"apiKey", "ClientSecret"},
		extra: func(g *Gen, s *Syntax) {
			v := g.token()
			s.addSecret("generic-secret", "        var apiKey = @"+q(v)+";", v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "            Password = "+q(v)+",", v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", `        var cs = "Server=db;Database=app;User Id=sa;Password=`+v+`;";`, v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", `        var cs = "Server=db;User Id=sa;Password=`+v+`";`, v)
			s.miss("            PasswordChar = '*',", `        string password = Environment.GetEnvironmentVariable("DB_PASSWORD");`,
				`            Password = config["Db:Password"],`, "        [DataType(DataType.Password)]")
		},
	},
	{
		name: "ruby", file: "config.rb",
		assign:       func(k, v string) string { return k + " = " + q(v) },
		passwordKeys: []string{"password", "db_password"},
		secretKeys:   []string{"api_key", "secret_token"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", "  :password => "+q(v)+",", v)
			v = g.token()
			s.addSecret("generic-secret", "  config.secret_key = "+sq(v), v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "  password: "+q(v)+",", v)
			s.miss(`password = ENV.fetch("DB_PASSWORD")`, "  has_secure_password", "  password: Rails.application.credentials.db_password,",
				"  :password => nil,", `  puts "#{password}"`)
		},
	},
	{
		name: "php", file: "wp-config.php",
		assign:       func(k, v string) string { return "$" + k + " = " + q(v) + ";" },
		passwordKeys: []string{"password", "dbPass"},
		secretKeys:   []string{"apiKey", "secret_key"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", "define( 'DB_PASSWORD', "+sq(v)+" );", v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "    'password' => "+sq(v)+",", v)
			v = g.token()
			s.addSecret("generic-secret", "$this->apiKey = "+q(v)+";", v)
			s.miss("$password = $_POST['password'];", "    'password' => env('DB_PASSWORD'),", "define('DB_PASSWORD', getenv('DB_PASSWORD'));",
				"$hash = password_hash($password, PASSWORD_DEFAULT);")
		},
	},
	{
		name: "env-calls", file: "bootstrap.c",
		assign:       func(k, v string) string { return "setenv(" + q(k) + ", " + q(v) + ", 1);" },
		passwordKeys: []string{"DB_PASSWORD"},
		secretKeys:   []string{"API_TOKEN"},
		extra: func(g *Gen, s *Syntax) {
			for _, f := range []string{
				"os.Setenv(\"DB_PASSWORD\", %q)", "putenv(\"DB_PASSWORD=%s\");", "System.setProperty(\"db.password\", %q);",
				"process.env.DB_PASSWORD = %q;", "ENV['DB_PASSWORD'] = '%s'", "os.environ[\"DB_PASSWORD\"] = %q",
				"Environment.SetEnvironmentVariable(\"DB_PASSWORD\", %q);",
			} {
				v := g.password(passwordSymbols)
				s.addSecret("generic-password", fmt.Sprintf(f, v), v)
			}
			v := g.token()
			s.addSecret("generic-secret", "os.environ[\"API_KEY\"] = "+q(v), v)
			s.miss(`os.Setenv("DB_PASSWORD", os.Getenv("PGPASSWORD"))`, `os.Setenv("PASSWORD_FILE", "/run/secrets/pw")`,
				`setenv("DB_PASSWORD", password, 1);`, "process.env.DB_PASSWORD = process.env.OTHER_PASSWORD;",
				"ENV['DB_PASSWORD'] = nil", `t.Setenv("DB_PASSWORD", "changeme")`, `i18n.Set("password", "Kennwort")`,
				`translations.put("password", "Contraseña");`)
		},
	},
	{
		name: "cli-flags", file: "run.sh", syms: "~#%.-",
		assign:       func(k, v string) string { return "app serve --" + k + "=" + v + " --port 8080" },
		passwordKeys: []string{"password", "db-password"},
		secretKeys:   []string{"api-key", "auth-token"},
		extra: func(g *Gen, s *Syntax) {
			v := g.password(passwordSymbols)
			s.addSecret("generic-password", "app serve --password "+sq(v)+" --host db", v)
			v = g.password("~#%.-")
			s.addSecret("generic-password", "mysql -h db -u root -p"+v+" app < dump.sql", v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "mysqldump -uroot -p'"+v+"' --all-databases > all.sql", v)
			v = g.password(passwordSymbols)
			s.addSecret("generic-password", "sshpass -p "+sq(v)+" ssh deploy@build.internal", v)
			v = g.password("~#%.-")
			s.addSecret("generic-password", "keyward server -dev -password "+v, v)
			v = g.token()
			s.addSecret("generic-secret", "cli login --api-key "+v+" --org acme", v)
			s.miss("mysql -u root -p app", `mysql -u root -p"$MYSQL_PWD" app`, "app serve --password-file /etc/app/pw",
				`app serve --password "$DB_PASSWORD"`, "ssh -p 2222 deploy@build.internal", "docker run -p 8080:80 app",
				"mysql -h db -P 3306 -u app app", "  --password string   password for the admin user")
		},
	},
}

func (s *Syntax) add(rule, text string) {
	// the value is what follows the last = or : on the last line
	last := text
	if i := strings.LastIndexByte(strings.TrimRight(text, "\n"), '\n'); i >= 0 {
		last = text[i+1:]
	}
	last = strings.TrimRight(last, "\n")
	k := strings.LastIndexAny(last, "=:")
	s.addSecret(rule, text, strings.TrimSpace(last[k+1:]))
}

func (s *Syntax) addSecret(rule, text, secret string) {
	s.Samples = append(s.Samples, Sample{Rule: rule, Text: text, Secret: secret})
}

func (s *Syntax) miss(lines ...string) { s.NearMisses = append(s.NearMisses, lines...) }

// Syntaxes returns every syntax the generic rules must understand, with
// credentials and near-misses generated from seed.
func Syntaxes(seed uint64) []Syntax {
	g := NewGen(seed + 11)
	var out []Syntax
	for _, f := range syntaxForms {
		s := Syntax{Name: f.name, File: f.file}
		syms := f.syms
		if syms == "" {
			syms = passwordSymbols
		}
		for _, k := range f.passwordKeys {
			v := g.password(syms)
			s.addSecret("generic-password", f.assign(k, v), v)
		}
		for _, k := range f.secretKeys {
			v := g.token()
			s.addSecret("generic-secret", f.assign(k, v), v)
		}
		pk := f.passwordKeys[0]
		for _, p := range Placeholders {
			s.miss(f.assign(pk, p))
		}
		for _, n := range lookAlikes {
			s.miss(f.assign(style(n, pk), g.password(syms)))
		}
		if f.extra != nil {
			f.extra(g, &s)
		}
		out = append(out, s)
	}
	out = append(out, Syntax{Name: "translations", File: "es_ES.json", NearMisses: []string{
		// what translation files say about passwords and tokens: field labels
		`  "LABEL_PASSWORD": "Contraseña",`, `  "LABEL_PASSWORD_REPEAT": "Şifrəni Təkrarla",`,
		`  "LABEL_CURRENT_PASSWORD": "Huidig wachtwoord",`, `  "FORGOT_PASSWORD": "Şifrənizi unutdunuz?",`,
		`  "SHOW_PWD_TOOLTIP": "Şifrəni göstər",`, `  "MANDATORY_PASSWORD_REPEAT": "Toista salasanasi.",`,
		`  "LABEL_TWO_FACTOR_AUTH_TOKEN": "2FAトークン",`, `  "PASSWORDS_NOT_MATCHING": "Şifrələr uyğunlaşmır",`,
		`  "INITIAL_TOKEN_TOOLTIP": "输入的令牌需要有6位数字。",`, `  "SHOW_PASSWORD_ADVICE": "VIS_KODEORD_RÅD",`,
		`  "password": "Mot de passe",`, `  "newPassword": "Nieuw wachtwoord",`, `  "TITLE_CHANGE_PASSWORD": "Passwort ändern",`,
	}})
	return append(out, unlabelledKeys(g)...)
}

// unlabelledKeys are AWS-shaped secret keys under generic names. In a
// configuration file, or next to another credential, one is an
// aws-secret-access-key-unlabelled finding; alone in code it is only a
// generic secret; and a 40-character base64 value under a name that is not
// a secret's is nothing at all.
func unlabelledKeys(g *Gen) []Syntax {
	const rule = "aws-secret-access-key-unlabelled"
	slash := func() string { return "/" + g.aws40()[1:] }
	var props, yml, env, near, alone Syntax
	props = Syntax{Name: "unlabelled-key-properties", File: "aws.properties"}
	v := g.aws40()
	props.addSecret(rule, "secret.key="+v, v)
	v = slash()
	props.addSecret(rule, "storage.secret = "+v, v)
	yml = Syntax{Name: "unlabelled-key-yaml", File: "application.yml"}
	v = g.aws40()
	yml.addSecret(rule, "storage:\n  app_id: 4711\n  app_secret: "+v, v)
	env = Syntax{Name: "unlabelled-key-dotenv", File: ".env.production"}
	v = g.aws40()
	env.addSecret(rule, "APP_SECRET="+v, v)
	near = Syntax{Name: "unlabelled-key-near-credential", File: "deploy.py"}
	id := j("AK", "IA") + g.S(16, b32)
	near.addSecret("aws-access-key-id", "ACCESS_KEY = "+q(id), id)
	v = g.aws40()
	near.addSecret(rule, "SECRET = "+q(v), v)
	alone = Syntax{Name: "unlabelled-key-alone", File: "client.go"}
	v = g.aws40()
	alone.addSecret("generic-secret", "	appSecret := "+q(v), v)
	w := g.aws40()
	for _, s := range []*Syntax{&props, &yml, &env, &near, &alone} {
		s.miss("checksum="+w, "build.id: "+w, "commit = "+q(g.S(40, hexL)), "image_digest: "+w, "nonce = "+q(w),
			"secret.key="+j("wJalrXUtnFEMI/K7MDENG/", "bPxRfiCY", "EXAMPLEKEY"), "	sum := "+q(w), "// "+w)
	}
	return []Syntax{props, yml, env, near, alone}
}
