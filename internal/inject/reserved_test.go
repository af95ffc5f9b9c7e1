package inject_test

import (
	"testing"

	"github.com/keyward/keyward/internal/inject"
)

func TestReserved(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"LD_PRELOAD", true},
		{"ld_library_path", true},
		{"DYLD_INSERT_LIBRARIES", true},
		{"PATH", true},
		{"path", true}, // zsh ties $path to $PATH
		{"HOME", true},
		{"SHELL", true},
		{"ENV", true},
		{"BASH_ENV", true},
		{"BASH_FUNC_x%%", true},
		{"IFS", true},
		{"PS4", true},
		{"SHELLOPTS", true},
		{"NODE_OPTIONS", true},
		{"PYTHONPATH", true},
		{"PYTHONSTARTUP", true},
		{"PERL5OPT", true},
		{"PERL5LIB", true},
		{"RUBYOPT", true},
		{"JAVA_TOOL_OPTIONS", true},
		{"_JAVA_OPTIONS", true},
		{"GIT_SSH_COMMAND", true},
		{"GIT_CONFIG_COUNT", true},
		{"KEYWARD_TOKEN", true},
		{"KEYWARD_SECRETS_DIR", true},
		{"VAULT_ADDR", true},
		{"BAO_TOKEN", true},
		{"GLIBC_TUNABLES", true},
		{"GOFLAGS", true},
		{"XDG_CONFIG_HOME", true},
		{"OPENSSL_CONF", true},
		{"https_proxy", true},
		{"KUBECONFIG", true},
		{"DB_PASSWORD", false},
		{"API_KEY", false},
		{"AWS_SECRET_ACCESS_KEY", false},
		{"GITHUB_TOKEN", false},
		{"NPM_TOKEN", false},
		{"APP_LD_PRELOAD", false},
		{"APP_PATH", false},
		{"PATHS", false},
		{"HOMEPAGE_URL", false},
		{"LD", true},
		{"LDAP_PASSWORD", false},
	}
	for _, tt := range tests {
		if got := inject.Reserved(tt.name); got != tt.want {
			t.Errorf("Reserved(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Names a tool reads are refused when they come from data without a
// prefix; ordinary secret names are not. Regression (adversarial pass on
// issue 10): TAR_OPTIONS and RSYNC_RSH from a secret ran code in the job.
func TestToolSetting(t *testing.T) {
	for _, name := range []string{"TAR_OPTIONS", "RSYNC_RSH", "CVS_RSH", "SVN_SSH", "ZIPOPT", "KUBE_EDITOR",
		"GH_EDITOR", "GH_PAGER", "PSQL_PAGER", "SYSTEMD_PAGER", "HGRCPATH", "tar_options", "GNUPGHOME",
		"MANPATH", "NODE_PATH", "WGETRC", "ANSIBLE_SSH_ARGS", "TF_CLI_ARGS", "LESSKEY"} {
		if !inject.ToolSetting(name) {
			t.Errorf("ToolSetting(%q) = false, want true", name)
		}
	}
	for _, name := range []string{"DB_PASSWORD", "API_KEY", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "NPM_TOKEN",
		"PGPASSWORD", "MYSQL_PWD", "DATABASE_URL", "TF_VAR_db_password", "SLACK_WEBHOOK_URL", "REDIS_URL"} {
		if inject.ToolSetting(name) || inject.Reserved(name) {
			t.Errorf("%q is refused, want it importable", name)
		}
	}
}
