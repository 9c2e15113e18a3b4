package apiserver

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

type batchData struct {
	Results map[string]symbolData `json:"results"`
	Errors  []batchError          `json:"errors"`
	Summary batchSummary          `json:"summary"`
}

func TestBatchReportsResultsAndErrorsPerSymbol(t *testing.T) {
	f := newFixture(t)
	f.post(analyzeSymbolPath, "", map[string]any{"symbol": "BTCUSDT"}).wantOK(t, nil)
	f.post(analyzeSymbolPath, "", map[string]any{"symbol": "ETHUSDT"}).wantOK(t, nil)

	var got batchData
	f.post("/api/gainer-analysis/analyze-batch", "", map[string]any{
		"symbols": []string{"BTCUSDT", "ETHUSDT", "XRPUSDT", "NOPEUSDT"},
	}).wantOK(t, &got)
	want := batchSummary{Total: 4, Success: 3, Cached: 2, Failed: 1}
	if got.Summary != want {
		t.Errorf("summary = %+v, want %+v", got.Summary, want)
	}
	if !got.Results["BTCUSDT"].Cached || got.Results["BTCUSDT"].CacheSource != "redis" {
		t.Errorf("BTCUSDT = cached %v from %q, want a redis hit", got.Results["BTCUSDT"].Cached, got.Results["BTCUSDT"].CacheSource)
	}
	if x := got.Results["XRPUSDT"]; x.Cached || x.CacheSource != "computed" || x.Timeframes["1h"].Symbol != "XRPUSDT" {
		t.Errorf("XRPUSDT = %+v, want a fresh computation", x)
	}
	if len(got.Errors) != 1 || got.Errors[0].Symbol != "NOPEUSDT" || got.Errors[0].Status != http.StatusNotFound ||
		got.Errors[0].Reason != "InvalidSymbol" {
		t.Errorf("errors = %+v, want NOPEUSDT 404 InvalidSymbol", got.Errors)
	}
}

func TestPreloadRecomputesCachedSymbolsAndNeedsAToken(t *testing.T) {
	f := newFixture(t)
	f.post(analyzeSymbolPath, "", map[string]any{"symbol": "BTCUSDT"}).wantOK(t, nil)
	body := map[string]any{"symbols": []string{"BTCUSDT", "ADAUSDT"}}
	f.post("/api/gainer-analysis/preload", "", body).wantError(t, http.StatusUnauthorized, "bearer token")
	f.post("/api/gainer-analysis/preload", "viewer", body).wantError(t, http.StatusForbidden, "may not update")

	var got preloadResponse
	f.post("/api/gainer-analysis/preload", "admin", body).wantOK(t, &got)
	if got.Total != 2 || got.Success != 2 || got.Failed != 0 || len(got.FailedSymbols) != 0 {
		t.Errorf("preload = %+v, want 2 of 2 recomputed", got)
	}
	if f.analyzer.count("BTCUSDT") != 2 || f.analyzer.count("ADAUSDT") != 1 {
		t.Errorf("analyses BTCUSDT=%d ADAUSDT=%d, want 2 and 1", f.analyzer.count("BTCUSDT"), f.analyzer.count("ADAUSDT"))
	}
	var stats struct {
		CachedSymbols        int      `json:"cached_symbols"`
		Symbols              []string `json:"symbols"`
		CacheType            string   `json:"cache_type"`
		CacheDurationMinutes float64  `json:"cache_duration_minutes"`
		RedisUp              bool     `json:"redis_up"`
	}
	f.get("/api/gainer-analysis/cache-stats", "").wantOK(t, &stats)
	if stats.CachedSymbols != 2 || len(stats.Symbols) != 2 || stats.Symbols[0] != "ADAUSDT" || stats.CacheType != "redis" ||
		stats.CacheDurationMinutes != 15 || !stats.RedisUp {
		t.Errorf("cache-stats = %+v", stats)
	}
}

func TestResourceAPIServesDocumentsAndTimeframes(t *testing.T) {
	f := newFixture(t)
	var doc symbolData
	f.get("/api/v1/analysis/DOGEUSDT", "").wantOK(t, &doc)
	if doc.Symbol != "DOGEUSDT" || doc.CacheSource != "computed" {
		t.Errorf("first read = %s from %q, want a computation", doc.Symbol, doc.CacheSource)
	}
	var tf hama.Result
	f.get("/api/v1/analysis/DOGEUSDT?timeframe=1h", "").wantOK(t, &tf)
	if tf.Timeframe != "1h" || tf.Symbol != "DOGEUSDT" || tf.HAMA != doc.Timeframes["1h"].HAMA {
		t.Errorf("timeframe 1h = %+v, want the document's 1h result", tf)
	}
	f.get("/api/v1/analysis/DOGEUSDT?timeframe=4h", "").wantError(t, http.StatusNotFound, "cached timeframes: 15m, 1h")

	var list struct {
		Symbols []string `json:"symbols"`
		Count   int      `json:"count"`
	}
	f.get("/api/v1/analysis", "").wantOK(t, &list)
	if list.Count != 1 || list.Symbols[0] != "DOGEUSDT" {
		t.Errorf("list = %+v, want DOGEUSDT only", list)
	}
	if n := f.analyzer.count("DOGEUSDT"); n != 1 {
		t.Errorf("DOGEUSDT analysed %d times, want once", n)
	}
	if got := apiRequests(t, f, "GET /api/v1/analysis/{symbol}", "200"); got != 2 {
		t.Errorf("route label for /api/v1/analysis/DOGEUSDT: count %v under the pattern, want 2", got)
	}
}

func TestCorruptCacheEntryIs502NotAPanic(t *testing.T) {
	f := newFixture(t, withoutRedis())
	corrupt := func([]byte) ([]byte, time.Duration, error) { return []byte("not json"), time.Minute, nil }
	if err := f.cache.Update(context.Background(), refresh.DefaultKeyPrefix.Key("BADUSDT"), corrupt); err != nil {
		t.Fatal(err)
	}
	f.post(analyzeSymbolPath, "", `{"symbol":"BADUSDT"}`).wantError(t, http.StatusBadGateway, "force a refresh")
}

func TestServeStopsGracefullyWhenTheContextEnds(t *testing.T) {
	f := newFixture(t, withoutRedis())
	s := New(Config{}, f.cache, f.analyzer, nil, nil, nil, logr.Discard())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	resp, err := http.Get("http://" + l.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v after the context ended, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the context ended")
	}
	if resp, err := http.Get("http://" + l.Addr().String() + "/healthz"); err == nil {
		_ = resp.Body.Close()
		t.Fatal("the server still answers after shutdown")
	}
	if s.NeedLeaderElection() {
		t.Error("the API must run on every replica, not only the leader")
	}
}
