#!/usr/bin/env bash
# Reproduces the numbers of docs/performance.md on this machine. Nothing here is asserted: the
# numbers are for reading. Takes about twenty minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export KUBEBUILDER_ASSETS="${KUBEBUILDER_ASSETS:-$(hack/setup-envtest.sh)}"

section() { printf '\n== %s\n' "$*"; }

section "HAMA on 500 and 1000 candles; klines decode of 1000 rows"
go test -run '^$' -bench 'Analyze' -benchmem -benchtime 2s ./internal/hama/
go test -run '^$' -bench 'Decode1000' -benchmem -benchtime 2s ./internal/market/binance/

section "Fan-out: 1000 symbols, local exchange with 50 ms latency, concurrency 16 (ideal 3.125 s)"
go test -run '^$' -bench 'FanOut1000' -benchtime 1x ./internal/market/binance/

section "Cache: memory, Redis and tiered Get/Set"
go test -run '^$' -bench . -benchmem ./internal/cache/

section "Board: the page and one stream poll over 1000 symbols x 3 timeframes (memory cache)"
go test -run '^$' -bench . -benchmem ./internal/board/

section "Whole system: 1000-symbol refresh, 200 schedules to Ready, operator RSS, the board of 1000 symbols in chromium, stream mode 1000 x 5"
go test -run '^$' -bench . -benchtime 1x -timeout 30m ./test/e2e/

section "Stream mode in process: 5000 candles closing at once, into a redis-server of its own"
go test -run '^$' -bench Burst5000 -benchtime 1x ./internal/live/

section "1000 schedules on one API server: first runs and intervals"
go test ./controllers/ -count=1 -v -ginkgo.label-filter=scale -ginkgo.v | grep -a 'SCALE' || true

if [ -x hack/load-api.sh ]; then
  section "REST API cache hits under wrk (Redis backend, 78 symbols, 64 connections): saturation"
  hack/load-api.sh
  section "REST API cache hits at 20 000 req/s, then a bare net/http handler under the same load"
  RATE=20000 hack/load-api.sh
  BASELINE=1 RATE=20000 hack/load-api.sh
fi
