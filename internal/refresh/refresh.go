// Package refresh runs one refresh of a schedule: fetch candles, compute HAMA, merge into the cache.
// It knows nothing of Kubernetes: the controller turns an AnalysisSchedule into a Job and a Report
// back into status, events and metrics.
package refresh

import (
	"context"
	"strings"
	"time"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/gainers"
	"github.com/hama-operator/hama-operator/internal/hama"
)

// KeyPrefix names the cache keys of the analyses: the prefix followed by the symbol.
type KeyPrefix string

// DefaultKeyPrefix is the original service's layout, hama:analysis:BTCUSDT, which its clients read.
const DefaultKeyPrefix KeyPrefix = "hama:analysis:"

// DefaultOnDemandTTL is how long an on-demand analysis stays cached: the original service's 15 minutes.
const DefaultOnDemandTTL = 15 * time.Minute

// SeriesKeyPrefix starts the keys of the charts: hama:series:<SYMBOL>:<TF>.
const SeriesKeyPrefix = "hama:series:"

// SeriesKey is the cache key of the chart of symbol on timeframe tf.
func SeriesKey(symbol, tf string) string { return SeriesKeyPrefix + symbol + ":" + tf }

// Key is the cache key of symbol.
func (p KeyPrefix) Key(symbol string) string { return string(p) + symbol }

// Symbol is the symbol of a cache key.
func (p KeyPrefix) Symbol(key string) string { return strings.TrimPrefix(key, string(p)) }

// Job is everything one run needs.
type Job struct {
	// Schedule names the owner ("namespace/name") for logs and signal events; "" on demand.
	Schedule string
	// Symbols to analyse; empty when TopGainers picks them at the start of the run.
	Symbols []string
	// TopGainers, when set, selects the exchange's biggest 24-hour gainers as the symbols.
	TopGainers  *gainers.Query
	Timeframes  []string
	Candles     int
	Concurrency int
	// TTL of the cached results written by this run.
	TTL time.Duration
	// Interval between two runs; stream mode rewrites at a resync only the results that would
	// expire before the next one.
	Interval time.Duration
	// Exchange is one of market.Exchanges; BaseURL optionally overrides its endpoint.
	Exchange string
	BaseURL  string
	// Stream selects stream mode: candles from the exchange's WebSocket kline streams at StreamURL
	// ("" is the exchange's public endpoint), the run being a resync (see package live).
	Stream    bool
	StreamURL string
	Params    hama.Params
}

// SymbolFailure says why one symbol was not refreshed; its cached value, if any, is left as it was.
type SymbolFailure struct {
	Symbol  string
	Reason  string
	Message string
}

// Report is the outcome of one run.
type Report struct {
	// Symbols are the symbols the run analysed: the job's, or the gainers it resolved, in their order.
	Symbols   []string
	Succeeded int
	Failures  []SymbolFailure
	// Signals are the HAMA crosses among the signal events of the run (new since the cached result).
	Signals []analysis.SignalChange
	// CacheBackend is the backend that took the writes: "redis" or "memory".
	CacheBackend string
	// CacheDegraded is true when Redis is configured but was not serving: the results live only in
	// this replica's memory until Redis recovers and they are copied over.
	CacheDegraded bool
}

// Refresher is the work behind a schedule.
type Refresher interface {
	// Refresh runs the job once. Per-symbol failures are in the report; an error means the run as a
	// whole could not take place (for example an unusable source configuration).
	Refresh(ctx context.Context, job Job) (Report, error)
	// Evict removes the cached results of symbols that no schedule covers any more.
	Evict(ctx context.Context, symbols []string) error
}
