package metrics

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/signals"
)

func exercised() (*Recorder, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	r := New(reg)
	r.ObserveCacheRequest(cache.BackendRedis, "hit")
	r.ObserveCacheRequest(cache.BackendRedis, "hit")
	r.ObserveCacheRequest(cache.BackendMemory, "miss")
	r.ObserveFallback()
	r.SetBackendUp(true)
	r.CountCachedSymbolsWith(func(context.Context) (int, error) { return 78, nil })
	r.ObserveUpstream("binance", "200", 40*time.Millisecond)
	r.ObserveUpstream("binance", "429", 10*time.Millisecond)
	r.ObserveSymbolAnalysis("success")
	r.ObserveRun("default", "top", "success", 2*time.Second)
	r.ObserveRun("default", "top", "partial", 3*time.Second)
	r.ObserveRun("other", "keep", "success", time.Second)
	r.SetLastSuccess("default", "top", time.Unix(1_800_000_000, 0))
	r.TrackSchedule("default", "top", 5*time.Minute, time.Unix(1_700_000_000, 0), nil)
	r.SetRedisConfigured(true)
	r.ObserveAPIRequest("POST /api/gainer-analysis/analyze-symbol", 200, time.Millisecond)
	r.ObserveSignalEvent(signals.CrossUp, signals.ResultAppended)
	r.ObserveSignalEvent(signals.CrossUp, signals.ResultDuplicate)
	r.SetSignalEventsWaiting(3)
	r.TrackAlert("default", "crosses", "slack")
	r.ObserveNotification("default", "crosses", "slack", "sent")
	r.ObserveDeliveryLatency("slack", 1500*time.Millisecond)
	r.ObserveStreamConnection(+1)
	r.ObserveStreamConnection(+1)
	r.ObserveStreamConnection(-1)
	r.ObserveStreamMessage("closed")
	r.ObserveStreamMessage("malformed")
	r.ObserveStreamReconnect()
	r.ObserveGapHealed(3)
	r.ObserveCloseToCache(20 * time.Millisecond)
	return r, reg
}

