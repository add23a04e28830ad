#!/bin/sh
# Runestone installer: downloads a release archive from GitHub, verifies its
# SHA-256 against the release's checksums.txt and installs the `runestone`
# binary.
#
#   curl -fsSL https://raw.githubusercontent.com/jmanhype/runestone/main/install.sh | sh
#   curl -fsSL https://raw.githubusercontent.com/jmanhype/runestone/main/install.sh | sh -s -- --version v0.1.0 --dir ~/bin
#
# Run with --help for the options. Environment variables:
#   RUNESTONE_INSTALL_DIR    install directory (same as --dir; the flag wins)
#   RUNESTONE_VERSION        release tag to install (same as --version; the flag wins)
#   RUNESTONE_DOWNLOAD_BASE  replaces https://github.com/jmanhype/runestone/releases/download
#                            (files are fetched from $RUNESTONE_DOWNLOAD_BASE/<tag>/<file>);
#                            for mirrors and tests
#   RUNESTONE_LATEST_URL     replaces https://github.com/jmanhype/runestone/releases/latest
#                            (a URL that redirects to .../<tag>); for mirrors and tests
set -eu

REPO="jmanhype/runestone"
GITHUB_RELEASES="https://github.com/${REPO}/releases"
GO_INSTALL="go install github.com/${REPO}/cmd/runestone@latest"

BIN="runestone"
TMP_DIR=""

usage() {
	cat <<EOF
Install runestone, the local OpenAI-compatible LLM gateway.

Usage: install.sh [--version vX.Y.Z] [--dir DIR] [--dry-run]

Options:
  --version TAG  release to install (default: the latest release)
  --dir DIR      install directory (default: \$RUNESTONE_INSTALL_DIR, else
                 /usr/local/bin when writable, else ~/.local/bin)
  --dry-run      print what would be done; download and install nothing
  -h, --help     show this help

Environment:
  RUNESTONE_INSTALL_DIR    same as --dir
  RUNESTONE_VERSION        same as --version
  RUNESTONE_DOWNLOAD_BASE  download base URL (default ${GITHUB_RELEASES}/download);
                           files are fetched from <base>/<tag>/<file>
  RUNESTONE_LATEST_URL     URL that redirects to the latest tag
                           (default ${GITHUB_RELEASES}/latest)

Without curl or wget, or on an unsupported platform, build from source instead:
  ${GO_INSTALL}
EOF
}

say() {
	printf '%s\n' "$*"
}

warn() {
	printf 'install.sh: %s\n' "$*" >&2
}

die() {
	warn "error: $*"
	exit 1
}

usage_error() {
	warn "error: $*"
	warn "run 'install.sh --help' for usage"
	exit 2
}

# A download could not be done: point at the source install and stop.
die_download() {
	warn "error: $*"
	warn "you can build runestone from source instead (needs Go 1.26+):"
	warn "  ${GO_INSTALL}"
	exit 1
}

cleanup() {
	if [ -n "$TMP_DIR" ] && [ -d "$TMP_DIR" ]; then
		rm -rf "$TMP_DIR"
	fi
}

has() {
	command -v "$1" >/dev/null 2>&1
}

detect_os() {
	os=$(uname -s 2>/dev/null || echo unknown)
	case "$os" in
	Linux | linux) echo linux ;;
	Darwin | darwin) echo darwin ;;
	MINGW* | MSYS* | CYGWIN* | Windows_NT)
		die_download "Windows is not supported by install.sh; download the .zip from ${GITHUB_RELEASES}"
		;;
	*) die_download "unsupported operating system: $os (supported: Linux, macOS)" ;;
	esac
}

detect_arch() {
	arch=$(uname -m 2>/dev/null || echo unknown)
	case "$arch" in
	x86_64 | amd64) echo amd64 ;;
	aarch64 | arm64) echo arm64 ;;
	*) die_download "unsupported CPU architecture: $arch (supported: x86_64/amd64, aarch64/arm64)" ;;
	esac
}

# normalize_tag v1.2.3|1.2.3 -> v1.2.3
normalize_tag() {
	case "$1" in
	v*) tag=$1 ;;
	*) tag="v$1" ;;
	esac
	case "$tag" in
	v[0-9]*) ;;
	*) usage_error "invalid version '$1' (expected vX.Y.Z)" ;;
	esac
	case "$tag" in
	*[!0-9A-Za-z.+-]*) usage_error "invalid version '$1' (expected vX.Y.Z)" ;;
	esac
	echo "$tag"
}

