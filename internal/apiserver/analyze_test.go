package apiserver

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/market"
)

func TestAnalyzeSymbolMissComputesThenHitsRedis(t *testing.T) {
	f := newFixture(t)

	var first symbolData
	f.post(analyzeSymbolPath, "", map[string]any{"symbol": "BTCUSDT"}).wantOK(t, &first)
	if first.Cached || first.CacheSource != "computed" {
		t.Errorf("first call: cached=%v source=%q, want a computation", first.Cached, first.CacheSource)
	}
	if first.Symbol != "BTCUSDT" || len(first.Timeframes) != 2 {
		t.Fatalf("first call: symbol %q with %d timeframes, want BTCUSDT with 15m and 1h", first.Symbol, len(first.Timeframes))
	}
	r15 := first.Timeframes["15m"]
	if r15.Source != "simulated" || r15.Candles != 450 || r15.LastPrice <= 0 || r15.Cross.Last == "" {
		t.Errorf("15m result does not look computed: %+v", r15)
	}

	var second symbolData
	f.post(analyzeSymbolPath, "", `{"symbol":"BTCUSDT","force_refresh":false}`).wantOK(t, &second)
	if !second.Cached || second.CacheSource != "redis" {
		t.Errorf("second call: cached=%v source=%q, want a redis hit", second.Cached, second.CacheSource)
	}
	if !second.UpdatedAt.Equal(first.UpdatedAt) || second.Timeframes["15m"].HAMA != r15.HAMA {
		t.Errorf("the hit returned another document than the one computed")
	}
	if want := time.Since(first.UpdatedAt).Seconds(); second.AgeSeconds < 0 || second.AgeSeconds > want+0.2 {
		t.Errorf("age_seconds = %v, want between 0 and %v", second.AgeSeconds, want)
	}
	if n := f.analyzer.count("BTCUSDT"); n != 1 {
		t.Errorf("analysed %d times, want once", n)
	}

	route := "POST /api/gainer-analysis/analyze-symbol"
	if got := apiRequests(t, f, route, "200"); got != 2 {
		t.Errorf("hama_api_requests_total{route=%q,code=200} = %v, want 2", route, got)
	}
	if got := gatheredValue(t, f, "hama_cache_requests_total", map[string]string{"backend": "redis", "result": "hit"}); got != 1 {
		t.Errorf("redis hits = %v, want 1", got)
	}
	if got := gatheredValue(t, f, "hama_cache_requests_total", map[string]string{"backend": "redis", "result": "miss"}); got != 1 {
		t.Errorf("redis misses = %v, want 1", got)
	}
	if got := gatheredValue(t, f, "hama_symbol_analyses_total", map[string]string{"result": "success"}); got != 1 {
		t.Errorf("successful analyses = %v, want 1", got)
	}
}

func TestForceRefreshNeedsAnUpdateTokenAndRecomputes(t *testing.T) {
	f := newFixture(t)
	f.post(analyzeSymbolPath, "", map[string]any{"symbol": "ETHUSDT"}).wantOK(t, nil)

	f.post(analyzeSymbolPath, "", map[string]any{"symbol": "ETHUSDT", "force_refresh": true}).
		wantError(t, http.StatusUnauthorized, "bearer token")
	f.post(analyzeSymbolPath, "bogus", map[string]any{"symbol": "ETHUSDT", "force_refresh": true}).
		wantError(t, http.StatusUnauthorized, "not valid")
	f.post(analyzeSymbolPath, "viewer", map[string]any{"symbol": "ETHUSDT", "force_refresh": true}).
		wantError(t, http.StatusForbidden, "may not update")
	if n := f.analyzer.count("ETHUSDT"); n != 1 {
		t.Fatalf("refused calls analysed anyway: %d analyses, want 1", n)
	}

	var forced symbolData
	f.post(analyzeSymbolPath, "admin", map[string]any{"symbol": "ETHUSDT", "force_refresh": true}).wantOK(t, &forced)
	if forced.Cached || forced.CacheSource != "computed" {
		t.Errorf("forced call: cached=%v source=%q, want computed", forced.Cached, forced.CacheSource)
	}
	if n := f.analyzer.count("ETHUSDT"); n != 2 {
		t.Errorf("%d analyses after a forced refresh, want 2", n)
	}
	if got := apiRequests(t, f, "POST /api/gainer-analysis/analyze-symbol", "401"); got != 2 {
		t.Errorf("401s counted = %v, want 2", got)
	}
}

