#!/usr/bin/env bash
# Side-by-side benchmark: fake upstream direct vs a bare httputil.ReverseProxy vs
# `runestone serve`, every scenario, rotating order, medians over rounds.
#
#   bench/run.sh                 full run (~7.5 min on 2 cores), writes bench/RESULTS.md
#   BENCH_QUICK=1 bench/run.sh   ~1.5 min smoke run, writes bench/out/RESULTS.quick.md
#
# Environment: BENCH_ROUNDS (default 3), BENCH_PORT_BASE (default 18080),
# BENCH_NO_RUNESTONE=1 (skip the runestone tier, e.g. while it does not build),
# BENCH_RUNESTONE_BIN=path (benchmark that binary instead of building ./cmd/runestone),
# BENCH_NO_PIN=1 (no taskset), BENCH_LOADGEN_ARGS (extra loadgen flags),
# BENCH_CHUNKS / BENCH_PACE_MS (stream shape, 200 / 5), BENCH_CAPTURE_BODIES=false (runestone without body capture),
# BENCH_NICE=-10 (run every benchmark process at that nice level, for a busy shared box),
# BENCH_PERF=1 (afterwards, perf-record runestone under BENCH_PERF_RATE rps, default 2000).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT="$BENCH_DIR/out"
mkdir -p "$OUT"

QUICK=${BENCH_QUICK:-0}
ROUNDS=${BENCH_ROUNDS:-3}
PB=${BENCH_PORT_BASE:-18080}
UP_PORT=$PB; BARE_PORT=$((PB+1)); RS_PORT=$((PB+2)); COLD_BARE_PORT=$((PB+11)); COLD_RS_PORT=$((PB+12))
CHUNKS=${BENCH_CHUNKS:-200}; PACE_MS=${BENCH_PACE_MS:-5}

log() { printf '[run.sh] %s\n' "$*" >&2; }

PIDS=()
TMP=$(mktemp -d -t runestone-bench.XXXXXX)
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT INT TERM

# more fds: 1,000 held streams need ~3,000 across the processes.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- pinning ----
NCPU=$(nproc)
GW_PIN=(); LD_PIN=(); PIN_NOTE="no CPU pinning (nproc=$NCPU)"
if [[ "$NCPU" -ge 2 && "${BENCH_NO_PIN:-0}" != 1 ]] && command -v taskset >/dev/null; then
  GW_PIN=(taskset -c 1); LD_PIN=(taskset -c 0)
  PIN_NOTE="pinning: gateway and bare proxy on CPU 1 (taskset -c 1), fake upstream and load generator on CPU 0"
fi

# optional priority over other work on a shared machine (negative values need root)
if [[ -n "${BENCH_NICE:-}" ]]; then
  GW_PIN=(nice -n "$BENCH_NICE" "${GW_PIN[@]}"); LD_PIN=(nice -n "$BENCH_NICE" "${LD_PIN[@]}")
  PIN_NOTE="$PIN_NOTE; every benchmark process at nice $BENCH_NICE"
fi

# ---- build ----
log "building bench binaries"
(cd "$BENCH_DIR" && go build -o "$OUT/" ./cmd/fakeupstream ./cmd/bareproxy ./cmd/loadgen)
WITH_RS=1
if [[ "${BENCH_NO_RUNESTONE:-0}" == 1 ]]; then
  WITH_RS=0
elif [[ -n "${BENCH_RUNESTONE_BIN:-}" ]]; then
  log "using prebuilt runestone $BENCH_RUNESTONE_BIN"
  cp "$BENCH_RUNESTONE_BIN" "$OUT/runestone"
else
  log "building runestone"
  (cd "$ROOT" && go build -o "$OUT/runestone" ./cmd/runestone)
fi