func TestValuesAfterEvents(t *testing.T) {
	r, _ := exercised()
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"redis hits", testutil.ToFloat64(r.cacheRequests.WithLabelValues("redis", "hit")), 2},
		{"memory misses", testutil.ToFloat64(r.cacheRequests.WithLabelValues("memory", "miss")), 1},
		{"fallbacks", testutil.ToFloat64(r.cacheFallbacks), 1},
		{"backend up", testutil.ToFloat64(r.cacheBackendUp), 1},
		{"cached symbols", testutil.ToFloat64(r.cachedSymbols), 78},
		{"rate limits counted before the first", testutil.ToFloat64(r.upstreamRequests.WithLabelValues("binance-futures", "418")), 0},
		{"429s", testutil.ToFloat64(r.upstreamRequests.WithLabelValues("binance", "429")), 1},
		{"partial runs", testutil.ToFloat64(r.refreshRuns.WithLabelValues("default", "top", "partial")), 1},
		{"last success", testutil.ToFloat64(r.lastSuccessfulRun.WithLabelValues("default", "top")), 1_800_000_000},
		{"api calls", testutil.ToFloat64(r.apiRequests.WithLabelValues("POST /api/gainer-analysis/analyze-symbol", "200")), 1},
		{"signal duplicates", testutil.ToFloat64(r.signalEvents.WithLabelValues("crossUp", "duplicate")), 1},
		{"signals dropped before the first", testutil.ToFloat64(r.signalEvents.WithLabelValues("squeezeEnd", "dropped")), 0},
		{"signals waiting", testutil.ToFloat64(r.signalsWaiting), 3},
		{"stream connections", testutil.ToFloat64(r.streamConnections), 1},
		{"malformed stream messages", testutil.ToFloat64(r.streamMessages.WithLabelValues("malformed")), 1},
		{"unknown stream messages counted before the first", testutil.ToFloat64(r.streamMessages.WithLabelValues("unknown")), 0},
		{"stream reconnects", testutil.ToFloat64(r.streamReconnects), 1},
		{"gaps healed", testutil.ToFloat64(r.streamGapsHealed), 3},
		{"close-to-cache observations", float64(testutil.CollectAndCount(r.streamCloseToCache)), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestForgetRemovesOnlyTheDeletedSchedulesSeries(t *testing.T) {
	r, _ := exercised()
	r.Forget("default", "top")
	if n := testutil.CollectAndCount(r.refreshRuns); n != 1 {
		t.Fatalf("%d run series left, want only other/keep", n)
	}
	if n := testutil.CollectAndCount(r.lastSuccessfulRun) + testutil.CollectAndCount(r.refreshDuration); n != 1 {
		t.Fatalf("%d timestamp/duration series left, want other/keep's duration only", n)
	}
}

// The exposition passes promtool's linter (Debian's prometheus package ships promtool).
func TestExpositionPassesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install it with `apt-get install -y prometheus`")
	}
	_, reg := exercised()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	if len(families) != 24 {
		t.Fatalf("%d metric families exposed, want 24", len(families))
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// Before anything happens, the series dashboards and alerts need already exist at zero.
func TestSeriesExistAtZeroBeforeTheFirstEvent(t *testing.T) {
	r := New(prometheus.NewRegistry())
	if n := testutil.CollectAndCount(r.upstreamRequests); n != 4 {
		t.Errorf("%d upstream series, want 418 and 429 for binance and binance-futures", n)
	}
	if n := testutil.CollectAndCount(r.symbolAnalyses) + testutil.CollectAndCount(r.cacheRequests); n != 2+4 {
		t.Errorf("%d analysis and cache request series, want 6", n)
	}
	// The signal, notification and stream series the dashboard draws and the alerts' increase() reads.
	for _, c := range []struct {
		what      string
		collector prometheus.Collector
		want      int
	}{
		{"signal events (5 kinds x appended, duplicate, dropped)", r.signalEvents, 15},
		{"signal events waiting", r.signalsWaiting, 1},
		{"notification delivery latency (4 providers)", r.deliveryDuration, 4},
		{"stream messages (closed, open, control, malformed, unknown)", r.streamMessages, 5},
		{"stream connections", r.streamConnections, 1},
		{"stream reconnects", r.streamReconnects, 1},
		{"stream gaps healed", r.streamGapsHealed, 1},
		{"stream close-to-cache", r.streamCloseToCache, 1},
	} {
		if n := testutil.CollectAndCount(c.collector); n != c.want {
			t.Errorf("%d %s series before any event, want %d", n, c.what, c.want)
		}
	}
	last := time.Unix(1_800_000_000, 0)
	r.TrackSchedule("team-a", "gainers", time.Minute, time.Unix(1_700_000_000, 0), &last)
	for _, result := range []string{"success", "partial", "failure"} {
		if got := testutil.ToFloat64(r.refreshRuns.WithLabelValues("team-a", "gainers", result)); got != 0 {
			t.Errorf("%s runs = %v before any run", result, got)
		}
	}
	if got := testutil.ToFloat64(r.lastSuccessfulRun.WithLabelValues("team-a", "gainers")); got != 1_800_000_000 {
		t.Errorf("last success from the status = %v", got)
	}
	if got := testutil.ToFloat64(r.scheduleInterval.WithLabelValues("team-a", "gainers")); got != 60 {
		t.Errorf("interval = %v", got)
	}
	r.UntrackSchedule("team-a", "gainers")
	if n := testutil.CollectAndCount(r.scheduleInterval) + testutil.CollectAndCount(r.scheduleCreated); n != 0 {
		t.Errorf("%d interval/creation series left for a suspended schedule", n)
	}
	if n := testutil.CollectAndCount(r.refreshRuns); n != 3 {
		t.Errorf("%d run series after suspension, want the 3 counters kept", n)
	}
}

func TestCachedSymbolsAreCountedOnEachScrapeAndKeptOnError(t *testing.T) {
	r := New(prometheus.NewRegistry())
	n, fail := 3, false
	r.CountCachedSymbolsWith(func(context.Context) (int, error) {
		if fail {
			return 0, context.DeadlineExceeded
		}
		return n, nil
	})
	if got := testutil.ToFloat64(r.cachedSymbols); got != 3 {
		t.Fatalf("first scrape = %v, want 3", got)
	}
	n = 40
	if got := testutil.ToFloat64(r.cachedSymbols); got != 40 {
		t.Fatalf("second scrape = %v, want 40", got)
	}
	fail = true
	if got := testutil.ToFloat64(r.cachedSymbols); got != 40 {
		t.Fatalf("scrape while counting fails = %v, want the last count 40", got)
	}
}

func TestAlertSeriesStartAtZeroAndGoWithTheAlert(t *testing.T) {
	r, _ := exercised()
	r.TrackAlert("other", "quiet", "email")
	if got := testutil.ToFloat64(r.notifications.WithLabelValues("default", "crosses", "slack", "sent")); got != 1 {
		t.Errorf("sent = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(r.notifications); n != 8 {
		t.Errorf("%d notification series, want 4 results of 2 alerts", n)
	}
	r.ForgetAlert("default", "crosses")
	if n := testutil.CollectAndCount(r.notifications); n != 4 {
		t.Errorf("%d notification series after forgetting one alert, want 4", n)
	}
	if n := testutil.CollectAndCount(r.deliveryDuration); n != 4 {
		t.Errorf("%d latency series, want one per provider from the start", n)
	}
}
