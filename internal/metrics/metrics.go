// Package metrics defines the operator's Prometheus collectors and the Recorder that the cache, the
// exchange client, the refresher, the controller and the REST API report to.
package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/market/binance/klinestream"
	"github.com/hama-operator/hama-operator/internal/notify"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// Label names shared by several collectors. A schedule's namespace is schedule_namespace, not
// namespace: the Prometheus Operator (and most Kubernetes scrape configs) set namespace to the
// operator pod's, which would rename ours to exported_namespace.
const (
	labelNamespace = "schedule_namespace"
	// labelAlertNamespace is a SignalAlert's namespace, for the same reason not "namespace".
	labelAlertNamespace = "alert_namespace"
	labelSchedule       = "schedule"
	labelResult         = "result"
)

// Label values created at zero before anything happens, so that rates, increases and alerts see the
// first event and dashboards show 0 rather than no data.
var (
	runResults      = []string{"success", "partial", "failure"}
	analysisResults = []string{"success", "failure"}
	cacheResults    = []string{"hit", "miss"}
	httpExchanges   = []string{market.Binance, market.BinanceFutures} // the simulated source sends no requests
	streamKinds     = []string{klinestream.KindClosed, klinestream.KindOpen, klinestream.KindControl,
		klinestream.KindMalformed, klinestream.KindUnknown}
	rateLimitedCodes = []string{"418", "429"}
	// notificationResults: sent (accepted), retried (an attempt failed, another is planned), failed
	// (refused, or not accepted before the retries ran out), cooldown (not sent: inside the cooldown).
	notificationResults = []string{"sent", "retried", "failed", "cooldown"}
	notifyProviders     = []string{notify.Webhook, notify.Slack, notify.Discord, notify.Email}
)

// Recorder holds every collector of the operator.
type Recorder struct {
	cacheRequests      *prometheus.CounterVec
	cacheBackendUp     prometheus.Gauge
	cacheFallbacks     prometheus.Counter
	cachedSymbols      *cachedSymbols
	redisConfigured    prometheus.Gauge
	refreshRuns        *prometheus.CounterVec
	refreshDuration    *prometheus.HistogramVec
	symbolAnalyses     *prometheus.CounterVec
	upstreamRequests   *prometheus.CounterVec
	upstreamDuration   *prometheus.HistogramVec
	lastSuccessfulRun  *prometheus.GaugeVec
	scheduleInterval   *prometheus.GaugeVec
	scheduleCreated    *prometheus.GaugeVec
	apiRequests        *prometheus.CounterVec
	apiRequestDuration *prometheus.HistogramVec
	signalEvents       *prometheus.CounterVec
	signalsWaiting     prometheus.Gauge
	notifications      *prometheus.CounterVec
	deliveryDuration   *prometheus.HistogramVec
	streamConnections  prometheus.Gauge
	streamMessages     *prometheus.CounterVec
	streamReconnects   prometheus.Counter
	streamGapsHealed   prometheus.Counter
	streamCloseToCache prometheus.Histogram
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
		cachedSymbols: &cachedSymbols{desc: prometheus.NewDesc("hama_cached_symbols",
			"Symbols with a cached analysis on the serving backend, counted when scraped.", nil, nil)},
		redisConfigured: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hama_cache_redis_configured", Help: "1 when the operator is configured to use Redis, else 0.",
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
		scheduleInterval: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hama_schedule_interval_seconds", Help: "Refresh interval of each active (not suspended) schedule.",
		}, []string{labelNamespace, labelSchedule}),
		scheduleCreated: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hama_schedule_created_timestamp_seconds", Help: "Unix time each active schedule was created.",
		}, []string{labelNamespace, labelSchedule}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hama_api_requests_total", Help: "REST API requests by route pattern and status code.",
		}, []string{"route", "code"}),
		apiRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hama_api_request_duration_seconds", Help: "REST API request duration by route pattern.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10, 30},
		}, []string{"route"}),
		signalEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hama_signal_events_total",
			Help: "Signal events of the history by kind and result: appended to the stream, " +
				"duplicate (appended before), or dropped from a full memory fallback.",
		}, []string{"kind", labelResult}),
		signalsWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hama_signal_events_waiting", Help: "Signal events waiting in this replica's memory for Redis.",
		}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hama_notifications_total",
			Help: "Signal notifications of each SignalAlert by result: sent, retried, failed or cooldown.",
		}, []string{labelAlertNamespace, "alert", "provider", labelResult}),
		deliveryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hama_notification_delivery_seconds",
			Help:    "Time from a signal event's fan-out to an alert until its receiver accepted it, retries included.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800},
		}, []string{"provider"}),
		streamConnections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hama_stream_connections", Help: "WebSocket connections open to the exchange's kline streams (stream-mode schedules).",
		}),
		streamMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hama_stream_messages_total",
			Help: "Kline stream messages by kind: closed, open (skipped), control, malformed and unknown (counted and skipped).",
		}, []string{"kind"}),
		streamReconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hama_stream_reconnects_total", Help: "Kline stream connections lost and opened again (renewals before the 24-hour cut excluded).",
		}),
		streamGapsHealed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hama_stream_gaps_healed_total", Help: "Candles the kline streams missed that were fetched over REST.",
		}),
		streamCloseToCache: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hama_stream_close_to_cache_seconds", Help: "Time from a closed kline's arrival to its result in the cache.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}),
	}
	reg.MustRegister(r.signalEvents, r.signalsWaiting)
	for _, kind := range signals.Kinds {
		for _, result := range []string{signals.ResultAppended, signals.ResultDuplicate, signals.ResultDropped} {
			r.signalEvents.WithLabelValues(string(kind), result)
		}
	}
	reg.MustRegister(r.cacheRequests, r.cacheBackendUp, r.cacheFallbacks, r.cachedSymbols, r.redisConfigured,
		r.refreshRuns, r.refreshDuration, r.symbolAnalyses, r.upstreamRequests, r.upstreamDuration, r.lastSuccessfulRun,
		r.scheduleInterval, r.scheduleCreated, r.apiRequests, r.apiRequestDuration, r.notifications, r.deliveryDuration,
		r.streamConnections, r.streamMessages, r.streamReconnects, r.streamGapsHealed, r.streamCloseToCache)
	for _, kind := range streamKinds {
		r.streamMessages.WithLabelValues(kind)
	}
	for _, backend := range []cache.Backend{cache.BackendRedis, cache.BackendMemory} {
		for _, result := range cacheResults {
			r.cacheRequests.WithLabelValues(string(backend), result)
		}
	}
	for _, provider := range notifyProviders {
		r.deliveryDuration.WithLabelValues(provider)
	}
	for _, result := range analysisResults {
		r.symbolAnalyses.WithLabelValues(result)
	}
	for _, exchange := range httpExchanges {
		for _, code := range rateLimitedCodes {
			r.upstreamRequests.WithLabelValues(exchange, code)
		}
	}
	return r
}

