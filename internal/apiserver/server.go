// Package apiserver is the REST API: the original service's /api/gainer-analysis routes, a resource
// API under /api/v1, and health endpoints. Every replica serves it, from the shared cache.
package apiserver

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// Analyzer computes one symbol's analysis now, on exchange ("" for the default), and merges it into
// the cache: the API's only write.
type Analyzer interface {
	AnalyzeOn(ctx context.Context, exchange, symbol string) (analysis.Document, error)
}

// Cache is what the API reads.
type Cache interface {
	Get(ctx context.Context, key string) (cache.Entry, error)
	Keys(ctx context.Context, prefix string) ([]string, error)
	Stats() cache.Stats
	MemoryEntries(prefix string) int
}

// Recorder receives request metrics.
type Recorder interface {
	ObserveAPIRequest(route string, code int, d time.Duration)
}

// Config holds the server's settings.
type Config struct {
	Addr string
	// Namespace is where scheduler/start puts schedules that name none.
	Namespace string
	// Exchange is the data source of schedules scheduler/start creates, the operator's
	// --default-exchange, so they analyse what on-demand calls analyse; empty: the CRD's default.
	Exchange string
	// AuthReads makes read calls need a token too.
	AuthReads bool
	// MaxComputes bounds concurrent on-demand analyses (cache misses and forced refreshes).
	MaxComputes int
	// BatchConcurrency bounds the symbols of one analyze-batch call worked on at once.
	BatchConcurrency int
	// ComputeWait is how long a single-symbol call waits for a free computation slot before it is
	// refused with 503 and Retry-After; batch calls wait as long as their request lasts.
	ComputeWait time.Duration
	// ComputeTimeout bounds one on-demand analysis. It runs detached from the request that started
	// it, because other callers of the same symbol wait for the same computation.
	ComputeTimeout time.Duration
	// Keys names the cache keys, as the Analyzer writes them; empty means refresh.DefaultKeyPrefix.
	Keys refresh.KeyPrefix
	// OnDemandTTL is how long an on-demand analysis stays cached, for cache-stats.
	OnDemandTTL time.Duration
	// APIReader reads the schedule that scheduler/start and stop are about to change from the API
	// server itself (the manager's GetAPIReader): the manager's cache can lag a write made a moment
	// before. Nil means the Kubernetes client passed to New.
	APIReader client.Reader
	// CORSAllowedOrigins are the origins whose browser pages may call the API ("*": any); none by
	// default, as browsers then refuse cross-origin calls.
	CORSAllowedOrigins []string
	// Gainers ranks symbols for the top-gainers and refresh routes; without it they do not exist.
	Gainers GainerBoard
	// Signals is the signal history; without it the signals route does not exist.
	Signals SignalHistory
	// MarketExchanges overrides the exchange of a gainers market (spot, futures); by default they
	// are binance and binance-futures, as for every legacy route's market.
	MarketExchanges map[string]string
	// Clock stamps answers (timestamp, age_seconds); nil means the real clock. Tests replace it.
	Clock clock.PassiveClock
}

// Server is the REST API. It is a controller-runtime Runnable that runs on every replica.
type Server struct {
	cfg      Config
	cache    Cache
	analyzer Analyzer
	flight   singleflight.Group // one computation per symbol for concurrent callers
	kube     client.Client
	reader   client.Reader
	auth     Authorizer
	metrics  Recorder
	log      logr.Logger
	computes chan struct{}
	mux      *http.ServeMux
	handler  http.Handler // mux, behind CORS when configured
	// listening turns true once the API's port is bound, for the readiness check.
	listening atomic.Bool
}

