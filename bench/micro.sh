#!/usr/bin/env bash
# Runs the Go micro-benchmarks of the hot-path pieces and prints a markdown section.
# run.sh appends it to bench/RESULTS.md; run it alone with: bash bench/micro.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME=${BENCH_MICRO_TIME:-1s}

run() { # package, benchmark name, what it measures
  go test -run '^$' -bench "^$2\$" -benchmem -benchtime "$BENCHTIME" "./$1" 2>/dev/null |
    awk -v what="$3" -v pkg="$1" '/^Benchmark/ {
      name=$1; sub(/-[0-9]+$/, "", name)
      delete v; other=""
      for (i=3; i<NF; i+=2) { v[$(i+1)]=$i; if ($(i+1) !~ /^(ns|B|allocs)\/op$/) other=other $i " " $(i+1) " " }
      printf "| %s | `%s` | %s | %s | %s | %s |\n", what, pkg ": " name, v["ns/op"], v["B/op"], v["allocs/op"], other
    }'
}

echo
echo "## Micro-benchmarks (go test -bench, this machine, $(date -u +%Y-%m-%d))"
echo
echo "| piece | benchmark | ns/op | B/op | allocs/op | other |"
echo "|---|---|---:|---:|---:|---|"
run internal/gateway BenchmarkInspect "body inspection (model/stream, no unmarshal)"
run internal/provider/openai BenchmarkUpstreamBody "model rewrite + include_usage (sjson)"
run internal/auth BenchmarkAuthenticate "auth, cached key"
run internal/limits BenchmarkAcquireRelease "limits: admit + release"
run internal/resilience BenchmarkExecuteSuccess "executor + breaker, one attempt"
run internal/gateway BenchmarkNonStreamRelay "whole handler, non-stream, in-process upstream"
run internal/gateway BenchmarkStreamRelay "whole handler, 100-event stream (per event: /100)"
run internal/gateway BenchmarkNonStreamRelayAllOn "whole handler, non-stream, limiter+pricing+metrics+SQLite log with capture"
run internal/gateway BenchmarkStreamRelayAllOn "whole handler, 100-event stream, the same features on"
run internal/gateway BenchmarkMessagesLargeBody "whole handler, 75 KB /v1/messages conversation (checks per byte)"
run internal/gateway BenchmarkTextSink "stream text capture (log, estimates), per chat chunk"
run internal/gateway BenchmarkMessagesText "native Messages relay text capture, per frame"
run internal/gateway BenchmarkMessagesNativeRelay "whole handler, 100-event /v1/messages native relay (per event: /100)"
run internal/gateway BenchmarkResponsesNativeRelay "whole handler, 100-event /v1/responses native relay (per event: /100)"
run internal/gateway BenchmarkMessagesTranslatedStream "whole handler, 100 chat chunks answered as Messages (per event: /100)"
run internal/gateway BenchmarkResponsesTranslatedStream "whole handler, 100 chat chunks answered as Responses (per event: /100)"
run internal/dialect/messages BenchmarkStreamEncoderText "translator chat → Messages stream, per text event"
run internal/dialect/messages BenchmarkStreamEncoderToolArgs "translator chat → Messages stream, per tool-argument event"
run internal/dialect/messages BenchmarkStreamEncoderRecorded "translator chat → Messages stream, a whole recorded stream"
run internal/dialect/messages BenchmarkToChat "translator Messages request → chat"
run internal/dialect/responses BenchmarkStreamEncoderText "translator chat → Responses stream, per text event"
run internal/dialect/responses BenchmarkStreamEncoderTextEscaped "translator chat → Responses stream, per text event needing escapes"
run internal/dialect/responses BenchmarkToChat "translator Responses request → chat"
run internal/dialect/responses BenchmarkFromChat "translator chat answer → Responses object"
run internal/provider/openai BenchmarkStreamNext "pass-through SSE relay, per event"
run internal/provider/openai BenchmarkStreamNextAlias "pass-through SSE relay with the model renamed (alias), per event"
run internal/sse BenchmarkReaderNext "SSE reader, per event"
run internal/provider/anthropic BenchmarkStreamTranslate "Anthropic -> OpenAI stream translation, per recorded event"
run internal/provider/anthropic BenchmarkStreamTranslateText "Anthropic -> OpenAI, per text_delta event"
run internal/reqlog BenchmarkWriterThroughput "request-log batching writer (rows/s)"
run internal/reqlog BenchmarkWriterThroughputKept "request-log writer, every row with a kept /v1/responses answer (random resp_ id)"