# fetch URL FILE: download URL to FILE with curl or wget.
fetch() {
	if [ "$DOWNLOADER" = curl ]; then
		curl -fsSL --retry 2 -o "$2" "$1"
	else
		wget -q --tries=3 -O "$2" "$1"
	fi
}

# latest_tag: follow the "latest release" redirect and print the tag it ends at.
latest_tag() {
	if [ "$DOWNLOADER" = curl ]; then
		final=$(curl -fsSLI --retry 2 -o /dev/null -w '%{url_effective}' "$LATEST_URL") || return 1
	else
		# wget prints the redirect chain (with -S) on stderr; keep the last Location.
		final=$(wget -S --spider --tries=2 "$LATEST_URL" 2>&1 | sed -n 's/^ *[Ll]ocation: *\([^ ]*\).*/\1/p' | tail -n 1 | tr -d '\r')
	fi
	final=${final%/}
	tag=${final##*/}
	case "$tag" in
	*[!0-9A-Za-z.+-]*) return 1 ;;
	v[0-9]*) echo "$tag" ;;
	*) return 1 ;;
	esac
}

# sha256 FILE: print the hex SHA-256 of FILE.
sha256() {
	if has sha256sum; then
		sha256sum "$1" | awk '{print $1}'
	elif has shasum; then
		shasum -a 256 "$1" | awk '{print $1}'
	elif has openssl; then
		openssl dgst -sha256 -r "$1" | awk '{print $1}'
	else
		return 1
	fi
}

# default_dir: /usr/local/bin when we can write there, else ~/.local/bin.
default_dir() {
	if [ -d /usr/local/bin ] && [ -w /usr/local/bin ]; then
		echo /usr/local/bin
	elif [ ! -e /usr/local/bin ] && [ "$(id -u)" = 0 ]; then
		echo /usr/local/bin
	else
		[ -n "${HOME:-}" ] || die "HOME is not set; pass --dir DIR"
		echo "${HOME}/.local/bin"
	fi
}

on_path() {
	case ":${PATH:-}:" in
	*":$1:"* | *":$1/:"*) return 0 ;;
	*) return 1 ;;
	esac
}