# Run copies of the two gateways, not the files the linker just wrote: a freshly linked
# file maps more of itself than a byte-identical copy does (the page cache holds it as
# the linker wrote it), so the same runestone binary measured ~5 MB more RSS at idle
# (30.1 against 25.7 MB). An installed binary is a copy; copying both keeps the RSS
# rows about the gateways.
for b in bareproxy runestone; do
  if [[ -f "$OUT/$b" ]]; then
    cp "$OUT/$b" "$OUT/$b.copy" && mv -f "$OUT/$b.copy" "$OUT/$b"
  fi
done

wait_http() { # url seconds
  local url=$1 n=$(( $2 * 20 ))
  for _ in $(seq 1 "$n"); do
    if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  log "timed out waiting for $url"; return 1
}

# ---- fake upstream and bare proxy ----
"${LD_PIN[@]}" "$OUT/fakeupstream" -addr "127.0.0.1:$UP_PORT" >"$OUT/fakeupstream.log" 2>&1 &
UP_PID=$!; PIDS+=("$UP_PID")
"${GW_PIN[@]}" "$OUT/bareproxy" -addr "127.0.0.1:$BARE_PORT" -upstream "http://127.0.0.1:$UP_PORT" >"$OUT/bareproxy.log" 2>&1 &
BARE_PID=$!; PIDS+=("$BARE_PID")
wait_http "http://127.0.0.1:$UP_PORT/health" 10
wait_http "http://127.0.0.1:$BARE_PORT/health" 10

