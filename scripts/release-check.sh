#!/usr/bin/env bash
# Release dry run: installs GoReleaser (scripts/install-goreleaser.sh), runs
# `goreleaser check`, then a snapshot release into dist/ that builds every
# target (linux/darwin/windows x amd64/arm64), the archives, checksums.txt and
# the Homebrew cask, publishing nothing. Finally it checks the artifacts and
# feeds the real archives to scripts/test-install.sh.
#
# Docker: no Docker engine runs in CI, so by default the dockers_v2 step runs
# against a fake `docker` (put first on PATH) that checks what GoReleaser hands
# to `docker buildx build`: the platforms, the image tags, and that every
# `COPY ${TARGETPLATFORM}/...` source of Dockerfile.goreleaser exists in the
# build context as a binary of the right CPU architecture. No image is built.
#   --real-docker   use the real docker (needs a daemon with buildx)
#   --skip-docker   pass --skip=docker instead
#   --no-install-test  skip scripts/test-install.sh
#
# Needs: Go, git (a repository with at least one commit), network access to
# the Go module proxy. Slow: the first run compiles GoReleaser (minutes); the
# snapshot build itself compiles runestone six times.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

install_test=true
docker_mode=fake
for arg in "$@"; do
	case "$arg" in
	--no-install-test) install_test=false ;;
	--real-docker) docker_mode=real ;;
	--skip-docker) docker_mode=skip ;;
	-h | --help)
		awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$root/scripts/release-check.sh"
		exit 0
		;;
	*)
		echo "release-check: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

log() { printf '\n==> %s\n' "$*" >&2; }
fail() {
	printf 'release-check: FAIL: %s\n' "$*" >&2
	exit 1
}

# write_fake_docker DIR: a stand-in `docker` for the dockers_v2 pipe (see top).
write_fake_docker() {
	mkdir -p "$1/bin"
	cat >"$1/bin/docker" <<'SHIM'
#!/usr/bin/env bash
# Fake docker for scripts/release-check.sh: validates `docker buildx build`
# input instead of building. Logs every call to $FAKE_DOCKER_LOG.
set -euo pipefail
echo "docker $*" >>"${FAKE_DOCKER_LOG:?}"
fail() { echo "fake docker: $*" >&2; echo "FAIL $*" >>"$FAKE_DOCKER_LOG"; exit 1; }
case "$*" in
info*) exit 1 ;; # "no daemon": GoReleaser then does one multi-platform build
"buildx inspect"*) printf 'Name: fake\nDriver: docker-container\n'; exit 0 ;;
"buildx build "*) ;;
*) fail "unsupported call: docker $*" ;;
esac
shift 2
platforms=""
while [ $# -gt 0 ]; do
	case "$1" in
	--platform) platforms=$2; shift 2 ;;
	--platform=*) platforms=${1#*=}; shift ;;
	*) shift ;;
	esac
done
[ -f Dockerfile ] || fail "no Dockerfile in the build context $PWD"
[ -n "$platforms" ] || fail "no --platform"
srcs=$(sed -n 's/^COPY[[:space:]]\{1,\}\${TARGETPLATFORM}\/\([^[:space:]]*\).*/\1/p' Dockerfile)
[ -n "$srcs" ] || fail "Dockerfile has no COPY \${TARGETPLATFORM}/... line"
for p in ${platforms//,/ }; do
	for f in $srcs; do
		[ -f "$p/$f" ] || fail "build context lacks $p/$f (COPY \${TARGETPLATFORM}/$f) for platform $p"
		machine=$(od -An -tx1 -j18 -N1 "$p/$f" | tr -d ' \n')
		case "$p:$machine" in
		linux/amd64:3e | linux/arm64:b7) ;;
		*) fail "$p/$f is not a linux ${p#*/} ELF binary (e_machine=$machine)" ;;
		esac
		echo "OK context $p/$f" >>"$FAKE_DOCKER_LOG"
	done
done
printf 'sha256:%064d' 0 >id.txt
SHIM
	chmod +x "$1/bin/docker"
}

t0=$SECONDS

[ -f cmd/runestone/main.go ] || fail "cmd/runestone/main.go does not exist yet"
for f in README.md LICENSE; do
	[ -f "$f" ] || fail "$f is missing (the release archives include it)"
done
git rev-parse --verify -q HEAD >/dev/null ||
	fail "GoReleaser needs a git repository with at least one commit"

log "installing GoReleaser"
goreleaser="$("$root/scripts/install-goreleaser.sh")"
"$goreleaser" --version 2>/dev/null | sed -n 's/^GitVersion:/goreleaser/p' >&2

log "goreleaser check"
"$goreleaser" check

