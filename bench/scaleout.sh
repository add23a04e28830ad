#!/usr/bin/env bash
# Redis limits vs in-process limits on one replica, and a fresh replica's first
# request: starts PostgreSQL and Redis as scripts/scaleout-services.sh does, the
# fake upstream, and runs bench/cmd/scaleout (c=32 closed loop, 5 s, both modes).
#
#   bench/scaleout.sh
#
# Environment: SCALEOUT_ARGS (extra bench/cmd/scaleout flags, e.g. "-dur 10s -fresh 9"),
# BENCH_RUNESTONE_BIN=path (measure that binary instead of building ./cmd/runestone),
# BENCH_NO_PIN=1 (no taskset), SCALEOUT_STORE=postgres (default sqlite: the limiter is then the only
# difference between the modes).
#
# Pinning (2 cores): runestone on CPU 1; the fake upstream, the load and a
# redis-server of the benchmark's own on CPU 0, so in the redis mode Redis's work
# competes with the load generator, not with the gateway (as with Redis on another
# host); PostgreSQL (-store postgres) is not pinned. The rates are for this box;
# the ratio and the CPU per request are the numbers to watch.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT="$BENCH_DIR/out/scaleout"
mkdir -p "$OUT"
log() { printf '[scaleout.sh] %s\n' "$*" >&2; }

# shellcheck source=/dev/null
source "$ROOT/scripts/scaleout-services.sh"
PG_BASE=${RUNESTONE_TEST_POSTGRES_DSN%%/runestone_test*}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
"$PGBIN/psql" "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS runestone_scaleout" -qc "CREATE DATABASE runestone_scaleout"
DSN="$PG_BASE/runestone_scaleout?sslmode=disable"

log "building"
(cd "$BENCH_DIR" && go build -o "$OUT/" ./cmd/fakeupstream ./cmd/scaleout)
if [[ -n "${BENCH_RUNESTONE_BIN:-}" ]]; then
  cp "$BENCH_RUNESTONE_BIN" "$OUT/runestone"
else
  (cd "$ROOT" && go build -o "$OUT/runestone" ./cmd/runestone)
fi

GW_PIN=""; LD_PIN=()
if [[ "$(nproc)" -ge 2 && "${BENCH_NO_PIN:-0}" != 1 ]] && command -v taskset >/dev/null; then
  GW_PIN="taskset -c 1"; LD_PIN=(taskset -c 0)
fi
UP_PORT=${BENCH_PORT_BASE:-18180}
REDIS_PORT=$((UP_PORT+1)); REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
"${LD_PIN[@]}" "$OUT/fakeupstream" -addr "127.0.0.1:$UP_PORT" >"$OUT/fakeupstream.log" 2>&1 &
UP_PID=$!
# A Redis of our own, pinned with the load (as if on another machine, which the
# gateway's core does not pay for), not the scale-out tests' one.
"${LD_PIN[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
trap 'kill $UP_PID $REDIS_PID 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$UP_PORT/health" 2>/dev/null && break; sleep 0.05; done

unset RUNESTONE_ADDR RUNESTONE_AUTH_ENABLED RUNESTONE_API_KEYS RUNESTONE_LIMITS_BACKEND RUNESTONE_REDIS_URL \
      RUNESTONE_STORE_DRIVER RUNESTONE_STORE_DSN OPENAI_API_KEY OPENAI_BASE_URL 2>/dev/null || true
log "pinning: ${GW_PIN:-none} for runestone; ${LD_PIN[*]:-none} for the upstream, the load and redis-server; postgres unpinned"
# shellcheck disable=SC2086
"${LD_PIN[@]}" "$OUT/scaleout" -bin "$OUT/runestone" -upstream "http://127.0.0.1:$UP_PORT" \
  -redis "$REDIS_URL" -pg "$DSN" -store "${SCALEOUT_STORE:-sqlite}" -redis-pid "$REDIS_PID" -upstream-pid "$UP_PID" -pin "$GW_PIN" -port $((UP_PORT+10)) ${SCALEOUT_ARGS:-}