# ---- runestone ----
RS_ARGS=(); KEY=""; KEY_NOTE=""
if [[ $WITH_RS == 1 ]]; then
  # a clean environment: only our config counts.
  unset OPENAI_API_KEY OPENAI_BASE_URL ANTHROPIC_API_KEY ANTHROPIC_BASE_URL RUNESTONE_ADDR PORT \
        RUNESTONE_AUTH_ENABLED RUNESTONE_API_KEYS RUNESTONE_RATE_LIMIT_RPM RUNESTONE_RATE_LIMIT_RPH \
        RUNESTONE_RATE_LIMIT_TPM RUNESTONE_MAX_CONCURRENT RUNESTONE_ROUTER_POLICY 2>/dev/null || true
  export CI=true
  write_config() { # home port
    mkdir -p "$1"; chmod 700 "$1"
    cat >"$1/config.toml" <<TOML
# written by bench/run.sh
[server]
addr = "127.0.0.1:$2"

[auth]
enabled = true

[limits]
rpm = 0
rph = 0
tpm = 0
concurrent = 0

[log]
capture_bodies = ${BENCH_CAPTURE_BODIES:-true}

[[providers]]
name = "fakeai"
kind = "openai"
base_url = "http://127.0.0.1:$UP_PORT/v1"
api_key = "sk-fake-upstream"
models = ["fake-instant", "fake-c${CHUNKS}-p${PACE_MS}", "fake-c100-p100"]

# the same fake, answering /v1/responses natively: runestone relays that dialect as bytes
[[providers]]
name = "fakeresponses"
kind = "openai"
base_url = "http://127.0.0.1:$UP_PORT/v1"
api_key = "sk-fake-upstream"
apis = ["chat", "responses"]
models = ["resp-fake-instant", "resp-fake-c${CHUNKS}-p${PACE_MS}"]

[[providers]]
name = "fakeanthropic"
kind = "anthropic"
base_url = "http://127.0.0.1:$UP_PORT"
api_key = "sk-ant-fake-upstream"
models = ["claude-fake-instant", "claude-fake-c${CHUNKS}-p${PACE_MS}"]

[pricing."fake-instant"]
input = 0.15
output = 0.60

[pricing."fake-c${CHUNKS}-p${PACE_MS}"]
input = 0.15
output = 0.60

[pricing."fake-c100-p100"]
input = 0.15
output = 0.60

[pricing."claude-fake-c${CHUNKS}-p${PACE_MS}"]
input = 3.0
output = 15.0

[pricing."claude-fake-instant"]
input = 3.0
output = 15.0

[pricing."resp-fake-instant"]
input = 0.15
output = 0.60

[pricing."resp-fake-c${CHUNKS}-p${PACE_MS}"]
input = 0.15
output = 0.60
TOML
  }
  RS_HOME="$TMP/home"; write_config "$RS_HOME" "$RS_PORT"
  COLD_HOME="$TMP/home-cold"; write_config "$COLD_HOME" "$COLD_RS_PORT"
  RUNESTONE_HOME="$RS_HOME" "$OUT/runestone" config check >"$OUT/config-check.txt" 2>&1 || {
    cat "$OUT/config-check.txt" >&2; log "config check failed"; exit 1; }

  # a stored key with no limits of its own (0 = unlimited per key)
  if KEYJSON=$(RUNESTONE_HOME="$RS_HOME" "$OUT/runestone" keys create --name bench --rpm 0 --rph 0 --tpm 0 --concurrent 0 --json 2>"$OUT/keys-create.err"); then
    KEY=$(grep -o '"secret": *"sk-rs-[A-Za-z0-9]*"' <<<"$KEYJSON" | grep -o 'sk-rs-[A-Za-z0-9]*' | head -1)
  fi
  if [[ -z "$KEY" ]]; then
    log "keys create failed ($(head -c 300 "$OUT/keys-create.err")); falling back to a static key in [auth] keys"
    KEY="sk-rs-benchstatickey0123456789abcdefghijklmnop"
    sed -i "s/^enabled = true$/enabled = true\nkeys = [\"$KEY\"]/" "$RS_HOME/config.toml" "$COLD_HOME/config.toml"
    KEY_NOTE=" (static key: keys create failed)"
  else
    KEY_NOTE=" (stored key from \`runestone keys create --rpm 0 --rph 0 --tpm 0 --concurrent 0\`)"
  fi
  # The fresh processes of E (cold start, memory) use a copy of this database, so the
  # same stored key works there too.
  cp "$RS_HOME/runestone.db" "$COLD_HOME/runestone.db"

  "${GW_PIN[@]}" "$OUT/runestone" serve --no-tui --home "$RS_HOME" --addr "127.0.0.1:$RS_PORT" >"$OUT/runestone.log" 2>&1 &
  RS_PID=$!; PIDS+=("$RS_PID")
  wait_http "http://127.0.0.1:$RS_PORT/health" 30
  # the key must work before we measure anything
  code=$(curl -s -o "$OUT/probe.json" -w '%{http_code}' "http://127.0.0.1:$RS_PORT/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"model":"fake-instant","messages":[{"role":"user","content":"hi"}]}')
  if [[ "$code" != 200 ]]; then log "probe through runestone failed: $code $(cat "$OUT/probe.json")"; exit 1; fi
  # and the native relays of the other two dialects
  code=$(curl -s -o "$OUT/probe-messages.json" -w '%{http_code}' "http://127.0.0.1:$RS_PORT/v1/messages" \
    -H "Authorization: Bearer $KEY" -H 'anthropic-version: 2023-06-01' -H 'Content-Type: application/json' \
    -d '{"model":"claude-fake-instant","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}')
  if [[ "$code" != 200 ]]; then log "messages probe through runestone failed: $code $(cat "$OUT/probe-messages.json")"; exit 1; fi
  code=$(curl -s -o "$OUT/probe-responses.json" -w '%{http_code}' "http://127.0.0.1:$RS_PORT/v1/responses" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"model":"resp-fake-instant","input":"hi","store":false}')
  if [[ "$code" != 200 ]]; then log "responses probe through runestone failed: $code $(cat "$OUT/probe-responses.json")"; exit 1; fi
  RS_ARGS=(-runestone "http://127.0.0.1:$RS_PORT" -runestone-pid "$RS_PID" -runestone-bin "$OUT/runestone"
           -cold-runestone "${GW_PIN[*]} $OUT/runestone serve --no-tui --home $COLD_HOME --addr 127.0.0.1:$COLD_RS_PORT"
           -cold-runestone-url "http://127.0.0.1:$COLD_RS_PORT/health")
fi

# ---- metadata ----
COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(cd "$ROOT" && git status --porcelain 2>/dev/null | head -1)" ]]; then COMMIT="$COMMIT (+ uncommitted changes)"; fi
NOTES="$PIN_NOTE; $(go version | cut -d' ' -f3); runestone: auth on$KEY_NOTE, SQLite request log + body capture on, limits 0"

if [[ "$QUICK" == 1 ]]; then
  REPORT="$OUT/RESULTS.quick.md"
  # shellcheck disable=SC2054 # the commas are inside flag values
  SCEN=(-lat-dur 500ms -rates 500,2000 -step-dur 1s -closed-dur 1s -stream-conc 64,512 -waves 1,1 -hold 300 -cold-n 1
        -dialect-waves 1 -dialect-lat-dur 300ms)
else
  REPORT="$BENCH_DIR/RESULTS.md"
  # shellcheck disable=SC2054 # the commas are inside flag values
  SCEN=(-lat-dur 3s -rates 500,1000,2000,4000 -step-dur 5s -closed-dur 5s -stream-conc 64,512 -waves 3,2 -hold 1000 -cold-n 3
        -dialect-conc 64 -dialect-waves 2 -dialect-lat-dur 1s)
fi

log "running scenarios (rounds=$ROUNDS quick=$QUICK) → $REPORT"
# shellcheck disable=SC2086
"${LD_PIN[@]}" "$OUT/loadgen" \
  -direct "http://127.0.0.1:$UP_PORT" -upstream-pid "$UP_PID" \
  -bare "http://127.0.0.1:$BARE_PORT" -bare-pid "$BARE_PID" -bare-bin "$OUT/bareproxy" \
  -cold-bare "${GW_PIN[*]} $OUT/bareproxy -addr 127.0.0.1:$COLD_BARE_PORT -upstream http://127.0.0.1:$UP_PORT" \
  -cold-bare-url "http://127.0.0.1:$COLD_BARE_PORT/health" \
  "${RS_ARGS[@]}" -key "$KEY" \
  -rounds "$ROUNDS" -chunks "$CHUNKS" -pace "${PACE_MS}ms" "${SCEN[@]}" \
  -commit "$COMMIT" -notes "$NOTES" -out "$REPORT" -raw "$OUT/results.json" ${BENCH_LOADGEN_ARGS:-} \
  2> >(tee "$OUT/loadgen.log" >&2)
log "wrote $REPORT (raw per-round values: $OUT/results.json, logs: $OUT/*.log)"

# ---- the hot-path pieces on their own (go test -bench), appended to the same report ----
if [[ "${BENCH_NO_MICRO:-0}" != 1 ]]; then
  log "micro-benchmarks (bench/micro.sh)"
  bash "$(dirname "$0")/micro.sh" >>"$REPORT"
fi

# ---- optional: where runestone spends its CPU (perf, no pprof endpoint needed) ----
if [[ "${BENCH_PERF:-0}" == 1 && $WITH_RS == 1 ]] && command -v perf >/dev/null; then
  PERF_RATE=${BENCH_PERF_RATE:-2000}
  log "perf: sampling runestone at $PERF_RATE rps for 10s"
  perf record -F 999 -g -p "$RS_PID" -o "$OUT/perf.data" -- sleep 10 >"$OUT/perf-record.log" 2>&1 &
  PERF_PID=$!
  sleep 0.3
  "${LD_PIN[@]}" "$OUT/loadgen" -direct "http://127.0.0.1:$UP_PORT" -bare "" "${RS_ARGS[@]}" -key "$KEY" \
    -profile-rate "$PERF_RATE" -profile-dur 9s || true
  wait "$PERF_PID" || true
  perf report -i "$OUT/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -v '^$' | head -80 >"$OUT/perf-flat.txt" || true
  perf report -i "$OUT/perf.data" --children --sort symbol --stdio -g none 2>/dev/null | grep -v '^$' | head -120 >"$OUT/perf-cumulative.txt" || true
  log "perf reports: $OUT/perf-flat.txt $OUT/perf-cumulative.txt"
fi
