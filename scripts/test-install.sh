#!/usr/bin/env bash
# End-to-end test of install.sh against a local HTTP "release server".
#
# Archives come from one of:
#   (default) a quick local build: `go build` of ./cmd/runestone for the host
#             platform, packed as runestone_0.0.0-test_<os>_<arch>.tar.gz plus
#             checksums.txt, exactly as GoReleaser names them (fast, offline
#             once the module cache is warm);
#   --from-dist  the GoReleaser snapshot already in dist/ (scripts/release-check.sh
#             runs this after its snapshot build);
#   --goreleaser run `goreleaser release --snapshot` first, then use dist/.
#
# The files are served from 127.0.0.1 on a free port by a small python3
# http.server (killed on exit), with a /latest redirect like GitHub's. install.sh
# is run with `sh` (dash on Debian), into temporary directories only.
#
# Prints "install.sh: N passed, M failed"; exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode=build
case "${1:-}" in
"") ;;
--from-dist) mode=dist ;;
--goreleaser) mode=goreleaser ;;
-h | --help)
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$root/scripts/test-install.sh"
	exit 0
	;;
*)
	echo "test-install: unknown argument: $1" >&2
	exit 2
	;;
esac

command -v python3 >/dev/null 2>&1 || { echo "test-install: python3 is required" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || command -v wget >/dev/null 2>&1 ||
	{ echo "test-install: curl or wget is required" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/runestone-install-test.XXXXXX")"
server_pid=""
nobody_home=""
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
	if [ -n "$nobody_home" ]; then rm -rf "$nobody_home"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0
failed=0
pass() {
	passed=$((passed + 1))
	printf 'ok   %s\n' "$*"
}
failt() {
	failed=$((failed + 1))
	printf 'FAIL %s\n' "$*"
}
show() { # show FILE: indent a captured output for a failure report
	sed -n '1,20s/^/       | /p' "$1"
}

case "$(uname -s)" in
Linux) os=linux ;;
Darwin) os=darwin ;;
*) echo "test-install: unsupported host $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
x86_64 | amd64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 ;;
*) echo "test-install: unsupported host arch $(uname -m)" >&2; exit 1 ;;
esac

# ---------------------------------------------------------------- artifacts
if [ "$mode" = goreleaser ]; then
	goreleaser="$("$root/scripts/install-goreleaser.sh")"
	"$goreleaser" release --snapshot --clean --skip=docker,publish,sign,sbom
	mode=dist
fi

if [ "$mode" = dist ]; then
	[ -f dist/checksums.txt ] || { echo "test-install: dist/checksums.txt missing; run scripts/release-check.sh" >&2; exit 1; }
	archive_path="$(find dist -maxdepth 1 -name "runestone_*_${os}_${arch}.tar.gz" | head -n 1)"
	[ -n "$archive_path" ] || { echo "test-install: no ${os}/${arch} archive in dist/" >&2; exit 1; }
	archive="$(basename "$archive_path")"
	version="${archive#runestone_}"
	version="${version%_"${os}"_"${arch}".tar.gz}"
	tag="v${version}"
	rel="$work/srv/download/$tag"
	mkdir -p "$rel"
	cp "$archive_path" dist/checksums.txt "$rel/"
	echo "test-install: using GoReleaser snapshot $archive from dist/"
