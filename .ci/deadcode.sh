#!/usr/bin/env bash
# Fails when golang.org/x/tools/cmd/deadcode reports a function unreachable from
# cmd/runestone that .ci/deadcode-allow.txt does not list, or when the allow-list names
# a function deadcode no longer reports (a stale entry hides nothing and should go).
set -euo pipefail
cd "$(dirname "$0")/.."
DEADCODE=${DEADCODE:-golang.org/x/tools/cmd/deadcode@v0.52.0}

reported=$(go run "$DEADCODE" -f '{{range .Funcs}}{{$.Path}} {{.Name}}{{"\n"}}{{end}}' ./... | sed '/^$/d' | sort -u)
allowed=$(sed -e 's/#.*//' -e 's/[[:space:]]*$//' .ci/deadcode-allow.txt | awk 'NF == 2 {print $1, $2}' | sort -u)

unlisted=$(comm -23 <(printf '%s\n' "$reported") <(printf '%s\n' "$allowed") | sed '/^$/d')
stale=$(comm -13 <(printf '%s\n' "$reported") <(printf '%s\n' "$allowed") | sed '/^$/d')
status=0
if [ -n "$unlisted" ]; then
  echo "deadcode: unreachable from cmd/runestone (delete, wire up, or allow-list with a reason in .ci/deadcode-allow.txt):"
  printf '  %s\n' "$unlisted"
  status=1
fi
if [ -n "$stale" ]; then
  echo "deadcode: .ci/deadcode-allow.txt lists functions that are no longer dead (remove the entries):"
  printf '  %s\n' "$stale"
  status=1
fi
[ "$status" = 0 ] && echo "deadcode: clean ($(printf '%s\n' "$allowed" | sed '/^$/d' | wc -l) allow-listed)"
exit "$status"