// ObserveSignalEvent counts an event of the signal history.
func (r *Recorder) ObserveSignalEvent(kind signals.Kind, result string) {
	r.signalEvents.WithLabelValues(string(kind), result).Inc()
}

// SetSignalEventsWaiting reports the events waiting in memory for Redis.
func (r *Recorder) SetSignalEventsWaiting(n int) { r.signalsWaiting.Set(float64(n)) }

// ObserveCacheRequest counts a cache read.
func (r *Recorder) ObserveCacheRequest(backend cache.Backend, result string) {
	r.cacheRequests.WithLabelValues(string(backend), result).Inc()
}

// ObserveFallback counts a Redis call answered by memory.
func (r *Recorder) ObserveFallback() { r.cacheFallbacks.Inc() }

// SetBackendUp records whether Redis serves.
func (r *Recorder) SetBackendUp(up bool) { r.cacheBackendUp.Set(boolValue(up)) }

// CountCachedSymbolsWith makes every scrape report count's answer as hama_cached_symbols, so the
// gauge is right from the first scrape (count is the cache's own listing, as cache-stats uses).
func (r *Recorder) CountCachedSymbolsWith(count func(context.Context) (int, error)) {
	r.cachedSymbols.mu.Lock()
	defer r.cachedSymbols.mu.Unlock()
	r.cachedSymbols.count = count
}

// SetRedisConfigured records whether Redis is configured, so that an alert on
// hama_cache_backend_up == 0 can leave memory-only installations alone.
func (r *Recorder) SetRedisConfigured(configured bool) { r.redisConfigured.Set(boolValue(configured)) }

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ObserveUpstream counts one HTTP attempt to the exchange.
func (r *Recorder) ObserveUpstream(exchange, code string, d time.Duration) {
	r.upstreamRequests.WithLabelValues(exchange, code).Inc()
	r.upstreamDuration.WithLabelValues(exchange).Observe(d.Seconds())
}

