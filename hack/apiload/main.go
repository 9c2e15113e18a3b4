// Command apiload serves the REST API for the load run (hack/load-api.sh): a Redis-backed cache
// preloaded with 78 symbols analysed from the simulated market, the production handlers and
// metrics, and optionally pprof. It is a development tool, never part of the operator image.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" //nolint:gosec // served only when -pprof is given, on the address given
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/stdr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hama-operator/hama-operator/internal/apiserver"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/metrics"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// symbols are 78 common USDT pairs, the size of the original service's gainer list.
var symbols = strings.Fields(`BTCUSDT ETHUSDT BNBUSDT SOLUSDT XRPUSDT DOGEUSDT ADAUSDT TRXUSDT AVAXUSDT LINKUSDT
DOTUSDT MATICUSDT LTCUSDT BCHUSDT UNIUSDT ATOMUSDT XLMUSDT ETCUSDT FILUSDT APTUSDT ARBUSDT OPUSDT NEARUSDT
ICPUSDT VETUSDT HBARUSDT QNTUSDT AAVEUSDT GRTUSDT ALGOUSDT SANDUSDT MANAUSDT AXSUSDT EGLDUSDT THETAUSDT
XTZUSDT EOSUSDT FTMUSDT FLOWUSDT CHZUSDT KAVAUSDT RUNEUSDT CRVUSDT MKRUSDT SNXUSDT COMPUSDT ZECUSDT DASHUSDT
ENJUSDT BATUSDT ZILUSDT ONEUSDT IOTAUSDT NEOUSDT WAVESUSDT KSMUSDT SUSHIUSDT YFIUSDT 1INCHUSDT LRCUSDT
CELOUSDT ANKRUSDT STXUSDT INJUSDT SUIUSDT SEIUSDT TIAUSDT PEPEUSDT SHIBUSDT WLDUSDT LDOUSDT RNDRUSDT IMXUSDT
GALAUSDT APEUSDT DYDXUSDT GMXUSDT CFXUSDT`)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "Address the API listens on.")
	redisAddr := flag.String("redis", "", "Redis address (host:port); empty for the memory cache only.")
	pprofAddr := flag.String("pprof", "", "Address for net/http/pprof; empty to disable.")
	luaPath := flag.String("wrk-script", "", "Write a wrk Lua script rotating the symbols in POST bodies to this file, then exit.")
	baseline := flag.Bool("baseline", false,
		"Serve every request with a bare net/http handler and a fixed body of the API's answer size instead: "+
			"what the machine gives any Go HTTP server under the same load.")
	cacheCfg := cache.DefaultConfig()
	flag.BoolVar(&cacheCfg.ClientCache, "redis-client-cache", cacheCfg.ClientCache, "The operator's --redis-client-cache.")
	flag.Parse()
	if *luaPath != "" {
		if err := os.WriteFile(*luaPath, []byte(wrkScript()), 0o644); err != nil {
			fail(err)
		}
		return
	}
	if *baseline {
		if err := serveBaseline(*addr); err != nil {
			fail(err)
		}
		return
	}
	cacheCfg.RedisEnabled = *redisAddr != ""
	cacheCfg.Addrs = []string{*redisAddr}
	if err := serve(*addr, *pprofAddr, cacheCfg); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "apiload:", err)
	os.Exit(1)
}

