package refresh

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/hama"
)

func job(exchange, baseURL string, symbols ...string) Job {
	return Job{Schedule: "default/test", Symbols: symbols, Timeframes: []string{"15m", "1h"}, Candles: 450,
		Concurrency: 4, TTL: time.Hour, Exchange: exchange, BaseURL: baseURL, Params: hama.DefaultParams()}
}

func newPipeline(store Store) *Pipeline {
	return &Pipeline{Sources: &Sources{}, Store: store, Keys: DefaultKeyPrefix,
		Backend: func() string { return "memory" }, Log: logr.Discard()}
}

// memoryCache is a cache without Redis.
func memoryCache(t *testing.T) *cache.Cache {
	t.Helper()
	c, err := cache.New(cache.DefaultConfig(), nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cached(t *testing.T, store *cache.Cache, symbol string) analysis.Document {
	t.Helper()
	e, err := store.Get(context.Background(), "hama:analysis:"+symbol)
	if err != nil {
		t.Fatalf("%s is not cached: %v", symbol, err)
	}
	doc, err := analysis.Decode(e.Value)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestRefreshCachesEverySymbolAndTimeframe(t *testing.T) {
	store := memoryCache(t)
	report, err := newPipeline(store).Refresh(context.Background(), job("simulated", "", "BTCUSDT", "ETHUSDT", "SOLUSDT"))
	if err != nil {
		t.Fatal(err)
	}
	if report.Succeeded != 3 || len(report.Failures) != 0 || report.CacheBackend != "memory" {
		t.Fatalf("report = %+v", report)
	}
	if len(report.Signals) != 0 {
		t.Fatalf("a first run announced %d crosses; history is not news", len(report.Signals))
	}
	doc := cached(t, store, "ETHUSDT")
	if len(doc.Timeframes) != 2 || doc.Timeframes["1h"].Source != "simulated" {
		t.Fatalf("cached document = %+v", doc)
	}
	ttls := &ttlRecorder{Store: memoryCache(t)}
	if _, err := newPipeline(ttls).Refresh(context.Background(), job("simulated", "", "ETHUSDT")); err != nil {
		t.Fatal(err)
	}
	if ttls.last <= 59*time.Minute || ttls.last > time.Hour {
		t.Fatalf("TTL %s, want the job's hour", ttls.last)
	}
}

// ttlRecorder keeps the TTL of the last write.
type ttlRecorder struct {
	Store
	last time.Duration
}

func (r *ttlRecorder) UpdateAll(ctx context.Context, changes map[string]cache.Change) error {
	for key, change := range changes {
		if strings.HasPrefix(key, "hama:analysis:") {
			changes[key] = cache.Change{Fn: func(cur []byte) ([]byte, time.Duration, error) {
				v, ttl, err := change.Fn(cur)
				r.last = ttl
				return v, ttl, err
			}}
		}
	}
	return r.Store.UpdateAll(ctx, changes)
}

// A symbol the exchange refuses is reported with its reason; its previous cached value stays, and
// the other symbols go on.
func TestRefreshReportsFailuresAndKeepsTheLastGoodValue(t *testing.T) {
	var refuse atomic.Bool
	exchange := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() && r.URL.Query().Get("symbol") == "BADUSDT" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"code":-1121,"msg":"Invalid symbol."}`)
			return
		}
		_, _ = io.WriteString(w, klines(r.URL.Query().Get("interval")))
	}))
	defer exchange.Close()
	store := memoryCache(t)
	p := newPipeline(store)
	if _, err := p.Refresh(context.Background(), job("binance", exchange.URL, "BADUSDT", "BTCUSDT")); err != nil {
		t.Fatal(err)
	}
	before := cached(t, store, "BADUSDT")

	refuse.Store(true)
	report, err := p.Refresh(context.Background(), job("binance", exchange.URL, "BADUSDT", "BTCUSDT"))
	if err != nil {
		t.Fatal(err)
	}
	if report.Succeeded != 1 || len(report.Failures) != 1 || report.Failures[0].Symbol != "BADUSDT" ||
		report.Failures[0].Reason != "InvalidSymbol" || !strings.Contains(report.Failures[0].Message, "Invalid symbol.") {
		t.Fatalf("report = %+v", report)
	}
	if after := cached(t, store, "BADUSDT"); !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatal("the failed run replaced the last good value")
	}
}

func TestRefreshFailsWholeForAnUnknownExchange(t *testing.T) {
	_, err := newPipeline(memoryCache(t)).Refresh(context.Background(), job("kraken", "", "BTCUSDT"))
	if err == nil || !strings.Contains(err.Error(), `unknown exchange "kraken"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestEvictRemovesTheSymbolsKeys(t *testing.T) {
	store := memoryCache(t)
	p := newPipeline(store)
	if _, err := p.Refresh(context.Background(), job("simulated", "", "BTCUSDT", "ETHUSDT")); err != nil {
		t.Fatal(err)
	}
	if err := p.Evict(context.Background(), []string{"BTCUSDT"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(context.Background(), "hama:analysis:BTCUSDT"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatal("BTCUSDT is still cached")
	}
	cached(t, store, "ETHUSDT")
}

func TestAnalyzeNowUsesTheDefaults(t *testing.T) {
	store := memoryCache(t)
	p := newPipeline(store)
	p.Defaults = job("simulated", "")
	doc, err := p.AnalyzeNow(context.Background(), "DOGEUSDT")
	if err != nil || len(doc.Timeframes) != 2 {
		t.Fatalf("AnalyzeNow = %+v, %v", doc, err)
	}
	cached(t, store, "DOGEUSDT")
}

func TestAnalyzeOnAnotherExchangeDropsTheDefaultBaseURL(t *testing.T) {
	store := memoryCache(t)
	p := newPipeline(store)
	p.Defaults = job("binance", "http://127.0.0.1:1") // a mirror nothing listens on
	doc, err := p.AnalyzeOn(context.Background(), "simulated", "DOGEUSDT")
	if err != nil || doc.Timeframes["15m"].Source != "simulated" {
		t.Fatalf("AnalyzeOn(simulated) = %+v, %v", doc, err)
	}
	if _, err := p.AnalyzeOn(context.Background(), "binance", "DOGEUSDT"); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("AnalyzeOn(the default exchange) = %v, want the default base URL's connection error", err)
	}
}

func TestSourcesShareOneClientPerEndpoint(t *testing.T) {
	var s Sources
	a, _ := s.Source("binance", "http://127.0.0.1:1")
	b, _ := s.Source("binance", "http://127.0.0.1:1")
	c, _ := s.Source("binance-futures", "http://127.0.0.1:1")
	if a != b || a == c || c.Name() != "binance-futures" {
		t.Fatal("schedules on one endpoint must share the client (and its weight budget)")
	}
	if _, err := s.Source("binance", "ftp://x"); err == nil {
		t.Fatal("an ftp base URL was accepted")
	}
}

// klines answers 501 closed candles on the interval's grid, in Binance's row format.
func klines(interval string) string {
	step := 15 * time.Minute
	if interval == "1h" {
		step = time.Hour
	}
	last := time.Now().Truncate(step).Add(-step)
	var b strings.Builder
	b.WriteString("[")
	for i := range 501 {
		if i > 0 {
			b.WriteString(",")
		}
		open := last.Add(-time.Duration(500-i) * step)
		p := 100 + float64(i%23)
		b.WriteString(`[` + itoa(open.UnixMilli()) + `,"` + ftoa(p) + `","` + ftoa(p+1) + `","` + ftoa(p-1) + `","` + ftoa(p+0.5) +
			`","10",` + itoa(open.Add(step).UnixMilli()-1) + `,"1000",1,"1","1","0"]`)
	}
	return b.String() + "]"
}

// A replica merges into what the cache holds, not into what it wrote last: the decoded copy of its
// own last write serves only while the cache holds exactly those bytes.
func TestAMergeSeesAnotherReplicasWrite(t *testing.T) {
	store := memoryCache(t)
	ctx := context.Background()
	a, b := newPipeline(store), newPipeline(store)
	fifteen, hour := job("simulated", "", "BTCUSDT"), job("simulated", "", "BTCUSDT")
	fifteen.Timeframes, hour.Timeframes = []string{"15m"}, []string{"1h"}
	if _, err := a.Refresh(ctx, fifteen); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Refresh(ctx, hour); err != nil { // another replica, another schedule
		t.Fatal(err)
	}
	if _, err := a.Refresh(ctx, fifteen); err != nil {
		t.Fatal(err)
	}
	if doc := cached(t, store, "BTCUSDT"); len(doc.Timeframes) != 2 {
		t.Fatalf("timeframes %v after the second write of the first replica, want 15m and 1h", keys(doc.Timeframes))
	}
	if _, err := a.Refresh(ctx, fifteen); err != nil { // its own last write: the decoded copy
		t.Fatal(err)
	}
	if doc := cached(t, store, "BTCUSDT"); len(doc.Timeframes) != 2 {
		t.Fatalf("timeframes %v after a write over its own, want 15m and 1h", keys(doc.Timeframes))
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
