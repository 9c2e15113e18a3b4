#!/usr/bin/env bash
# Load run of the REST API's hit path: redis-server on a free port, hack/apiload serving the API
# with 78 symbols preloaded into Redis, then wrk POSTing analyze-symbol bodies that rotate the 78
# symbols. Prints wrk's report (req/s, latency percentiles).
#
#   hack/load-api.sh                 # 30 s, 64 connections, 1 wrk thread, as fast as the server answers
#   RATE=20000 hack/load-api.sh      # the same connections sending 20 000 req/s on a fixed schedule:
#                                    # the latency at that load, not at saturation
#   CLIENT_CACHE=false hack/load-api.sh
#                                    # --redis-client-cache=false: every read is a Redis round trip
#   DURATION=10s CONNECTIONS=32 THREADS=2 PPROF=1 hack/load-api.sh
#   SERVER_PIN=0 WRK_PIN=1 GOMAXPROCS=1 hack/load-api.sh
#                                    # keep wrk off the server's core (taskset), as separate machines would
#   BASELINE=1 RATE=20000 hack/load-api.sh
#                                    # the same load on a bare net/http handler with a body of the same
#                                    # size: the latency any Go server gets on this machine now
#
# It also prints the CPU time the hypervisor stole during the run (on a shared VM the p99 follows it)
# and the server's own CPU time per request, which the neighbours move far less than the tail.
#
# Needs redis-server and wrk (apt-get install -y redis-server wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
RATE=${RATE:-}
PPROF=${PPROF:-}

for bin in redis-server wrk go; do
  command -v "$bin" >/dev/null || { echo "$bin not found: apt-get install -y redis-server wrk" >&2; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --protected-mode no >"$work/redis.log" 2>&1 &
pids+=($!)

go build -o "$work/apiload" ./hack/apiload
"$work/apiload" -wrk-script "$work/rotate.lua"

api_port=$(free_port)
pprof_args=()
if [[ -n "$PPROF" ]]; then
  pprof_port=$(free_port)
  pprof_args=(-pprof "127.0.0.1:$pprof_port")
fi
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
# GOGC as the manifests set it (docs/deploy.md), so the run measures what is deployed.
GOGC=${GOGC:-800} ${SERVER_PIN:+taskset -c $SERVER_PIN} "$work/apiload" -addr "127.0.0.1:$api_port" -redis "127.0.0.1:$redis_port" -redis-client-cache="${CLIENT_CACHE:-true}" ${BASELINE:+-baseline} "${pprof_args[@]}" >"$work/api.log" 2>&1 &
server_pid=$!
pids+=($server_pid)
for _ in $(seq 300); do grep -q '^READY' "$work/api.log" && break; sleep 0.1; done
grep -q '^READY' "$work/api.log" || { cat "$work/api.log" >&2; echo "the API did not start" >&2; exit 1; }

url="http://127.0.0.1:$api_port"
echo "== one answer (trimmed):"
curl -s -X POST -H 'Content-Type: application/json' -d '{"symbol":"BTCUSDT"}' "$url/api/gainer-analysis/analyze-symbol" | head -c 300 || true; echo  # curl gets EPIPE once head has its 300 bytes
echo "== wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency${RATE:+, paced to $RATE req/s}, ${BASELINE:+BASELINE bare net/http, }client cache ${CLIENT_CACHE:-true} (redis-server :$redis_port, $(nproc) CPUs, load before: $(cut -d' ' -f1-3 /proc/loadavg))"
if [[ -n "$PPROF" ]]; then
  curl -s -o "$work/cpu.pprof" "http://127.0.0.1:$pprof_port/debug/pprof/profile?seconds=10" &
  profiler=$!
fi
cpu_times() { awk '/^cpu /{t=0; for (i=2; i<=NF; i++) t+=$i; print $9, t}' /proc/stat; }
# The server's own CPU time (user + system, in clock ticks): less noisy than the tail on a shared VM.
server_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
read -r steal0 total0 < <(cpu_times)
ticks0=$(server_ticks)
WRK_RATE="$RATE" WRK_THREADS="$THREADS" ${WRK_PIN:+taskset -c $WRK_PIN} wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/rotate.lua" "$url" | tee "$work/wrk.out"
ticks1=$(server_ticks)
read -r steal1 total1 < <(cpu_times)
echo "== CPU time stolen by the hypervisor during the run: $(awk -v s=$((steal1 - steal0)) -v t=$((total1 - total0)) 'BEGIN{printf "%.1f%%", t ? 100*s/t : 0}')"
requests=$(awk '/requests in/{print $1}' "$work/wrk.out")
echo "== server CPU: $(awk -v t=$((ticks1 - ticks0)) -v hz="$(getconf CLK_TCK)" -v n="${requests:-0}" 'BEGIN{printf "%.1f s, %.1f µs per request", t/hz, n ? 1e6*t/hz/n : 0}')"
if [[ -n "$PPROF" ]]; then
  wait "$profiler"
  go tool pprof -top -nodecount=35 "$work/apiload" "$work/cpu.pprof" 2>/dev/null | head -45
  if [[ -n "${PPROF_OUT:-}" ]]; then cp "$work/cpu.pprof" "$PPROF_OUT.pprof"; cp "$work/apiload" "$PPROF_OUT.bin"; fi
fi
echo "== redis keys: $(redis-cli -p "$redis_port" dbsize)"
