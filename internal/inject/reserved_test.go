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
