package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/market/binance/binancetest"
)

// BenchmarkStream5000 is docs/performance.md's stream-mode run: one schedule of 1000 symbols × 5
// timeframes (1m 3m 5m 15m 1h) in stream mode against binancetest, whose clock moves a minute at
// each real minute boundary, closing every 1m candle; its clock starts a minute before an hour, so
// the first of those pushes closes all 5000 candles of all five timeframes. Between closes it
// pushes an open-candle update on every stream every 2 s, as Binance does. Close-to-cache is timed
// from the moment the exchange starts pushing a minute's closes to each write of hama:analysis:*
// seen through Redis keyspace notifications, and from each closed kline's arrival to the cache by
// the operator's own histogram. The operator's CPU and memory come from /proc; the REST weight
// after the backfill from the exchange's own count.
func BenchmarkStream5000(b *testing.B) {
	if b.N > 1 {
		b.Skip("a system benchmark runs once: use -benchtime=1x")
	}
	s, _, raw := startSystemWithRedis(b)
	ctx := context.Background()
	// The exchange's clock: a minute before an hour, behind the real time, which the operator
	// follows from the events' times.
	hour := time.Now().UTC().Truncate(time.Hour)
	ex := binancetest.New(hour.Add(-time.Minute))
	b.Cleanup(ex.Close)
	// The operator's own Redis timeouts and health interval, not the other tests' short ones (the
	// last flag given wins), and its default log level.
	op := s.startOperator("bench-operator", "--exchange-weight-per-minute", "1000000",
		"--redis-read-timeout", "500ms", "--redis-health-interval", "2s", "--zap-log-level", "info")

	symbols := make([]string, 1000)
	for i := range symbols {
		symbols[i] = fmt.Sprintf("S%04dUSDT", i)
	}
	tfs := []analysisv1alpha1.Timeframe{"1m", "3m", "5m", "15m", "1h"}
	obj := schedule("stream5000", symbols, analysisv1alpha1.ExchangeBinance, ex.URL)
	obj.Spec.Timeframes = tfs
	obj.Spec.Concurrency = 32
	obj.Spec.Interval = metav1.Duration{Duration: 2 * time.Minute} // the resync period
	obj.Spec.TTL = &metav1.Duration{Duration: 10 * time.Minute}
	obj.Spec.Source.Mode = analysisv1alpha1.ModeStream
	obj.Spec.Source.StreamURL = ex.StreamURL
	backfillStart := time.Now()
	if err := s.kube.Create(ctx, obj); err != nil {
		b.Fatal(err)
	}
	s.eventually("the backfill and the subscriptions", 10*time.Minute, func() error {
		if ok, reason := readyReason(s.get("stream5000")); !ok {
			return fmt.Errorf("not ready: %s", reason)
		}
		if st := ex.Stats(); st.Streams != 5000 {
			return fmt.Errorf("%d streams subscribed", st.Streams)
		}
		return nil
	})
	backfill := time.Since(backfillStart)
	b.ReportMetric(backfill.Seconds(), "backfill_s")
	b.ReportMetric(float64(ex.Stats().Connections), "connections")

	// Every write of an analysis, as Redis announces it.
	if err := raw.ConfigSet(ctx, "notify-keyspace-events", "K$").Err(); err != nil {
		b.Fatal(err)
	}
	sub := raw.PSubscribe(ctx, "__keyspace@0__:hama:analysis:*")
	b.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(ctx); err != nil {
		b.Fatal(err)
	}
	var (
		mu     sync.Mutex
		writes []time.Time
	)
	go func() {
		for range sub.Channel(redis.WithChannelSize(100_000)) {
			now := time.Now()
			mu.Lock()
			writes = append(writes, now)
			mu.Unlock()
		}
	}()
	// burst waits for the next real minute boundary, then moves the exchange a minute on, and
	// returns the lags of the writes that follow, until none came for 2 s. A write merges every
	// timeframe of a symbol that closed together, so a burst of 5000 closes is about 1000 writes.
	burst := func() []time.Duration {
		push := ex.PrepareAdvance(time.Minute) // the exchange's work of making the messages is not timed
		openUpdates(ex, time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)))
		mu.Lock()
		writes = writes[:0]
		mu.Unlock()
		pushed := time.Now()
		push()
		for last := -1; ; {
			time.Sleep(2 * time.Second)
			mu.Lock()
			n := len(writes)
			mu.Unlock()
			if n == last {
				break
			}
			last = n
		}
		mu.Lock()
		defer mu.Unlock()
		lags := make([]time.Duration, len(writes))
		for i, w := range writes {
			lags[i] = w.Sub(pushed)
		}
		return lags
	}

	var (
		weight0, requests0 int64
		cpu0               float64
		wall0              time.Time
	)
	// Bursts: the first boundary closes all 5000 candles (the hour), the next ones the 1000 1m
	// candles (and the 3m ones every third minute).
	all := make([]time.Duration, 0, 4*1000)
	for i := range 4 {
		if i == 3 {
			// Between two closes: 10 s of silence, then 30 s of open-candle updates on every stream.
			cpuQuiet0, wallQuiet0 := cpuSeconds(b, op), time.Now()
			time.Sleep(10 * time.Second)
			b.ReportMetric(100*(cpuSeconds(b, op)-cpuQuiet0)/time.Since(wallQuiet0).Seconds(), "cpu_quiet_pct")
			cpuOpen0, wallOpen0 := cpuSeconds(b, op), time.Now()
			openUpdates(ex, 30*time.Second)
			b.ReportMetric(100*(cpuSeconds(b, op)-cpuOpen0)/time.Since(wallOpen0).Seconds(), "cpu_between_closes_pct")
		}
		next := ex.Now().Add(time.Minute)
		closes := 0
		for _, tf := range tfs {
			if d := market.NextOpen(string(tf), next).Sub(next); next.Truncate(d).Equal(next) {
				closes += len(symbols)
			}
		}
		lags := burst()
		slices.Sort(lags)
		b.Logf("burst %d at %s: %d candles closed, %d cache writes, push to write p50 %s p99 %s max %s", i+1, next.Format("15:04"),
			closes, len(lags), quantile(lags, 0.5), quantile(lags, 0.99), quantile(lags, 1))
		if i == 0 {
			b.ReportMetric(float64(len(lags)), "hour_writes")
			b.ReportMetric(quantile(lags, 0.99).Seconds()*1000, "hour_push_to_cache_p99_ms")
			b.ReportMetric(quantile(lags, 1).Seconds()*1000, "hour_push_to_cache_max_ms")
			// The steady state starts once the operator has seen the exchange's clock.
			weight0, requests0 = ex.Stats().RESTWeight, ex.Stats().RESTRequests
			cpu0, wall0 = cpuSeconds(b, op), time.Now()
		}
		all = append(all, lags...)
	}
	slices.Sort(all)
	b.ReportMetric(quantile(all, 0.99).Seconds()*1000, "all_push_to_cache_p99_ms")
	if m, err := httpGet("http://" + op.metrics + "/metrics"); err == nil {
		count := metricValue(m, "hama_stream_close_to_cache_seconds_count")
		b.ReportMetric(count, "closes_written")
		b.ReportMetric(100*metricValue(m, "hama_stream_close_to_cache_seconds_bucket", `le="0.1"`)/count, "arrival_to_cache_within_100ms_pct")
		b.ReportMetric(100*metricValue(m, "hama_stream_close_to_cache_seconds_bucket", `le="1"`)/count, "arrival_to_cache_within_1s_pct")
		// Calls the memory copy answered because Redis was not serving: a burst must not lose Redis.
		b.ReportMetric(metricValue(m, "hama_cache_fallbacks_total"), "cache_fallbacks")
	}

	elapsed := time.Since(wall0)
	b.ReportMetric(100*(cpuSeconds(b, op)-cpu0)/elapsed.Seconds(), "cpu_whole_window_pct")
	st := ex.Stats()
	b.ReportMetric(float64(st.RESTWeight-weight0)*float64(time.Hour)/float64(elapsed), "rest_weight_per_hour")
	b.Logf("from the first close to the fourth: %d REST requests, weight %d, in %s (a resync every 2 minutes)",
		st.RESTRequests-requests0, st.RESTWeight-weight0, elapsed.Round(time.Second))
	b.ReportMetric(procMiB(b, op, "VmRSS:"), "operator_rss_MiB")
	b.ReportMetric(procMiB(b, op, "VmHWM:"), "operator_peak_rss_MiB")
}

// openUpdates pushes an open-candle update on every stream every 2 s for d.
func openUpdates(ex *binancetest.Exchange, d time.Duration) {
	end := time.Now().Add(d)
	for time.Until(end) > 2*time.Second {
		ex.PushOpen()
		time.Sleep(2 * time.Second)
	}
	time.Sleep(time.Until(end))
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)].Round(time.Millisecond)
}

// cpuSeconds is the operator's user and system CPU time so far.
func cpuSeconds(b *testing.B, o *operator) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", o.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // clock ticks: USER_HZ is 100 on Linux
}

// procMiB is a memory field of the operator's /proc status ("VmRSS:", "VmHWM:" for the peak), in MiB.
func procMiB(b *testing.B, o *operator, field string) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", o.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, field) {
			var kb float64
			_, _ = fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, field)), "%g", &kb)
			return kb / 1024
		}
	}
	return 0
}
