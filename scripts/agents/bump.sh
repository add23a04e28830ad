#!/usr/bin/env bash
# Moves every pin in package.json (dependencies and optionalDependencies) to the newest
# version the npm registry serves, regenerates package-lock.json, reinstalls, and reruns the
# agent harness (the real agents against the runestone binary) so a bump that breaks a session
# is seen at once. Review `git diff scripts/agents` and commit both files.
#   bash scripts/agents/bump.sh            bump, install, run the harness
#   bash scripts/agents/bump.sh --no-test  bump and install only
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$dir/../.." && pwd)"
command -v npm >/dev/null || { echo "scripts/agents: npm is required" >&2; exit 1; }

# One `npm view` per pinned package: no bulk lookups.
for section in dependencies optionalDependencies; do
  for pkg in $(node -e 'const p=require(process.argv[1]); console.log(Object.keys(p[process.argv[2]]||{}).join(" "))' \
    "$dir/package.json" "$section"); do
    old=$(node -e 'const p=require(process.argv[1]); console.log(p[process.argv[2]][process.argv[3]])' "$dir/package.json" "$section" "$pkg")
    new=$(npm view "$pkg" version)
    if [ "$old" != "$new" ]; then
      echo "$pkg: $old -> $new"
      node -e 'const fs=require("fs"); const [f,s,k,v]=process.argv.slice(1); const p=JSON.parse(fs.readFileSync(f)); p[s][k]=v; fs.writeFileSync(f, JSON.stringify(p,null,2)+"\n")' \
        "$dir/package.json" "$section" "$pkg" "$new"
    else
      echo "$pkg: $old (newest)"
    fi
  done
done

# A fresh lock from the new pins (integrity hashes for every tarball), then the usual install.
# Without node_modules, so that npm resolves from the registry rather than the installed tree.
rm -rf "$dir/package-lock.json" "$dir/node_modules"
npm install --prefix "$dir" --package-lock-only --no-audit --no-fund --loglevel=error
bash "$dir/install.sh"

if [ "${1:-}" != "--no-test" ]; then
  cd "$root"
  log="$(mktemp)"
  echo "scripts/agents: running the agent harness (full output: $log)"
  set +e
  RUNESTONE_REQUIRE_AGENTS=1 go test -count=1 -timeout 15m -v \
    -run 'TestAgentSessions|TestGeminiCLISession|TestClaudeCodeCLI|TestCodexCLI|TestAgentsSDK' ./internal/server/ 2>&1 |
    tee "$log" | grep -E '^\s*(--- |ok|FAIL|PASS)'
  exit "${PIPESTATUS[0]}"
fi
