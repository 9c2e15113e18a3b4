package metrics_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hama-operator/hama-operator/controllers"
	"github.com/hama-operator/hama-operator/internal/apiserver"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/dispatch"
	"github.com/hama-operator/hama-operator/internal/market/binance"
	"github.com/hama-operator/hama-operator/internal/metrics"
	"github.com/hama-operator/hama-operator/internal/refresh"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// One Recorder is every observer of the operator.
var (
	_ cache.Observer           = (*metrics.Recorder)(nil)
	_ binance.Observer         = (*metrics.Recorder)(nil)
	_ controllers.RunMetrics   = (*metrics.Recorder)(nil)
	_ refresh.AnalysisObserver = (*metrics.Recorder)(nil)
	_ apiserver.Recorder       = (*metrics.Recorder)(nil)
	_ signals.Observer         = (*metrics.Recorder)(nil)
	_ controllers.AlertMetrics = (*metrics.Recorder)(nil)
	_ dispatch.Observer        = (*metrics.Recorder)(nil)
)

func TestRefreshHistogramBucketsSpanATenthOfASecondToTenMinutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := metrics.New(reg)
	for _, d := range []time.Duration{50 * time.Millisecond, 700 * time.Millisecond, 4 * time.Minute, 20 * time.Minute} {
		r.ObserveRun("ns", "s", "success", d)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "hama_refresh_duration_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		buckets := h.GetBucket()
		if first, last := buckets[0].GetUpperBound(), buckets[len(buckets)-1].GetUpperBound(); first != 0.1 || last != 600 {
			t.Errorf("buckets span %v..%v s, want 0.1..600", first, last)
		}
		cumulative := map[float64]uint64{}
		for _, b := range buckets {
			cumulative[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		if cumulative[0.1] != 1 || cumulative[1] != 2 || cumulative[300] != 3 || cumulative[600] != 3 || h.GetSampleCount() != 4 {
			t.Errorf("cumulative counts %v with %d samples, want 1 ≤0.1s, 2 ≤1s, 3 ≤300s and ≤600s, 4 in all", cumulative, h.GetSampleCount())
		}
		return
	}
	t.Fatal("hama_refresh_duration_seconds not exposed")
}

func TestAPISeriesAreKeyedByRoutePatternAndCode(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := metrics.New(reg)
	r.ObserveAPIRequest("GET /api/v1/analysis/{symbol}", 200, time.Millisecond)
	r.ObserveAPIRequest("GET /api/v1/analysis/{symbol}", 404, time.Millisecond)
	r.ObserveAPIRequest("GET /api/v1/analysis/{symbol}", 200, time.Millisecond)
	if n := testutil.CollectAndCount(reg, "hama_api_requests_total"); n != 2 {
		t.Errorf("%d request series, want 2 (one per code)", n)
	}
	if n := testutil.CollectAndCount(reg, "hama_api_request_duration_seconds"); n != 1 {
		t.Errorf("%d duration series, want 1 (per route only)", n)
	}
}