// New wires a server. kube reads and writes AnalysisSchedules; auth guards mutating calls.
func New(cfg Config, c Cache, analyzer Analyzer, kube client.Client, auth Authorizer, metrics Recorder, log logr.Logger) *Server {
	if cfg.MaxComputes <= 0 {
		cfg.MaxComputes = 8
	}
	if cfg.BatchConcurrency <= 0 {
		cfg.BatchConcurrency = 16
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.ComputeWait <= 0 {
		cfg.ComputeWait = 250 * time.Millisecond
	}
	if cfg.ComputeTimeout <= 0 {
		cfg.ComputeTimeout = 30 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	cfg.Keys = cmp.Or(cfg.Keys, refresh.DefaultKeyPrefix)
	cfg.OnDemandTTL = cmp.Or(cfg.OnDemandTTL, refresh.DefaultOnDemandTTL)
	if auth == nil {
		auth = denyAll{}
	}
	s := &Server{cfg: cfg, cache: c, analyzer: analyzer, kube: kube, reader: cfg.APIReader, auth: auth, metrics: metrics,
		log: log, computes: make(chan struct{}, cfg.MaxComputes), mux: http.NewServeMux()}
	if s.reader == nil {
		s.reader = kube
	}
	s.routes()
	s.handler = withCORS(s.mux, cfg.CORSAllowedOrigins)
	return s
}

func (s *Server) routes() {
	const g = "/api/gainer-analysis/"
	s.handle("POST "+g+"analyze-symbol", s.analyzeSymbol)
	s.handle("POST "+g+"analyze-batch", s.analyzeBatch)
	s.handle("POST "+g+"preload", s.preload)
	s.handle("GET "+g+"cache-stats", s.cacheStats)
	if s.cfg.Gainers != nil {
		s.handle("GET "+g+"top-gainers", s.topGainers)
		s.handle("POST "+g+"refresh", s.refreshGainers)
	}
	s.handle("GET /api/v1/analysis/{symbol}", s.getAnalysis)
	s.handle("GET /api/v1/analysis/{symbol}/series", s.getSeries)
	if s.cfg.Signals != nil {
		s.handle("GET /api/v1/signals", s.listSignals)
	}
	s.handle("GET /api/v1/analysis", s.listAnalyses)
	// Without a Kubernetes client (a development server) the schedule routes do not exist.
	if s.kube != nil {
		s.handle("POST "+g+"scheduler/start", s.schedulerStart)
		s.handle("POST "+g+"scheduler/stop", s.schedulerStop)
		s.handle("GET "+g+"scheduler/status", s.schedulerStatus)
		s.handle("GET /api/v1/schedules", s.listSchedules)
	}
	s.handle("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeOK(w, map[string]string{"status": "ok"}) })
	s.handle("GET /readyz", s.readyz)
	s.mountBoard()
	// Everything else, any method: the mux's own 404 and 405 answers are plain text.
	s.mux.Handle("/", s.instrument(unmatchedRoute, s.unmatched))
}

// unmatchedRoute is the route label of requests no pattern takes.
const unmatchedRoute = "unmatched"

// handle registers h for pattern, instrumented under the pattern as its route.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.instrument(pattern, h))
}

// Listening is a readiness check: a replica whose API port is not bound yet must not get traffic.
func (s *Server) Listening(*http.Request) error {
	if !s.listening.Load() {
		return errors.New("the REST API is not listening yet")
	}
	return nil
}

// ServeHTTP routes the request; see routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// instrument records the request's metrics under route and turns a panic into a JSON 500.
func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error(nil, "handler panicked", "route", route, "panic", p)
				if !sw.wrote {
					writeError(sw, errorf(http.StatusInternalServerError, "internal error"))
				}
			}
			if s.metrics != nil {
				s.metrics.ObserveAPIRequest(route, sw.status, time.Since(start))
			}
		}()
		h(sw, r)
	})
}

// unmatched answers a wrong method on a known path with 405 and anything else with 404, in JSON.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	if allowed := s.allowedMethods(r); len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, errorf(http.StatusMethodNotAllowed, "method %s is not allowed here; use %s", r.Method, strings.Join(allowed, ", ")))
		return
	}
	writeError(w, errorf(http.StatusNotFound, "no route %s %s", r.Method, r.URL.Path))
}

func (s *Server) allowedMethods(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			out = append(out, m)
		}
	}
	return out
}

// statusWriter remembers the status for metrics and whether anything was written.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// NeedLeaderElection is false: every replica serves the API.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx ends, then shuts down gracefully.
func (s *Server) Start(ctx context.Context) error {
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, l)
}

// Serve serves on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      60 * time.Second, // a batch of 200 uncached symbols computes for a while
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	s.listening.Store(true) // l is bound: connections queue until Serve accepts them
	s.log.Info("serving the REST API", "address", l.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
