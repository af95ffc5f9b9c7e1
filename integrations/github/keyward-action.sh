#!/usr/bin/env bash
# keyward-action.sh: the logic of the Keyward GitHub Action (action.yml in
# this directory, and revoke/action.yml). Steps:
#
#   keyward-action.sh install   put keyward on PATH (verified download)
#   keyward-action.sh login     log in with the job's OIDC token and export
#                               the requested secrets, masked
#   keyward-action.sh revoke    revoke the token and its leases (post step)
#
# Inputs arrive as INPUT_* variables (set by action.yml), the runner's files
# as GITHUB_ENV, GITHUB_OUTPUT, GITHUB_PATH and RUNNER_TEMP. Nothing here
# prints a token or a secret value: keyward masks them first.
set -euo pipefail

die() { echo "::error title=keyward::$*" >&2; exit 1; }

# append NAME VALUE to $GITHUB_ENV (values here are never secrets).
set_env() { printf '%s=%s\n' "$1" "$2" >>"$GITHUB_ENV"; export "$1=$2"; }

platform() {
	local os arch
	case "$(uname -s)" in
	Linux) os=linux ;;
	Darwin) os=darwin ;;
	MINGW* | MSYS* | CYGWIN*) os=windows ;;
	*) die "unsupported runner OS $(uname -s)" ;;
	esac
	case "$(uname -m)" in
	x86_64 | amd64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) die "unsupported runner architecture $(uname -m)" ;;
	esac
	echo "$os-$arch"
}

sha256() {
	if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

cmd_install() {
	local version="${INPUT_VERSION:-latest}"
	if [ "$version" = "installed" ]; then
		command -v keyward >/dev/null || die "version: installed, but keyward is not on PATH"
		keyward version
		return
	fi
	local base="${INPUT_RELEASE_URL:-}"
	if [ -z "$base" ]; then
		if [ "$version" = "latest" ]; then
			base="https://github.com/keyward/keyward/releases/latest/download"
		else
			base="https://github.com/keyward/keyward/releases/download/$version"
		fi
	fi
	local plat name dir
	plat="$(platform)"
	name="keyward-$plat"
	[ "${plat%%-*}" = windows ] && name="$name.exe"
	dir="${RUNNER_TEMP:?}/keyward-bin"
	mkdir -p "$dir"
	curl -fsSL --retry 3 -o "$dir/SHA256SUMS" "$base/SHA256SUMS" || die "download $base/SHA256SUMS"
	curl -fsSL --retry 3 -o "$dir/$name" "$base/$name" || die "download $base/$name"
	local want got
	want="$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1 }' "$dir/SHA256SUMS")"
	[ -n "$want" ] || die "SHA256SUMS lists no $name"
	got="$(sha256 "$dir/$name")"
	[ "$want" = "$got" ] || die "checksum mismatch for $name: SHA256SUMS says $want, the download is $got"
	local bin="$dir/keyward"
	[ "${plat%%-*}" = windows ] && bin="$dir/keyward.exe"
	mv "$dir/$name" "$bin"
	chmod 0755 "$bin"
	echo "$dir" >>"${GITHUB_PATH:?}"
	export PATH="$dir:$PATH"
	keyward version
}

cmd_login() {
	[ -n "${INPUT_URL:-}" ] || die "input url is required"
	[ -n "${INPUT_ROLE:-}" ] || die "input role is required"
	set_env KEYWARD_ADDR "$INPUT_URL"
	if [ -n "${INPUT_CA_CERT:-}" ]; then
		local ca="$INPUT_CA_CERT"
		case "$ca" in
		*"-----BEGIN"*)
			ca="${RUNNER_TEMP:?}/keyward-ca.pem"
			printf '%s\n' "$INPUT_CA_CERT" >"$ca"
			;;
		esac
		[ -r "$ca" ] || die "ca-cert: $ca is not a readable file"
		set_env KEYWARD_CACERT "$ca"
	fi
	# The token goes to ~/.keyward-token (0600), where later keyward
	# commands and the revoke step find it; it is never in the log or in
	# the environment of later steps.
	keyward ci login -provider github -role "$INPUT_ROLE" \
		-mount "${INPUT_MOUNT:-jwt}" -audience "${INPUT_AUDIENCE:-$INPUT_URL}" >/dev/null
	echo "Logged in to $INPUT_URL as role $INPUT_ROLE."

	local -a refs=()
	local line
	while IFS= read -r line || [ -n "$line" ]; do
		line="${line#"${line%%[![:space:]]*}"}" # trim leading space
		line="${line%"${line##*[![:space:]]}"}" # and trailing
		case "$line" in "" | "#"*) continue ;; esac
		refs+=(--env "$line")
	done <<<"${INPUT_SECRETS:-}"
	if [ "${#refs[@]}" -eq 0 ]; then
		echo "No secrets requested."
		return
	fi
	local -a dest
	case "${INPUT_EXPORT_ENV:-true}" in
	true) dest=(-github-env "${GITHUB_ENV:?}") ;;
	false)
		local dir="${RUNNER_TEMP:?}/keyward-secrets"
		dest=(-dir "$dir")
		echo "secrets-dir=$dir" >>"${GITHUB_OUTPUT:?}"
		;;
	*) die "export-env must be true or false, not ${INPUT_EXPORT_ENV}" ;;
	esac
	keyward ci export "${dest[@]}" "${refs[@]}"
}

cmd_revoke() {
	if ! command -v keyward >/dev/null; then
		echo "keyward is not installed: nothing to revoke."
		return
	fi
	keyward ci revoke
}

case "${1:-}" in
install) cmd_install ;;
login) cmd_login ;;
revoke) cmd_revoke ;;
*) die "usage: keyward-action.sh install|login|revoke" ;;
esac
