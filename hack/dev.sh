#!/usr/bin/env bash
# Runs the whole system on this machine, no cluster needed:
#   a local control plane (envtest etcd + kube-apiserver as real processes) with the CRDs,
#   redis-server on a free port when it is installed (otherwise the operator's memory cache),
#   the operator binary, and the samples from config/samples.
# One Ctrl-C stops everything it started, control plane included, and removes its temporary files.
#
# Ports: 8080 (REST API), 8082 (metrics) and 8081 (probes) when free, else free ones; all printed.
# HAMA_DEV_API_PORT, HAMA_DEV_METRICS_PORT and HAMA_DEV_PROBE_PORT choose them.
# Market data: the samples use Binance when it answers, the simulated source otherwise.
# Force one with HAMA_DEV_SOURCE=simulated|binance.
# HAMA_DEV_DIR (default bin/dev) holds the logs and the kubeconfig; HAMA_DEV_MANAGER names the
# operator binary (default bin/manager, which `make dev` rebuilds when a source changed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DEV=${HAMA_DEV_DIR:-$ROOT/bin/dev}
MANAGER=${HAMA_DEV_MANAGER:-$ROOT/bin/manager}
mkdir -p "$DEV"
KUBECONFIG_FILE="$DEV/kubeconfig"
ASSETS=$(hack/setup-envtest.sh)
KUBECTL="$ASSETS/kubectl --kubeconfig $KUBECONFIG_FILE"

pids=()
# On any exit: stop the components, newest first, and wait for them. devcluster stops etcd and
# kube-apiserver (their own process group) before it exits, so waiting for it is waiting for them.
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  echo
  echo "dev: stopping"
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for _ in $(seq 1 90); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "dev: stopped"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1])))' "$1" 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# pick_port <wanted> <preferred>: the wanted port if given, else the preferred one if free, else any free one.
pick_port() {
  if [ -n "$1" ]; then echo "$1"; elif port_free "$2"; then echo "$2"; else free_port; fi
}
API_PORT=$(pick_port "${HAMA_DEV_API_PORT:-}" 8080)
METRICS_PORT=$(pick_port "${HAMA_DEV_METRICS_PORT:-}" 8082)
PROBE_PORT=$(pick_port "${HAMA_DEV_PROBE_PORT:-}" 8081)

[ -x "$MANAGER" ] || { echo "dev: $MANAGER is missing: run make dev (or make build)"; exit 1; }

echo "dev: starting the control plane"
rm -f "$KUBECONFIG_FILE"
go build -o "$DEV/devcluster" ./hack/devcluster
KUBEBUILDER_ASSETS="$ASSETS" "$DEV/devcluster" --write-kubeconfig "$KUBECONFIG_FILE" >"$DEV/devcluster.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do [ -s "$KUBECONFIG_FILE" ] && break; sleep 0.5; done
[ -s "$KUBECONFIG_FILE" ] || { echo "dev: control plane did not start, see $DEV/devcluster.log"; exit 1; }

redis_args=(--redis-enabled=false)
if command -v redis-server >/dev/null; then
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$DEV/redis.log" 2>&1 &
  pids+=($!)
  redis_args=(--redis-enabled=true --redis-addrs "127.0.0.1:$REDIS_PORT")
  echo "dev: redis-server on 127.0.0.1:$REDIS_PORT"
else
  echo "dev: redis-server is not installed (apt-get install -y redis-server); the operator uses its memory cache"
fi

source=${HAMA_DEV_SOURCE:-}
if [ -z "$source" ]; then
  if curl -fsS --max-time 3 https://api.binance.com/api/v3/ping >/dev/null 2>&1; then source=binance; else source=simulated; fi
fi
echo "dev: market data source: $source"

echo "dev: starting the operator"
"$MANAGER" --kubeconfig "$KUBECONFIG_FILE" --leader-elect=false \
  --metrics-bind-address "127.0.0.1:$METRICS_PORT" --metrics-secure=false \
  --health-probe-bind-address "127.0.0.1:$PROBE_PORT" --api-bind-address "127.0.0.1:$API_PORT" \
  --default-exchange "$source" "${redis_args[@]}" >"$DEV/operator.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$PROBE_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.5; done

for f in config/samples/analysis_*.yaml; do
  if [ "$source" = simulated ] && grep -q 'mode: stream' "$f"; then
    echo "dev: skipping $f: stream mode needs Binance's WebSocket streams, which the simulator does not have"
    continue
  fi
  if [ "$source" = simulated ]; then
    sed 's/exchange: binance$/exchange: simulated/' "$f" | $KUBECTL apply -f - >/dev/null
  else
    $KUBECTL apply -f "$f" >/dev/null
  fi
done

cat <<MSG

hama-operator is running (logs in $DEV/).
  Board:     http://127.0.0.1:$API_PORT/board/
  REST API:  http://127.0.0.1:$API_PORT/api/gainer-analysis/cache-stats
             curl -s -XPOST http://127.0.0.1:$API_PORT/api/gainer-analysis/analyze-symbol -d '{"symbol":"BTCUSDT"}'
             http://127.0.0.1:$API_PORT/api/gainer-analysis/top-gainers?limit=20&market=spot
  Metrics:   http://127.0.0.1:$METRICS_PORT/metrics
  Probes:    http://127.0.0.1:$PROBE_PORT/readyz
  kubectl:   export KUBECONFIG=$KUBECONFIG_FILE PATH=$ASSETS:\$PATH
             kubectl get analysisschedules
Press Ctrl-C to stop everything.
MSG
# Returns when a component exits on its own; Ctrl-C goes through the INT trap instead.
status=0
wait -n "${pids[@]}" || status=$?
echo "dev: a component exited (status $status); see the logs in $DEV/"
exit 1