func TestConcurrentMissesOfOneSymbolComputeOnce(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	results := make([]response, 12)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = f.post(analyzeSymbolPath, "", map[string]any{"symbol": "SLOWUSDT"})
		}()
	}
	wg.Wait()
	for _, r := range results {
		r.wantOK(t, nil)
	}
	if n := f.analyzer.count("SLOWUSDT"); n != 1 {
		t.Errorf("12 concurrent misses analysed %d times, want once (single-flight)", n)
	}
}

func TestComputationsBeyondTheBoundAreRefusedWith503(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) { c.MaxComputes, c.ComputeWait = 1, 20*time.Millisecond }))
	done := make(chan response)
	go func() { done <- f.post(analyzeSymbolPath, "", map[string]any{"symbol": "SLOWBTC"}) }()
	deadline := time.Now().Add(5 * time.Second)
	for f.analyzer.count("SLOWBTC") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	busy := f.post(analyzeSymbolPath, "", map[string]any{"symbol": "SOLUSDT"})
	busy.wantError(t, http.StatusServiceUnavailable, "too many analyses")
	if busy.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	(<-done).wantOK(t, nil)
	f.post(analyzeSymbolPath, "", map[string]any{"symbol": "SOLUSDT"}).wantOK(t, nil)
}

func TestUnknownSymbolIs404WithTheExchangesReason(t *testing.T) {
	f := newFixture(t)
	r := f.post(analyzeSymbolPath, "", map[string]any{"symbol": "NOPEUSDT"})
	r.wantError(t, http.StatusNotFound, "Invalid symbol")
	if !strings.Contains(string(r.env.Data), `"reason":"InvalidSymbol"`) {
		t.Errorf("data %s does not name the reason InvalidSymbol", r.env.Data)
	}
	if got := gatheredValue(t, f, "hama_symbol_analyses_total", map[string]string{"result": "failure"}); got != 1 {
		t.Errorf("failed analyses = %v, want 1", got)
	}
	f.get("/api/v1/analysis/NOPEUSDT", "").wantError(t, http.StatusNotFound, "Invalid symbol")
}

func TestServesFromMemoryWhileRedisIsDown(t *testing.T) {
	f := newFixture(t)
	f.post(analyzeSymbolPath, "", map[string]any{"symbol": "BNBUSDT"}).wantOK(t, nil)
	f.redis.Kill()

	var hit symbolData
	f.post(analyzeSymbolPath, "", map[string]any{"symbol": "BNBUSDT"}).wantOK(t, &hit)
	if !hit.Cached || hit.CacheSource != "memory" {
		t.Errorf("during the outage: cached=%v source=%q, want a memory hit", hit.Cached, hit.CacheSource)
	}
	var ready struct {
		Status       string `json:"status"`
		CacheBackend string `json:"cache_backend"`
		RedisUp      bool   `json:"redis_up"`
	}
	r := f.get("/readyz", "")
	r.wantOK(t, &ready)
	if !strings.HasPrefix(ready.Status, "degraded") || ready.CacheBackend != "memory" || ready.RedisUp {
		t.Errorf("readyz during the outage = %+v, want degraded on memory", ready)
	}
	var stats struct {
		CacheType           string   `json:"cache_type"`
		MemoryCacheFallback int      `json:"memory_cache_fallback"`
		Symbols             []string `json:"symbols"`
		LastError           string   `json:"last_error"`
	}
	f.get("/api/gainer-analysis/cache-stats", "").wantOK(t, &stats)
	if stats.CacheType != "memory" || stats.MemoryCacheFallback != 1 || stats.LastError == "" || len(stats.Symbols) != 1 {
		t.Errorf("cache-stats during the outage = %+v", stats)
	}
	if got := gatheredValue(t, f, "hama_cache_backend_up", nil); got != 0 {
		t.Errorf("hama_cache_backend_up = %v during the outage, want 0", got)
	}
}