func serve(addr, pprofAddr string, cfg cache.Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := stdr.New(nil)

	rec := metrics.New(prometheus.NewRegistry())
	store, err := cache.New(cfg, rec, logr.Discard())
	if err != nil {
		return err
	}
	defer func() { _ = store.Close() }()
	if cfg.RedisEnabled && store.Degraded() {
		return fmt.Errorf("redis at %s does not answer", cfg.Addrs[0])
	}
	go func() { _ = store.Start(ctx) }()

	defaults := refresh.Job{Exchange: market.Simulated, Timeframes: []string{"15m", "1h", "4h"}, Candles: 500,
		TTL: time.Hour, Params: hama.DefaultParams(), Concurrency: 8}
	pipeline := &refresh.Pipeline{Sources: &refresh.Sources{}, Store: store, Observer: rec,
		Log: logr.Discard(), Defaults: defaults}
	started := time.Now()
	if err := preload(ctx, cfg, store, pipeline); err != nil {
		return err
	}
	log.Info("preloaded", "symbols", len(symbols), "backend", store.Stats().Serving, "took", time.Since(started).Round(time.Millisecond))

	if pprofAddr != "" {
		go func() { log.Error(http.ListenAndServe(pprofAddr, nil), "pprof stopped") }() //nolint:gosec // dev tool
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := apiserver.New(apiserver.Config{Addr: addr}, store, pipeline, nil, nil, rec, log)
	fmt.Println("READY", l.Addr().String()) // hack/load-api.sh waits for this line
	return srv.Serve(ctx, l)
}

// preload analyses the symbols into the cache. With Redis another client writes them, as the leader
// replica would, so the server measured is a replica reading what it did not write.
func preload(ctx context.Context, cfg cache.Config, serving *cache.Cache, p *refresh.Pipeline) error {
	writer := *p
	if cfg.RedisEnabled {
		leader, err := cache.New(cfg, nil, logr.Discard())
		if err != nil {
			return err
		}
		defer func() { _ = leader.Close() }()
		writer.Store, writer.Observer = leader, nil
	} else {
		writer.Store = serving // the memory cache is the process's own
	}
	job := writer.Defaults
	job.Schedule, job.Symbols = "apiload", symbols
	report, err := writer.Refresh(ctx, job)
	if err != nil {
		return err
	}
	if len(report.Failures) > 0 {
		return fmt.Errorf("preloading failed for %d symbols, first: %+v", len(report.Failures), report.Failures[0])
	}
	return nil
}

// serveBaseline answers like the API (the same size, ~5.3 KB with the original service's view, the
// same headers) with no work behind it.
func serveBaseline(addr string) error {
	body := []byte(`{"code":1,"msg":"success","data":"` + strings.Repeat("x", 5250) + `"}` + "\n")
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("READY", l.Addr().String())
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	return srv.Serve(l)
}

func wrkScript() string {
	var b strings.Builder
	b.WriteString("-- Generated by go run ./hack/apiload -wrk-script: POST analyze-symbol rotating 78 symbols.\n")
	b.WriteString("local symbols = {")
	for i, s := range symbols {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", s)
	}
	b.WriteString(`}
-- The requests are formatted once, so wrk spends its time sending them, not building them.
local requests = {}
local i = 0
init = function()
  local headers = {["Content-Type"] = "application/json"}
  for k, s in ipairs(symbols) do
    requests[k] = wrk.format("POST", "/api/gainer-analysis/analyze-symbol", headers, '{"symbol":"' .. s .. '"}')
  end
end
request = function()
  i = i % #requests + 1
  return requests[i]
end

-- With WRK_RATE set (requests per second over all WRK_THREADS threads), each thread sends on a
-- fixed schedule, so latency is measured at that load rather than at saturation. A thread behind
-- schedule sends at once to catch up, but forgives a stall of over 100 ms instead of bursting.
local rate = tonumber(os.getenv("WRK_RATE") or "") or 0
if rate > 0 then
  local ffi = require("ffi")
  ffi.cdef[[
    typedef struct { long tv_sec; long tv_nsec; } apiload_timespec;
    int clock_gettime(int clock, apiload_timespec *ts);
  ]]
  local ts = ffi.new("apiload_timespec")
  local function now_ms()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval = 1000 * (tonumber(os.getenv("WRK_THREADS") or "") or 1) / rate
  local slot = nil
  delay = function()
    local now = now_ms()
    if slot == nil or slot < now - 100 then slot = now end
    local wait = slot - now
    slot = slot + interval
    return wait > 0 and wait or 0
  end
end
`)
	return b.String()
}