main() {
	version="${RUNESTONE_VERSION:-}"
	dir="${RUNESTONE_INSTALL_DIR:-}"
	dir_explicit=false
	[ -n "$dir" ] && dir_explicit=true
	dry_run=false

	while [ $# -gt 0 ]; do
		case "$1" in
		-h | --help)
			usage
			exit 0
			;;
		--version)
			if [ $# -lt 2 ] || [ -z "$2" ]; then
				usage_error "--version needs a value, e.g. --version v0.1.0"
			fi
			version=$2
			shift 2
			;;
		--version=*)
			version=${1#--version=}
			[ -n "$version" ] || usage_error "--version needs a value, e.g. --version v0.1.0"
			shift
			;;
		--dir)
			if [ $# -lt 2 ] || [ -z "$2" ]; then
				usage_error "--dir needs a value, e.g. --dir ~/bin"
			fi
			dir=$2
			dir_explicit=true
			shift 2
			;;
		--dir=*)
			dir=${1#--dir=}
			[ -n "$dir" ] || usage_error "--dir needs a value, e.g. --dir ~/bin"
			dir_explicit=true
			shift
			;;
		--dry-run)
			dry_run=true
			shift
			;;
		*) usage_error "unknown argument: $1" ;;
		esac
	done

	os=$(detect_os)
	arch=$(detect_arch)

	DOWNLOAD_BASE="${RUNESTONE_DOWNLOAD_BASE:-${GITHUB_RELEASES}/download}"
	DOWNLOAD_BASE=${DOWNLOAD_BASE%/}
	LATEST_URL="${RUNESTONE_LATEST_URL:-${GITHUB_RELEASES}/latest}"

	if [ -n "$version" ]; then
		tag=$(normalize_tag "$version")
	else
		tag=""
	fi

	if [ -z "$dir" ]; then
		dir=$(default_dir)
	fi

	if $dry_run; then
		if [ -n "$tag" ]; then
			shown_tag=$tag
			archive="${BIN}_${tag#v}_${os}_${arch}.tar.gz"
		else
			shown_tag="<latest>"
			archive="${BIN}_<version>_${os}_${arch}.tar.gz"
			say "would resolve the latest release from ${LATEST_URL}"
		fi
		say "would download ${DOWNLOAD_BASE}/${shown_tag}/${archive}"
		say "would download ${DOWNLOAD_BASE}/${shown_tag}/checksums.txt"
		say "would verify the SHA-256 of ${archive} against checksums.txt"
		say "would install ${BIN} (${os}/${arch}) to ${dir}/${BIN}"
		say "dry run: nothing downloaded or installed"
		exit 0
	fi

	if has curl; then
		DOWNLOADER=curl
	elif has wget; then
		DOWNLOADER=wget
	else
		die_download "neither curl nor wget is installed, so nothing can be downloaded"
	fi
	has tar || die "tar is required to unpack the release archive"

	if [ -z "$tag" ]; then
		say "Resolving the latest release from ${LATEST_URL} ..."
		tag=$(latest_tag) || die_download "could not resolve the latest release from ${LATEST_URL} (offline, or no release published yet?); pass --version vX.Y.Z to pick one"
	fi

	archive="${BIN}_${tag#v}_${os}_${arch}.tar.gz"
	url="${DOWNLOAD_BASE}/${tag}"

	TMP_DIR=$(mktemp -d 2>/dev/null || mktemp -d -t runestone-install)
	trap cleanup EXIT
	trap 'cleanup; exit 130' INT
	trap 'cleanup; exit 143' TERM

	say "Downloading runestone ${tag} for ${os}/${arch} ..."
	fetch "${url}/${archive}" "${TMP_DIR}/${archive}" ||
		die_download "could not download ${url}/${archive}"
	fetch "${url}/checksums.txt" "${TMP_DIR}/checksums.txt" ||
		die_download "could not download ${url}/checksums.txt"

	expected=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1; exit }' "${TMP_DIR}/checksums.txt")
	[ -n "$expected" ] || die "checksum verification failed: ${archive} is not listed in checksums.txt; refusing to install"
	actual=$(sha256 "${TMP_DIR}/${archive}") ||
		die "cannot verify the checksum: none of sha256sum, shasum or openssl is installed; refusing to install"
	expected=$(printf '%s' "$expected" | tr 'A-F' 'a-f')
	if [ "$expected" != "$actual" ]; then
		warn "error: checksum mismatch for ${archive}"
		warn "  expected sha256: ${expected}"
		warn "  actual sha256:   ${actual}"
		die "the download is corrupt or has been tampered with; refusing to install (nothing was installed)"
	fi
	say "Verified SHA-256 checksum of ${archive}"

	mkdir "${TMP_DIR}/x"
	tar -xzf "${TMP_DIR}/${archive}" -C "${TMP_DIR}/x" ||
		die "could not unpack ${archive}"
	[ -f "${TMP_DIR}/x/${BIN}" ] || die "${archive} does not contain a ${BIN} binary"

	if [ ! -d "$dir" ]; then
		mkdir -p "$dir" 2>/dev/null || {
			if $dir_explicit; then
				die "cannot create install directory ${dir}"
			fi
			dir="${HOME:?HOME is not set; pass --dir DIR}/.local/bin"
			mkdir -p "$dir" || die "cannot create install directory ${dir}"
		}
	fi
	if [ ! -w "$dir" ]; then
		if $dir_explicit; then
			die "install directory ${dir} is not writable (rerun with sudo, or pick another with --dir)"
		fi
		fallback="${HOME:?HOME is not set; pass --dir DIR}/.local/bin"
		warn "${dir} is not writable; installing to ${fallback} instead"
		dir=$fallback
		mkdir -p "$dir" || die "cannot create install directory ${dir}"
	fi

	# Copy next to the target, then rename: never leaves a half-written binary.
	staged="${dir}/.${BIN}.install.$$"
	cp "${TMP_DIR}/x/${BIN}" "$staged" || die "cannot write to ${dir}"
	chmod 0755 "$staged"
	mv -f "$staged" "${dir}/${BIN}" || {
		rm -f "$staged"
		die "cannot install ${dir}/${BIN}"
	}

	say "Installed ${dir}/${BIN}"
	if installed=$("${dir}/${BIN}" version 2>&1); then
		say "  $(printf '%s\n' "$installed" | head -n 1)"
	else
		warn "warning: ${dir}/${BIN} was installed but 'runestone version' failed: ${installed}"
	fi

	if ! on_path "$dir"; then
		say ""
		say "${dir} is not on your PATH. Add it, e.g. in ~/.profile:"
		say "  export PATH=\"${dir}:\$PATH\""
		cmd="${dir}/${BIN}"
	else
		cmd="${BIN}"
		other=$(command -v "$BIN" 2>/dev/null || true)
		if [ -n "$other" ] && [ "$other" != "${dir}/${BIN}" ]; then
			warn "note: another runestone at ${other} comes first on your PATH"
		fi
	fi

	say ""
	say "Next step: start the gateway (offline mock provider works out of the box):"
	say "  ${cmd} serve"
	say "then point any OpenAI SDK at http://127.0.0.1:4001/v1"
}

main "$@"