else
	version="0.0.0-test"
	tag="v${version}"
	archive="runestone_${version}_${os}_${arch}.tar.gz"
	rel="$work/srv/download/$tag"
	stage="$work/stage"
	mkdir -p "$rel" "$stage"
	[ -f cmd/runestone/main.go ] || { echo "test-install: cmd/runestone/main.go does not exist yet" >&2; exit 1; }
	echo "test-install: building runestone ${version} for ${os}/${arch} ..."
	t0=$SECONDS
	CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath -buildvcs=false \
		-ldflags "-s -w -X main.version=${version} -X main.commit=testcommit -X main.date=2026-01-01T00:00:00Z" \
		-o "$stage/runestone" ./cmd/runestone
	echo "test-install: built in $((SECONDS - t0))s"
	for f in README.md LICENSE; do
		[ -f "$f" ] && cp "$f" "$stage/"
	done
	(cd "$stage" && tar -czf "$rel/$archive" ./*)
	# Same layout as GoReleaser's checksums.txt: "<sha256>  <file>", plus a
	# decoy entry so the lookup must pick the right line.
	(
		cd "$rel"
		sha256sum "$archive"
		echo "0000000000000000000000000000000000000000000000000000000000000000  runestone_${version}_plan9_amd64.tar.gz"
	) >"$rel/checksums.txt"
fi

# ------------------------------------------------------------------- server
cat >"$work/server.py" <<'PY'
import functools, http.server, sys

root, tag, port_file, log_file = sys.argv[1:5]
log = open(log_file, "a", buffering=1)

class Handler(http.server.SimpleHTTPRequestHandler):
    def _latest(self):
        # Like https://github.com/OWNER/REPO/releases/latest -> .../releases/tag/vX.Y.Z
        if self.path.rstrip("/") == "/latest":
            self.send_response(302)
            self.send_header("Location", "/tag/" + tag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        if self.path.startswith("/tag/"):
            body = b"release page\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)
            return True
        return False

    def do_GET(self):
        if not self._latest():
            super().do_GET()

    def do_HEAD(self):
        if not self._latest():
            super().do_HEAD()

    def log_message(self, fmt, *args):
        log.write("%s %s\n" % (self.command, self.path))

srv = http.server.ThreadingHTTPServer(
    ("127.0.0.1", 0), functools.partial(Handler, directory=root))
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
PY
: >"$work/requests.log"
python3 "$work/server.py" "$work/srv" "$tag" "$work/port" "$work/requests.log" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 100); do
	[ -s "$work/port" ] && break
	kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; echo "test-install: server died" >&2; exit 1; }
	sleep 0.1
done
[ -s "$work/port" ] || { echo "test-install: server did not start" >&2; exit 1; }
port="$(cat "$work/port")"
base="http://127.0.0.1:${port}"
echo "test-install: serving $tag from $base (pid $server_pid)"

export RUNESTONE_DOWNLOAD_BASE="$base/download"
export RUNESTONE_LATEST_URL="$base/latest"
unset RUNESTONE_INSTALL_DIR RUNESTONE_VERSION
export HOME="$work/home" # never touch the real ~/.local/bin
mkdir -p "$HOME"

requests() { wc -l <"$work/requests.log" | tr -d ' '; }

# run_install NAME ARGS...: runs `sh install.sh ARGS` with output in $work/NAME.{out,err}; sets rc.
run_install() {
	local name=$1
	shift
	set +e
	sh "$root/install.sh" "$@" >"$work/$name.out" 2>"$work/$name.err"
	rc=$?
	set -e
}

# ------------------------------------------------------------------- tests

# 1. --help
run_install help --help
if [ "$rc" = 0 ] && grep -q -- '--version' "$work/help.out" && grep -q -- '--dry-run' "$work/help.out"; then
	pass "--help exits 0 and documents the flags"
else
	failt "--help (rc=$rc)"; show "$work/help.out"
fi

# 2. usage errors exit 2
run_install badflag --bogus
if [ "$rc" = 2 ] && grep -q 'unknown argument' "$work/badflag.err"; then
	pass "unknown flag exits 2"
else
	failt "unknown flag (rc=$rc, want 2)"; show "$work/badflag.err"
fi
run_install badver --version 'v1;rm -rf /' --dir "$work/never"
if [ "$rc" = 2 ] && [ ! -e "$work/never" ]; then
	pass "malformed --version exits 2"
else
	failt "malformed --version (rc=$rc, want 2)"; show "$work/badver.err"
fi

# 3. --dry-run downloads and installs nothing
before="$(requests)"
run_install dry --dry-run --version "$tag" --dir "$work/dry"
after="$(requests)"
if [ "$rc" = 0 ] && [ "$before" = "$after" ] && [ ! -e "$work/dry" ] &&
	grep -q "$RUNESTONE_DOWNLOAD_BASE/$tag/$archive" "$work/dry.out"; then
	pass "--dry-run prints the plan, downloads nothing, installs nothing"
else
	failt "--dry-run (rc=$rc, requests $before -> $after)"; show "$work/dry.out"; show "$work/dry.err"
fi

# 4. install a pinned version into --dir (dir does not exist yet)
dest="$work/bin-pinned"
run_install pinned --version "$tag" --dir "$dest"
if [ "$rc" = 0 ] && [ -x "$dest/runestone" ]; then
	pass "install --version $tag --dir DIR exits 0 and installs an executable"
else
	failt "install --version (rc=$rc)"; show "$work/pinned.out"; show "$work/pinned.err"
fi
if [ -x "$dest/runestone" ] && out="$(RUNESTONE_HOME="$work/rhome" "$dest/runestone" version 2>&1)"; then
	pass "installed 'runestone version' exits 0 ($(printf '%s' "$out" | head -n 1))"
	case "$out" in
	*"$version"*) pass "installed binary reports version $version" ;;
	*) failt "installed binary reports '$out', want it to contain $version" ;;
	esac
else
	failt "installed 'runestone version' failed: ${out:-not installed}"
fi
if grep -q 'runestone serve' "$work/pinned.out" && grep -qi 'verified' "$work/pinned.out"; then
	pass "install prints the checksum verification and the next step (runestone serve)"
else
	failt "install output lacks verification note or next step"; show "$work/pinned.out"
fi
if [ -z "$(find "$dest" -name '.runestone.install.*')" ]; then
	pass "no staging files left behind"
else
	failt "staging files left in $dest"
fi

# 5. latest release via the redirect, install dir from $RUNESTONE_INSTALL_DIR, version without "v"
dest="$work/bin-latest"
mkdir -p "$dest"
set +e
RUNESTONE_INSTALL_DIR="$dest" sh "$root/install.sh" >"$work/latest.out" 2>"$work/latest.err"
rc=$?
set -e
if [ "$rc" = 0 ] && [ -x "$dest/runestone" ] && grep -q "$tag" "$work/latest.out"; then
	pass "no --version resolves the latest tag via the redirect; RUNESTONE_INSTALL_DIR honoured"
else
	failt "latest install (rc=$rc)"; show "$work/latest.out"; show "$work/latest.err"
fi
dest="$work/bin-nov"
run_install nov --version "${version}" --dir "$dest"
if [ "$rc" = 0 ] && [ -x "$dest/runestone" ]; then
	pass "--version without the leading v works"
else
	failt "--version ${version} (rc=$rc)"; show "$work/nov.err"
fi

# 6. wget instead of curl (curl hidden from PATH)
if command -v wget >/dev/null 2>&1; then
	shim="$work/shim"
	mkdir -p "$shim"
	for t in sh uname mktemp awk sed tr tar gzip sha256sum shasum openssl cp chmod mv rm mkdir id head tail cat wget dirname basename env; do
		p="$(command -v "$t" 2>/dev/null || true)"
		[ -n "$p" ] && ln -sf "$p" "$shim/$t"
	done
	dest="$work/bin-wget"
	set +e
	PATH="$shim" sh "$root/install.sh" --dir "$dest" >"$work/wget.out" 2>"$work/wget.err"
	rc=$?
	set -e
	if [ "$rc" = 0 ] && [ -x "$dest/runestone" ] && grep -q "$tag" "$work/wget.out"; then
		pass "works with wget only (latest + download + verify)"
	else
		failt "wget-only install (rc=$rc)"; show "$work/wget.out"; show "$work/wget.err"
	fi

	# 7. neither curl nor wget: explains go install, exits 1
	rm -f "$shim/wget"
	set +e
	PATH="$shim" sh "$root/install.sh" --version "$tag" --dir "$work/bin-none" >"$work/none.out" 2>"$work/none.err"
	rc=$?
	set -e
	if [ "$rc" = 1 ] && grep -q 'go install github.com/jmanhype/runestone/cmd/runestone@latest' "$work/none.err" &&
		[ ! -e "$work/bin-none/runestone" ]; then
		pass "without curl/wget: exit 1 with the go install hint"
	else
		failt "no downloader (rc=$rc, want 1)"; show "$work/none.err"
	fi
fi

# 8. a release that does not exist: exit 1 with the go install hint
run_install missing --version v9.9.9 --dir "$work/bin-missing"
if [ "$rc" = 1 ] && grep -q 'go install github.com/jmanhype/runestone/cmd/runestone@latest' "$work/missing.err" &&
	[ ! -e "$work/bin-missing/runestone" ]; then
	pass "missing release: exit 1 with the go install hint"
else
	failt "missing release (rc=$rc, want 1)"; show "$work/missing.err"
fi

# 9. default directory for a user who cannot write /usr/local/bin: ~/.local/bin
# plus a PATH hint. Runs only as root (drops to uid 65534 with setpriv).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1 &&
	setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$root/install.sh"; then
	nobody_home="$(mktemp -d /tmp/runestone-install-nobody.XXXXXX)"
	chmod 0755 "$nobody_home"
	chown 65534:65534 "$nobody_home"
	set +e
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		env -i PATH="/usr/local/bin:/usr/bin:/bin" HOME="$nobody_home" TMPDIR=/tmp \
		RUNESTONE_DOWNLOAD_BASE="$RUNESTONE_DOWNLOAD_BASE" RUNESTONE_LATEST_URL="$RUNESTONE_LATEST_URL" \
		sh "$root/install.sh" --version "$tag" >"$work/nobody.out" 2>"$work/nobody.err"
	rc=$?
	set -e
	if [ "$rc" = 0 ] && [ -x "$nobody_home/.local/bin/runestone" ] && grep -q 'not on your PATH' "$work/nobody.out"; then
		pass "non-root default: installs to ~/.local/bin and says to add it to PATH"
	else
		failt "non-root default dir (rc=$rc)"; show "$work/nobody.out"; show "$work/nobody.err"
	fi
else
	echo "skip non-root default-dir test (needs root, setpriv and a world-readable install.sh)"
fi

# 10. tampered archive: refused, nothing installed, existing binary untouched
printf 'X' >>"$rel/$archive"
dest="$work/bin-tampered"
run_install tampered --version "$tag" --dir "$dest"
if [ "$rc" != 0 ] && grep -qi 'checksum' "$work/tampered.err" && [ ! -e "$dest/runestone" ] &&
	[ -z "$(find "$dest" -type f 2>/dev/null)" ]; then
	pass "tampered archive refused (rc=$rc, message mentions checksum, nothing installed)"
else
	failt "tampered archive (rc=$rc)"; show "$work/tampered.out"; show "$work/tampered.err"
fi
dest="$work/bin-pinned"
sum_before="$(sha256sum "$dest/runestone" 2>/dev/null | awk '{print $1}')"
run_install tampered2 --version "$tag" --dir "$dest"
sum_after="$(sha256sum "$dest/runestone" 2>/dev/null | awk '{print $1}')"
if [ "$rc" != 0 ] && [ -n "$sum_before" ] && [ "$sum_before" = "$sum_after" ]; then
	pass "tampered archive leaves an existing install untouched"
else
	failt "tampered archive over an existing install (rc=$rc)"
fi

# 11. archive not listed in checksums.txt: refused
cp "$rel/checksums.txt" "$work/checksums.bak"
grep -v " $archive\$" "$work/checksums.bak" >"$rel/checksums.txt" || true
run_install unlisted --version "$tag" --dir "$work/bin-unlisted"
cp "$work/checksums.bak" "$rel/checksums.txt"
if [ "$rc" != 0 ] && grep -qi 'checksum' "$work/unlisted.err" && [ ! -e "$work/bin-unlisted/runestone" ]; then
	pass "archive missing from checksums.txt refused"
else
	failt "unlisted archive (rc=$rc)"; show "$work/unlisted.err"
fi

echo
echo "install.sh: ${passed} passed, ${failed} failed"
[ "$failed" = 0 ]
