package metrics

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/hama-operator/hama-operator/internal/cache"
)

func exercised() (*Recorder, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	r := New(reg)
	r.ObserveCacheRequest(cache.BackendRedis, "hit")
	r.ObserveCacheRequest(cache.BackendRedis, "hit")
	r.ObserveCacheRequest(cache.BackendMemory, "miss")
	r.ObserveFallback()
	r.SetBackendUp(true)
	r.SetCachedSymbols(78)
	r.ObserveUpstream("binance", "200", 40*time.Millisecond)
	r.ObserveUpstream("binance", "429", 10*time.Millisecond)
	r.ObserveSymbolAnalysis("success")
	r.ObserveRun("default", "top", "success", 2*time.Second)
	r.ObserveRun("default", "top", "partial", 3*time.Second)
	r.ObserveRun("other", "keep", "success", time.Second)
	r.SetLastSuccess("default", "top", time.Unix(1_800_000_000, 0))
	r.ObserveAPIRequest("POST /api/gainer-analysis/analyze-symbol", 200, time.Millisecond)
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
		{"429s", testutil.ToFloat64(r.upstreamRequests.WithLabelValues("binance", "429")), 1},
		{"partial runs", testutil.ToFloat64(r.refreshRuns.WithLabelValues("default", "top", "partial")), 1},
		{"last success", testutil.ToFloat64(r.lastSuccessfulRun.WithLabelValues("default", "top")), 1_800_000_000},
		{"api calls", testutil.ToFloat64(r.apiRequests.WithLabelValues("POST /api/gainer-analysis/analyze-symbol", "200")), 1},
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
	if len(families) != 12 {
		t.Fatalf("%d metric families exposed, want 12", len(families))
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
