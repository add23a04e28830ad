#!/usr/bin/env bash
# Installs GoReleaser (default v2.15.1, the newest release that builds with
# Go 1.26) with `go install`, unless that version is already on PATH or in
# $(go env GOPATH)/bin.
#
# Prints the absolute path of the goreleaser binary on stdout (progress goes
# to stderr), so callers can do: GORELEASER=$(scripts/install-goreleaser.sh)
#
# Env: GORELEASER_VERSION (default v2.15.1).
set -euo pipefail

want="${GORELEASER_VERSION:-v2.15.1}"
want_plain="${want#v}"

log() { printf 'install-goreleaser: %s\n' "$*" >&2; }

command -v go >/dev/null 2>&1 || { log "error: go is not on PATH"; exit 1; }

# version_of BIN: prints the version BIN reports (e.g. 2.15.1), or nothing.
version_of() {
	"$1" --version 2>/dev/null | sed -n 's/^GitVersion:[[:space:]]*v\{0,1\}//p' | head -n 1
}

gobin="$(go env GOBIN)"
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"

for candidate in "$(command -v goreleaser 2>/dev/null || true)" "$gobin/goreleaser"; do
	if [ -n "$candidate" ] && [ -x "$candidate" ]; then
		have="$(version_of "$candidate")"
		if [ "$have" = "$want_plain" ]; then
			log "goreleaser $want already installed at $candidate"
			echo "$candidate"
			exit 0
		fi
		log "found goreleaser ${have:-of unknown version} at $candidate (want $want)"
	fi
done

log "installing goreleaser $want with: go install github.com/goreleaser/goreleaser/v2@$want"
log "(first install downloads and compiles a large module graph; this can take several minutes)"
start=$SECONDS
go install "github.com/goreleaser/goreleaser/v2@$want"
bin="$gobin/goreleaser"
[ -x "$bin" ] || { log "error: go install succeeded but $bin is missing"; exit 1; }
have="$(version_of "$bin")"
if [ "$have" != "$want_plain" ]; then
	log "warning: $bin reports version '${have:-unknown}', expected $want_plain"
fi
log "installed goreleaser $want at $bin in $((SECONDS - start))s"
case ":$PATH:" in
*":$gobin:"*) ;;
*) log "note: $gobin is not on PATH; use the full path above" ;;
esac
echo "$bin"
