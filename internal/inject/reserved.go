package inject

import "strings"

// Reserved reports whether setting the variable name (compared without
// regard to case) changes how the child's programs are found, loaded or
// run, or where they and keyward connect: the dynamic loader and libc
// (LD_*, DYLD_*, GCONV_PATH, GLIBC_TUNABLES), shells (PATH, HOME, SHELL,
// ENV, BASH_ENV, IFS, PS4, SHELLOPTS...), interpreters and runtimes
// (NODE_*, PYTHON*, PERL*, RUBY*, JAVA_TOOL_OPTIONS, _JAVA_OPTIONS...),
// build tools and package managers (GOFLAGS, CGO_*, CC, LDFLAGS, CARGO_*,
// PIP_*, NPM_CONFIG_*...), git and the programs tools start (GIT_*,
// EDITOR, PAGER, SSH_ASKPASS), configuration and trust that tools follow
// (XDG_*, KUBECONFIG, OPENSSL_CONF, SSL_CERT_FILE, HTTP_PROXY...) and
// keyward's own settings (KEYWARD_*, VAULT_*, BAO_*).
//
// Whoever sets one of these runs code in the job. A name the user wrote
// is the user's choice; a name taken from data (a secret's field names)
// must not be one of these. The list is not exhaustive: prefix names that
// come from data someone else writes.
func Reserved(name string) bool {
	n := strings.ToUpper(name)
	if reservedNames[n] {
		return true
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

var reservedPrefixes = []string{
	// dynamic loaders: LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, DYLD_INSERT_LIBRARIES
	"LD_", "DYLD_",
	// exported bash functions
	"BASH_FUNC_",
	// interpreters and their package managers: NODE_OPTIONS, npm_config_*,
	// PYTHONPATH, PIP_INDEX_URL, PERL5OPT, RUBYOPT, BUNDLE_GEMFILE,
	// DOTNET_STARTUP_HOOKS and the CLR profilers, LUA_INIT
	"NODE_", "NPM_CONFIG_", "YARN_", "PYTHON", "PIP_", "UV_", "PERL", "RUBY", "BUNDLE_",
	"DOTNET_", "CORECLR_", "COR_", "COMPLUS_", "LUA_",
	// build tools: CGO_LDFLAGS, CARGO_TARGET_<triple>_RUNNER
	"CGO_", "CARGO_",
	// GIT_SSH_COMMAND, GIT_ASKPASS, GIT_CONFIG_*; XDG_CONFIG_HOME moves every
	// tool's configuration
	"GIT_", "XDG_",
	// keyward's own address, token, CA and secrets directory
	"KEYWARD_", "VAULT_", "BAO_",
}

var reservedNames = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`
		PATH HOME SHELL ENV BASH_ENV IFS PS1 PS2 PS3 PS4 PROMPT_COMMAND SHELLOPTS BASHOPTS
		CDPATH GLOBIGNORE FPATH ZDOTDIR HISTFILE INPUTRC TMPDIR TMP TEMP

		GCONV_PATH GLIBC_TUNABLES HOSTALIASES LOCPATH NLSPATH RESOLV_HOST_CONF MALLOC_CONF

		JAVA_TOOL_OPTIONS _JAVA_OPTIONS JDK_JAVA_OPTIONS JAVA_OPTS JAVA_HOME CLASSPATH
		MAVEN_OPTS GRADLE_OPTS GEM_HOME GEM_PATH PHPRC PHP_INI_SCAN_DIR TCLLIBPATH
		R_PROFILE R_PROFILE_USER R_ENVIRON R_ENVIRON_USER

		GOFLAGS GOTOOLCHAIN GOPROXY GOPATH GOROOT GOENV GOBIN GOCACHE GOMODCACHE GOWORK
		GOSUMDB GONOSUMDB GONOSUMCHECK GOPRIVATE GONOPROXY GOINSECURE GOEXPERIMENT GODEBUG
		CC CXX CPP LD AR AS CFLAGS CXXFLAGS CPPFLAGS LDFLAGS MAKEFLAGS MAKE
		RUSTFLAGS RUSTDOCFLAGS RUSTC RUSTC_WRAPPER RUSTDOC

		EDITOR VISUAL PAGER MANPAGER LESSOPEN LESSCLOSE BROWSER
		SSH_ASKPASS SSH_AUTH_SOCK SUDO_ASKPASS

		KUBECONFIG DOCKER_HOST DOCKER_CONFIG AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
		GOOGLE_APPLICATION_CREDENTIALS CLOUDSDK_CONFIG
		OPENSSL_CONF OPENSSL_ENGINES OPENSSL_MODULES SSL_CERT_FILE SSL_CERT_DIR
		CURL_CA_BUNDLE REQUESTS_CA_BUNDLE
		HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY FTP_PROXY
	`) {
		m[n] = true
	}
	return m
}()

// ToolSetting reports whether name (compared without regard to case) has
// the shape of a setting some program reads to decide what it runs, loads
// or connects to, beyond the exact names Reserved knows: TAR_OPTIONS,
// RSYNC_RSH, CVS_RSH, SVN_SSH, ZIPOPT, KUBE_EDITOR, GH_PAGER, PSQL_PAGER,
// SYSTEMD_PAGER, HGRCPATH and the like, by their suffix (_OPTIONS, _OPTS,
// ...OPT, _FLAGS, _ARGS, _RSH, _SSH, _EDITOR, _PAGER, _ASKPASS, _COMMAND,
// _CMD, _SHELL, _HOOK(S), _PROGRAM, _PRELOAD, _PLUGINS, ...PATH, ...RC,
// ...HOME, ...CONF, _CONFIG, _CONFIG_FILE) or by the tool's prefix.
//
// It is broader than Reserved on purpose, and meant for names taken from
// data with no prefix of the user's: such a name can be anything a tool in
// the job reads. Under a prefix the user chose (APP_TAR_OPTIONS), no tool
// reads it, so only Reserved applies.
func ToolSetting(name string) bool {
	n := strings.ToUpper(name)
	for _, s := range toolSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	for _, p := range toolPrefixes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

var toolSuffixes = []string{
	"_OPTIONS", "_OPTS", "OPT", "_FLAGS", "_ARGS", "_RSH", "_SSH", "_EDITOR", "_PAGER", "_ASKPASS",
	"_COMMAND", "_CMD", "_SHELL", "_HOOK", "_HOOKS", "_PROGRAM", "_PRELOAD", "_PLUGINS",
	"PATH", "RC", "HOME", "CONF", "_CONFIG", "_CONFIG_FILE",
}

var toolPrefixes = []string{
	"TAR_", "RSYNC_", "CVS_", "SVN_", "HG", "KUBE_", "GH_", "PSQL_", "SYSTEMD_", "ANSIBLE_",
	"GNUPG", "GPG_", "DOCKER_", "PODMAN_", "CONTAINERS_", "LESS", "ZIP", "UNZIP", "MANOPT",
}
