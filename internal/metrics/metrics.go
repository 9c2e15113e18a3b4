// Package metrics defines the operator's Prometheus collectors and the Recorder that the cache, the
// exchange client, the refresher, the controller and the REST API report to.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hama-operator/hama-operator/internal/cache"
)

// Label names shared by several collectors.
const (
	labelNamespace = "namespace"
	labelSchedule  = "schedule"
	labelResult    = "result"
)

// Recorder holds every collector of the operator.
type Recorder struct {
	cacheRequests      *prometheus.CounterVec
	cacheBackendUp     prometheus.Gauge
	cacheFallbacks     prometheus.Counter
	cachedSymbols      prometheus.Gauge
	refreshRuns        *prometheus.CounterVec
	refreshDuration    *prometheus.HistogramVec
	symbolAnalyses     *prometheus.CounterVec
	upstreamRequests   *prometheus.CounterVec
	upstreamDuration   *prometheus.HistogramVec
	lastSuccessfulRun  *prometheus.GaugeVec
	apiRequests        *prometheus.CounterVec
	apiRequestDuration *prometheus.HistogramVec
}

// New creates the collectors and registers them with reg (controller-runtime's metrics.Registry in
// the binary, so they are served by the manager's metrics endpoint).
func New(reg prometheus.Registerer) *Recorder {
	r := &Recorder{
		cacheRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hama_cache_requests_total", Help: "Cache reads by the backend that answered and the result (hit or miss).",
		}, []string{"backend", labelResult}),
		cacheBackendUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hama_cache_backend_up", Help: "1 while Redis serves the cache, 0 while the memory fallback does (or Redis is disabled).",
		}),
		cacheFallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hama_cache_fallbacks_total",
			Help: "Cache operations the memory cache answered in place of Redis: failed Redis calls and calls skipped while the breaker is open.",
		}),
		cachedSymbols: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hama_cached_symbols", Help: "Symbols with a cached analysis on the serving backend.",
		}),
		refreshRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hama_refresh_runs_total", Help: "Schedule refresh runs by result: success, partial or failure.",
		}, []string{labelNamespace, labelSchedule, labelResult}),
		refreshDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hama_refresh_duration_seconds", Help: "Duration of schedule refresh runs.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{labelNamespace, labelSchedule}),
		symbolAnalyses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hama_symbol_analyses_total", Help: "Per-symbol analyses by result: success or failure.",
		}, []string{labelResult}),
		upstreamRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hama_upstream_requests_total", Help: "HTTP requests to the exchange by status code (error: no response).",
		}, []string{"exchange", "code"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hama_upstream_request_duration_seconds", Help: "Duration of HTTP requests to the exchange.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}, []string{"exchange"}),
		lastSuccessfulRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hama_last_successful_refresh_timestamp_seconds", Help: "Unix time of the schedule's last fully successful run.",
		}, []string{labelNamespace, labelSchedule}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hama_api_requests_total", Help: "REST API requests by route pattern and status code.",
		}, []string{"route", "code"}),
		apiRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hama_api_request_duration_seconds", Help: "REST API request duration by route pattern.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10, 30},
		}, []string{"route"}),
	}
	reg.MustRegister(r.cacheRequests, r.cacheBackendUp, r.cacheFallbacks, r.cachedSymbols, r.refreshRuns, r.refreshDuration,
		r.symbolAnalyses, r.upstreamRequests, r.upstreamDuration, r.lastSuccessfulRun, r.apiRequests, r.apiRequestDuration)
	return r
}

// ObserveCacheRequest counts a cache read.
func (r *Recorder) ObserveCacheRequest(backend cache.Backend, result string) {
	r.cacheRequests.WithLabelValues(string(backend), result).Inc()
}

// ObserveFallback counts a Redis call answered by memory.
func (r *Recorder) ObserveFallback() { r.cacheFallbacks.Inc() }

// SetBackendUp records whether Redis serves.
func (r *Recorder) SetBackendUp(up bool) {
	v := 0.0
	if up {
		v = 1
	}
	r.cacheBackendUp.Set(v)
}

// SetCachedSymbols records how many symbols are cached.
func (r *Recorder) SetCachedSymbols(n int) { r.cachedSymbols.Set(float64(n)) }

// ObserveUpstream counts one HTTP attempt to the exchange.
func (r *Recorder) ObserveUpstream(exchange, code string, d time.Duration) {
	r.upstreamRequests.WithLabelValues(exchange, code).Inc()
	r.upstreamDuration.WithLabelValues(exchange).Observe(d.Seconds())
}

// ObserveSymbolAnalysis counts one symbol's analysis.
func (r *Recorder) ObserveSymbolAnalysis(result string) {
	r.symbolAnalyses.WithLabelValues(result).Inc()
}

// ObserveRun counts a refresh run of a schedule.
func (r *Recorder) ObserveRun(namespace, name, result string, d time.Duration) {
	r.refreshRuns.WithLabelValues(namespace, name, result).Inc()
	r.refreshDuration.WithLabelValues(namespace, name).Observe(d.Seconds())
}

// SetLastSuccess records a schedule's last fully successful run.
func (r *Recorder) SetLastSuccess(namespace, name string, at time.Time) {
	r.lastSuccessfulRun.WithLabelValues(namespace, name).Set(float64(at.Unix()))
}

// Forget removes every series of a deleted schedule.
func (r *Recorder) Forget(namespace, name string) {
	labels := prometheus.Labels{labelNamespace: namespace, labelSchedule: name}
	r.refreshRuns.DeletePartialMatch(labels)
	r.refreshDuration.DeletePartialMatch(labels)
	r.lastSuccessfulRun.DeletePartialMatch(labels)
}

// ObserveAPIRequest counts a REST call by its route pattern, never its raw path, so cardinality
// stays bounded.
func (r *Recorder) ObserveAPIRequest(route string, code int, d time.Duration) {
	r.apiRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	r.apiRequestDuration.WithLabelValues(route).Observe(d.Seconds())
}
