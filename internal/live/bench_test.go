package live

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/cache/redistest"
	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/market/binance/binancetest"
	"github.com/hama-operator/hama-operator/internal/refresh"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// lagRecorder counts written closes and keeps their lags.
type lagRecorder struct {
	recorder
	done chan struct{}
	want int
	// lastArrival is when the last closed kline written arrived.
	lastArrival time.Time
}

func (r *lagRecorder) ObserveCloseToCache(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lags = append(r.lags, d)
	if arrived := time.Now().Add(-d); arrived.After(r.lastArrival) {
		r.lastArrival = arrived
	}
	if len(r.lags) == r.want {
		close(r.done)
	}
}

// BenchmarkBurst5000 is the in-process half of docs/performance.md's stream-mode numbers: 1000
// symbols × 5 timeframes backfilled from binancetest into the cache (a real redis-server, as the
// operator writes it, with the signal history), then the hour closes all 5000 candles at once and
// it waits until all are written. Profile it with -cpuprofile and -memprofile to see where a
// burst goes.
func BenchmarkBurst5000(b *testing.B) {
	hour := time.Now().UTC().Truncate(time.Hour).Add(-24 * time.Hour)
	ex := binancetest.New(hour.Add(-time.Minute))
	b.Cleanup(ex.Close)
	cfg := cache.DefaultConfig()
	cfg.RedisEnabled, cfg.Addrs = true, []string{redistest.Start(b).Addr()}
	store, err := cache.New(cfg, nil, logr.Discard())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	sources := &refresh.Sources{WeightPerMinute: 100_000_000}
	obs := &lagRecorder{recorder: recorder{byKind: map[string]int{}}}
	history := signals.NewLog(store.Client(), signals.LogOptions{Down: store.Degraded, Log: logr.Discard()})
	writer := &countingWriter{Pipeline: &refresh.Pipeline{Sources: sources, Store: store, Signals: history, Log: logr.Discard()}}
	m := &Manager{Writer: writer, Sources: sources,
		Observer: obs, Log: logr.Discard()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.Start(ctx) }()
	go func() { _ = store.Start(ctx) }()
	symbols := make([]string, 1000)
	for i := range symbols {
		symbols[i] = fmt.Sprintf("S%04dUSDT", i)
	}
	job := refresh.Job{Schedule: "bench/burst", Symbols: symbols, Timeframes: []string{"1m", "3m", "5m", "15m", "1h"},
		Candles: 500, Concurrency: 32, TTL: time.Hour, Exchange: market.Binance, BaseURL: ex.URL, StreamURL: ex.StreamURL,
		Stream: true, Params: hama.DefaultParams()}
	start := time.Now()
	if report, err := m.Sync(ctx, job); err != nil || report.Succeeded != len(symbols) {
		b.Fatalf("backfill: %+v %v", report, err)
	}
	for ex.Stats().Streams != 5000 {
		time.Sleep(10 * time.Millisecond)
	}
	b.Logf("backfill of 5000 series: %s", time.Since(start).Round(time.Millisecond))
	var mem runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&mem)
	writer.calls.Store(0)
	if b.N > 1 {
		b.Skip("one burst per run (the next hour's would follow 59 minutes of closes): use -benchtime=1x")
	}
	all := make([]time.Duration, 0, 5000)
	b.ResetTimer()
	for range b.N {
		obs.mu.Lock()
		obs.lags, obs.want, obs.done = nil, 5000, make(chan struct{})
		done := obs.done
		obs.mu.Unlock()
		// From hh:59 to the hour: all five close. The exchange's work of making the messages is not timed.
		push := ex.PrepareAdvance(ex.Now().Truncate(time.Hour).Add(time.Hour).Sub(ex.Now()))
		redisCPU0, cpu0 := redisCPU(b, store), processCPU()
		pushed := time.Now()
		push()
		<-done
		b.ReportMetric(float64(time.Since(pushed).Milliseconds()), "burst_ms")
		b.ReportMetric(float64(obs.lastArrival.Sub(pushed).Milliseconds()), "last_arrival_ms") // the exchange's push and our reading
		b.ReportMetric(1000*(processCPU()-cpu0), "process_cpu_ms")                             // the operator's side and the exchange's
		b.ReportMetric(1000*(redisCPU(b, store)-redisCPU0), "redis_cpu_ms")
		obs.mu.Lock()
		all = append(all, obs.lags...)
		obs.mu.Unlock()
	}
	b.ReportMetric(float64(writer.calls.Load()), "cache_writes")
	b.ReportMetric(float64(mem.HeapAlloc)/(1<<20), "live_heap_MiB")      // after the backfill: series, the cache's memory copy
	b.ReportMetric(float64(store.Stats().Fallbacks), "memory_fallbacks") // calls memory answered: Redis was down
	slices.Sort(all)
	b.ReportMetric(float64(quantile(all, 0.99).Microseconds())/1000, "arrival_to_cache_p99_ms")
	b.ReportMetric(float64(quantile(all, 1).Microseconds())/1000, "arrival_to_cache_max_ms")
}

// processCPU is the CPU time this process used so far, in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// redisCPU is the CPU time redis-server used so far, in seconds (INFO cpu).
func redisCPU(b *testing.B, store *cache.Cache) float64 {
	info, err := store.Client().Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	total := 0.0
	for _, line := range strings.Split(info, "\r\n") {
		for _, field := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, field); ok {
				f, _ := strconv.ParseFloat(v, 64)
				total += f
			}
		}
	}
	return total
}

// countingWriter counts the pipeline's writes: one per symbol whose timeframes closed together.
type countingWriter struct {
	*refresh.Pipeline
	calls atomic.Int64
}

func (w *countingWriter) AnalyzeCandles(ctx context.Context, job refresh.Job, symbol string,
	candles map[string][]market.Candle) ([]analysis.SignalChange, error) {
	w.calls.Add(1)
	return w.Pipeline.AnalyzeCandles(ctx, job, symbol, candles)
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}