# Without a Docker engine the Dockerfiles are at least linted (instruction
# syntax, flags, ports) with the npm package dockerfile-utils, when npm works.
log "linting Dockerfile and Dockerfile.goreleaser"
if command -v npm >/dev/null 2>&1; then
	lint_dir="$(mktemp -d "${TMPDIR:-/tmp}/runestone-dflint.XXXXXX")"
	if npm install --prefix "$lint_dir" --no-audit --no-fund --silent dockerfile-utils@0.16.3 >/dev/null 2>&1; then
		for f in Dockerfile Dockerfile.goreleaser; do
			"$lint_dir/node_modules/.bin/dockerfile-utils" lint "$f" || {
				rm -rf "$lint_dir"
				fail "$f has lint errors (above)"
			}
		done
		echo "release-check: Dockerfiles lint clean (dockerfile-utils)" >&2
	else
		echo "release-check: warning: could not install dockerfile-utils from npm; Dockerfile lint skipped" >&2
	fi
	rm -rf "$lint_dir"
else
	echo "release-check: npm not found; Dockerfile lint skipped" >&2
fi

skip=publish,sign,sbom
fake_dir=""
case "$docker_mode" in
skip) skip="docker,$skip" ;;
fake)
	fake_dir="$(mktemp -d "${TMPDIR:-/tmp}/runestone-fake-docker.XXXXXX")"
	trap 'rm -rf "$fake_dir"' EXIT
	write_fake_docker "$fake_dir"
	export PATH="$fake_dir/bin:$PATH" FAKE_DOCKER_LOG="$fake_dir/docker.log"
	;;
esac

log "goreleaser release --snapshot --clean --skip=$skip (docker: $docker_mode)"
t1=$SECONDS
# --snapshot already implies no publishing; --skip makes it explicit.
"$goreleaser" release --snapshot --clean --skip="$skip"
build_secs=$((SECONDS - t1))

log "checking dist/"
[ -f dist/checksums.txt ] || fail "dist/checksums.txt missing"
version="$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' dist/metadata.json | head -n 1)"
[ -n "$version" ] || fail "cannot read the snapshot version from dist/metadata.json"
expected=0
for os in linux darwin windows; do
	for arch in amd64 arm64; do
		ext=tar.gz
		[ "$os" = windows ] && ext=zip
		name="runestone_${version}_${os}_${arch}.${ext}"
		[ -f "dist/$name" ] || fail "missing archive dist/$name"
		grep -q "  $name\$" dist/checksums.txt || fail "$name not listed in dist/checksums.txt"
		expected=$((expected + 1))
	done
done
(cd dist && sha256sum -c --quiet checksums.txt) || fail "dist/checksums.txt does not match the archives"
# (listings captured first: `grep -q` in a pipe would SIGPIPE tar under pipefail)
listing="$(tar -tzf "dist/runestone_${version}_linux_amd64.tar.gz")"
for f in runestone README.md LICENSE; do
	grep -qx "$f" <<<"$listing" || fail "linux archive lacks $f"
done
if command -v unzip >/dev/null 2>&1; then
	listing="$(unzip -l "dist/runestone_${version}_windows_amd64.zip")"
	grep -q ' runestone\.exe$' <<<"$listing" || fail "windows zip has no runestone.exe"
fi
ls dist/homebrew/Casks/runestone.rb >/dev/null 2>&1 || fail "Homebrew cask dist/homebrew/Casks/runestone.rb was not generated"

if [ "$docker_mode" = fake ]; then
	if grep -q '^FAIL' "$FAKE_DOCKER_LOG"; then
		fail "fake docker: $(grep -m 1 '^FAIL' "$FAKE_DOCKER_LOG")"
	fi
	build_line="$(grep '^docker buildx build ' "$FAKE_DOCKER_LOG" | head -n 1)"
	[ -n "$build_line" ] || fail "GoReleaser never ran docker buildx build (dockers_v2 skipped?)"
	for want in "--platform linux/amd64,linux/arm64" "-t ghcr.io/jmanhype/runestone:${version}"; do
		case "$build_line" in
		*"$want"*) ;;
		*) fail "docker buildx build args lack '$want': $build_line" ;;
		esac
	done
	[ "$(grep -c '^OK context' "$FAKE_DOCKER_LOG")" -ge 2 ] || fail "fake docker did not see both platform binaries"
	echo "release-check: dockers_v2 OK (fake docker): ${build_line}" >&2
fi

host_os="$(go env GOHOSTOS)"
host_arch="$(go env GOHOSTARCH)"
bin="$(find dist -path "*${host_os}_${host_arch}*" -type f \( -name runestone -o -name runestone.exe \) | head -n 1)"
[ -n "$bin" ] || fail "no ${host_os}/${host_arch} binary in dist/"
out="$("$bin" version 2>&1)" || fail "$bin version exited non-zero: $out"
case "$out" in
*"$version"*) ;;
*) fail "'runestone version' printed '$out', which lacks the snapshot version $version (ldflags -X main.version not applied?)" ;;
esac
echo "release-check: $expected archives + checksums.txt + cask OK; $bin version -> $(printf '%s' "$out" | head -n 1)" >&2

if $install_test; then
	log "scripts/test-install.sh against the snapshot archives"
	"$root/scripts/test-install.sh" --from-dist
fi

echo "release-check: OK (snapshot $version; snapshot build ${build_secs}s, total $((SECONDS - t0))s)"