// ObserveSymbolAnalysis counts one symbol's analysis.
func (r *Recorder) ObserveSymbolAnalysis(result string) {
	r.symbolAnalyses.WithLabelValues(result).Inc()
}

// TrackSchedule records an active schedule: its interval and creation time, its last fully successful
// run as the status says (so a new leader exports it before its own first run), and its run
// counters at zero for every result.
func (r *Recorder) TrackSchedule(namespace, name string, interval time.Duration, created time.Time, lastSuccess *time.Time) {
	r.scheduleInterval.WithLabelValues(namespace, name).Set(interval.Seconds())
	r.scheduleCreated.WithLabelValues(namespace, name).Set(float64(created.Unix()))
	if lastSuccess != nil {
		r.SetLastSuccess(namespace, name, *lastSuccess)
	}
	for _, result := range runResults {
		r.refreshRuns.WithLabelValues(namespace, name, result)
	}
}

// UntrackSchedule drops a suspended schedule's interval and creation time, which the
// not-refreshed alert needs; its counters stay.
func (r *Recorder) UntrackSchedule(namespace, name string) {
	labels := prometheus.Labels{labelNamespace: namespace, labelSchedule: name}
	r.scheduleInterval.Delete(labels)
	r.scheduleCreated.Delete(labels)
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
	r.scheduleInterval.DeletePartialMatch(labels)
	r.scheduleCreated.DeletePartialMatch(labels)
}

// ObserveAPIRequest counts a REST call by its route pattern, never its raw path, so cardinality
// stays bounded.
func (r *Recorder) ObserveAPIRequest(route string, code int, d time.Duration) {
	r.apiRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	r.apiRequestDuration.WithLabelValues(route).Observe(d.Seconds())
}

// ObserveStreamMessage counts a kline stream message by kind.
func (r *Recorder) ObserveStreamMessage(kind string) { r.streamMessages.WithLabelValues(kind).Inc() }

// ObserveStreamConnection adds delta (+1 opened, -1 closed) to the open stream connections.
func (r *Recorder) ObserveStreamConnection(delta int) { r.streamConnections.Add(float64(delta)) }

// ObserveStreamReconnect counts a lost stream connection.
func (r *Recorder) ObserveStreamReconnect() { r.streamReconnects.Inc() }

// ObserveGapHealed counts candles a stream missed and REST supplied.
func (r *Recorder) ObserveGapHealed(candles int) { r.streamGapsHealed.Add(float64(candles)) }

// ObserveCloseToCache records how long a closed kline took from its arrival to the cache.
func (r *Recorder) ObserveCloseToCache(d time.Duration) { r.streamCloseToCache.Observe(d.Seconds()) }

// cachedSymbols is hama_cached_symbols, counted on each scrape. When counting fails it reports the
// last count rather than nothing, so a Redis hiccup leaves no gap.
type cachedSymbols struct {
	desc  *prometheus.Desc
	mu    sync.Mutex
	count func(context.Context) (int, error)
	last  int
}

func (c *cachedSymbols) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *cachedSymbols) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.count != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if n, err := c.count(ctx); err == nil {
			c.last = n
		}
		cancel()
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(c.last))
}

// TrackAlert creates a SignalAlert's notification counters at zero, so that the first
// notification shows in rates.
func (r *Recorder) TrackAlert(namespace, name, provider string) {
	for _, result := range notificationResults {
		r.notifications.WithLabelValues(namespace, name, provider, result)
	}
}

// ForgetAlert drops the series of a deleted SignalAlert (or of its previous provider type).
func (r *Recorder) ForgetAlert(namespace, name string) {
	r.notifications.DeletePartialMatch(prometheus.Labels{labelAlertNamespace: namespace, "alert": name})
}

// ObserveNotification counts a notification of an alert by result.
func (r *Recorder) ObserveNotification(namespace, alert, provider, result string) {
	r.notifications.WithLabelValues(namespace, alert, provider, result).Inc()
}

// ObserveDeliveryLatency records the time from a fan-out to the receiver's acceptance.
func (r *Recorder) ObserveDeliveryLatency(provider string, d time.Duration) {
	r.deliveryDuration.WithLabelValues(provider).Observe(d.Seconds())
}