// leaderMergesAfterAnalyzer is a replica's on-demand analysis (its computation and its write) after
// which, before the API answers, the leader replica merges into Redis.
type leaderMergesAfterAnalyzer struct {
	Analyzer
	leaderMerge func(ctx context.Context, symbol string) error
}

func (a leaderMergesAfterAnalyzer) AnalyzeOn(ctx context.Context, exchange, symbol string) (analysis.Document, error) {
	doc, err := a.Analyzer.AnalyzeOn(ctx, exchange, symbol)
	if lerr := a.leaderMerge(ctx, symbol); lerr != nil {
		return doc, lerr
	}
	return doc, err
}

// leaderMergesFirstSource is the market of a replica's on-demand analysis: before it serves the
// analysis's first candles, the leader replica merges into Redis, so that the leader's write lands
// after the analysis read the cache (if it did) and before the analysis writes.
type leaderMergesFirstSource struct {
	market.Source
	once        sync.Once
	leaderMerge func(ctx context.Context, symbol string) error
	err         error
}

func (s *leaderMergesFirstSource) Klines(ctx context.Context, symbol, interval string, limit int) ([]market.Candle, error) {
	s.once.Do(func() { s.err = s.leaderMerge(ctx, symbol) })
	if s.err != nil {
		return nil, s.err
	}
	return s.Source.Klines(ctx, symbol, interval, limit)
}

// A miss writes once, through the refresh pipeline's merge. The leader replica (its own cache on the
// same redis-server) merges a 4h timeframe of the symbol at each moment where a blind write of the
// miss's 15m/1h document would lose it: between the miss's computation and its write, and between
// its write and the answer. Redis must hold all three timeframes either way.
func TestMissWritesOnlyThroughTheMergeSoALeaderMergeSurvives(t *testing.T) {
	for _, window := range []string{"between compute and write", "between write and answer"} {
		t.Run(window, func(t *testing.T) {
			f := newFixture(t)
			leaderCfg := cache.DefaultConfig()
			leaderCfg.RedisEnabled, leaderCfg.Addrs = true, []string{f.redis.Addr()}
			leaderCache, err := cache.New(leaderCfg, nil, logr.Discard())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = leaderCache.Close() })
			leader := *f.analyzer.pipeline
			leader.Store, leader.Observer, leader.Signals = leaderCache, nil, nil
			leaderMerge := func(ctx context.Context, symbol string) error {
				job := leader.Defaults
				job.Symbols, job.Timeframes = []string{symbol}, []string{"4h"}
				_, err := leader.Refresh(ctx, job)
				return err
			}

			miss := *f.analyzer.pipeline
			var analyzer Analyzer = &miss
			if window == "between compute and write" {
				src, err := miss.Sources.Source("", "")
				if err != nil {
					t.Fatal(err)
				}
				miss.Sources = testSources{&leaderMergesFirstSource{Source: src, leaderMerge: leaderMerge}}
			} else {
				analyzer = leaderMergesAfterAnalyzer{Analyzer: &miss, leaderMerge: leaderMerge}
			}
			s := New(Config{}, f.cache, analyzer, nil, nil, nil, logr.Discard())

			l, err := s.get(context.Background(), "BTCUSDT", "", false, time.Second)
			if err != nil || l.source != "computed" {
				t.Fatalf("miss = %+v, %v; want a computation", l.source, err)
			}
			raw, err := redis.NewClient(&redis.Options{Addr: f.redis.Addr()}).Get(context.Background(), "hama:analysis:BTCUSDT").Bytes()
			if err != nil {
				t.Fatal(err)
			}
			doc, err := analysis.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := sortedKeys(doc.Timeframes); strings.Join(got, ",") != "15m,1h,4h" {
				t.Fatalf("redis holds timeframes %v; the leader's 4h merge was lost", got)
			}
		})
	}
}
