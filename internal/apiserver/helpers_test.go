package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/cache/redistest"
	"github.com/hama-operator/hama-operator/internal/gainers"
	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/market/simulated"
	"github.com/hama-operator/hama-operator/internal/metrics"
	"github.com/hama-operator/hama-operator/internal/refresh"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// testMarket is the simulated exchange, except that symbols starting with NOPE do not exist (the
// error Binance gives for them) and symbols starting with SLOW take slowFor to answer.
type testMarket struct {
	sim     *simulated.Source
	slowFor time.Duration
}

func (m *testMarket) Name() string { return "simulated" }

func (m *testMarket) Klines(ctx context.Context, symbol, interval string, limit int) ([]market.Candle, error) {
	if strings.HasPrefix(symbol, "NOPE") {
		return nil, &market.APIError{Status: 400, Code: -1121, Msg: "Invalid symbol."}
	}
	if strings.HasPrefix(symbol, "SLOW") {
		select {
		case <-time.After(m.slowFor):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return m.sim.Klines(ctx, symbol, interval, limit)
}

// Tickers is the simulated listing, for the gainers routes.
func (m *testMarket) Tickers(ctx context.Context) ([]market.Ticker, error) { return m.sim.Tickers(ctx) }

type testSources struct{ src market.Source }

func (s testSources) Source(string, string) (market.Source, error) { return s.src, nil }

// countingAnalyzer is the real refresh pipeline (simulated candles, HAMA, merge into the cache),
// counting its computations.
type countingAnalyzer struct {
	pipeline  *refresh.Pipeline
	calls     atomic.Int64
	mu        sync.Mutex
	bySymbol  map[string]int
	exchanges []string // as asked for, in order
}

func (a *countingAnalyzer) AnalyzeOn(ctx context.Context, exchange, symbol string) (analysis.Document, error) {
	a.calls.Add(1)
	a.mu.Lock()
	a.bySymbol[symbol]++
	a.exchanges = append(a.exchanges, exchange)
	a.mu.Unlock()
	return a.pipeline.AnalyzeOn(ctx, exchange, symbol)
}

func (a *countingAnalyzer) count(symbol string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bySymbol[symbol]
}

// tokenAuth is the handler tests' authorizer: "admin" may do anything, "viewer" only get and list,
// anything else is not a valid token. The real TokenReview/SubjectAccessReview path is tested
// against envtest.
type tokenAuth struct{}

func (tokenAuth) Authorize(_ context.Context, r *http.Request, verb, namespace string) error {
	token, ok := bearerToken(r)
	switch {
	case !ok:
		return errorf(http.StatusUnauthorized, "this call needs a Kubernetes bearer token")
	case token == "admin":
		return nil
	case token == "viewer" && (verb == "get" || verb == "list"):
		return nil
	case token == "viewer":
		return errorf(http.StatusForbidden, "viewer may not %s analysisschedules in %q", verb, namespace)
	}
	return errorf(http.StatusUnauthorized, "the bearer token is not valid")
}

type fixture struct {
	t        testing.TB
	url      string
	server   *Server
	cache    *cache.Cache
	redis    *redistest.Server
	analyzer *countingAnalyzer
	signals  *signals.Log
	rec      *metrics.Recorder
	reg      *prometheus.Registry
}

type fixtureOption func(*Config, *cache.Config, *testMarket)

// newFixture serves the API over HTTP with a real cache on a real redis-server (or memory
// only with withoutRedis), the real refresh pipeline on simulated candles and a fresh registry.
func newFixture(t testing.TB, opts ...fixtureOption) *fixture {
	t.Helper()
	cfg := Config{Namespace: "hama"}
	ccfg := cache.DefaultConfig()
	ccfg.RedisEnabled = true
	ccfg.HealthInterval = 50 * time.Millisecond
	mkt := &testMarket{sim: simulated.New(), slowFor: 300 * time.Millisecond}
	for _, o := range opts {
		o(&cfg, &ccfg, mkt)
	}
	f := &fixture{t: t}
	if ccfg.RedisEnabled {
		f.redis = redistest.Start(t)
		ccfg.Addrs = []string{f.redis.Addr()}
	}
	f.reg = prometheus.NewRegistry()
	f.rec = metrics.New(f.reg)
	store, err := cache.New(ccfg, f.rec, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	f.cache = store
	f.signals = signals.NewLog(store.Client(), signals.LogOptions{Down: store.Degraded})
	cfg.Signals = f.signals
	f.analyzer = &countingAnalyzer{bySymbol: map[string]int{}, pipeline: &refresh.Pipeline{
		Sources: testSources{mkt}, Store: store, Observer: f.rec, Log: logr.Discard(), Signals: f.signals,
		Backend: func() string { return string(store.Stats().Serving) },
		Defaults: refresh.Job{Exchange: "simulated", Timeframes: []string{"15m", "1h"}, Candles: 450,
			TTL: 15 * time.Minute, Params: hama.DefaultParams()},
	}}
	switch b := cfg.Gainers.(type) {
	case nil:
		cfg.Gainers = &gainers.Board{Sources: testSources{mkt}, Store: store}
	case *gainers.Board:
		b.Store = store
	}
	f.server = New(cfg, store, f.analyzer, fakeKube(t), tokenAuth{}, f.rec, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = store.Start(ctx) }()
	ts := httptest.NewServer(f.server)
	t.Cleanup(func() { ts.Close(); cancel() })
	f.url = ts.URL
	return f
}

// fakeKube is an empty in-memory API for the scheduler routes' input checks; the routes' real
// behaviour is tested against envtest (scheduler_test.go).
func fakeKube(t testing.TB) client.Client {
	scheme := runtime.NewScheme()
	if err := analysisv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).Build()
}

func withoutClientCache() fixtureOption {
	return func(_ *Config, c *cache.Config, _ *testMarket) { c.ClientCache = false }
}

func withoutRedis() fixtureOption {
	return func(_ *Config, c *cache.Config, _ *testMarket) { c.RedisEnabled = false }
}

func withConfig(fn func(*Config)) fixtureOption {
	return func(c *Config, _ *cache.Config, _ *testMarket) { fn(c) }
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	env    struct {
		Code int             `json:"code"`
		Msg  string          `json:"msg"`
		Data json.RawMessage `json:"data"`
	}
}

func (f *fixture) do(method, path, token string, body io.Reader) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	out := response{status: resp.StatusCode, header: resp.Header}
	if out.raw, err = io.ReadAll(resp.Body); err != nil {
		f.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Fatalf("%s %s: Content-Type %q, want application/json; body %s", method, path, ct, out.raw)
	}
	if err := json.Unmarshal(out.raw, &out.env); err != nil {
		f.t.Fatalf("%s %s: body is not the JSON envelope: %v\n%s", method, path, err, out.raw)
	}
	return out
}

func (f *fixture) post(path, token string, body any) response {
	f.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	return f.do(http.MethodPost, path, token, r)
}

func (f *fixture) get(path, token string) response {
	f.t.Helper()
	return f.do(http.MethodGet, path, token, nil)
}

// wantOK fails unless the answer is 200 with code 1, and decodes data into v.
func (r response) wantOK(t *testing.T, v any) {
	t.Helper()
	if r.status != http.StatusOK || r.env.Code != 1 || r.env.Msg != "success" {
		t.Fatalf("status %d code %d msg %q, want 200/1/success; body %s", r.status, r.env.Code, r.env.Msg, r.raw)
	}
	if v != nil {
		if err := json.Unmarshal(r.env.Data, v); err != nil {
			t.Fatalf("data: %v\n%s", err, r.env.Data)
		}
	}
}

// wantError fails unless the answer is status with code 0 and a message containing msgPart.
func (r response) wantError(t *testing.T, status int, msgPart string) {
	t.Helper()
	if r.status != status || r.env.Code != 0 || !strings.Contains(r.env.Msg, msgPart) {
		t.Fatalf("status %d code %d msg %q, want %d/0 with %q", r.status, r.env.Code, r.env.Msg, status, msgPart)
	}
}

// symbolData is the analyze-symbol answer's data.
type symbolData struct {
	Symbol      string                 `json:"symbol"`
	Timeframes  map[string]hama.Result `json:"timeframes"`
	UpdatedAt   time.Time              `json:"updated_at"`
	Cached      bool                   `json:"cached"`
	CacheSource string                 `json:"cache_source"`
	AgeSeconds  float64                `json:"age_seconds"`
}

const analyzeSymbolPath = "/api/gainer-analysis/analyze-symbol"
