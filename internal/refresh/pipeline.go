package refresh

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/gainers"
	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// Store is the part of the cache a refresh writes to.
type Store interface {
	// UpdateAll replaces the value of each key by its change, all in one write where it can.
	UpdateAll(ctx context.Context, changes map[string]cache.Change) error
	Delete(ctx context.Context, keys ...string) error
}

// SourceProvider hands out the market data source for an exchange and optional base URL.
type SourceProvider interface {
	Source(exchange, baseURL string) (market.Source, error)
}

// GainerRanker ranks an exchange's symbols by 24-hour price change; gainers.Board implements it.
type GainerRanker interface {
	Top(ctx context.Context, exchange, baseURL string, q gainers.Query) ([]market.Ticker, gainers.Snapshot, error)
}

// AnalysisObserver counts per-symbol analyses ("success" or "failure").
type AnalysisObserver interface {
	ObserveSymbolAnalysis(result string)
}

// SignalLog records signal events; signals.Log implements it.
type SignalLog interface {
	Append(ctx context.Context, events ...signals.Event)
}

// Pipeline is the real Refresher: candles from the exchange, HAMA, merged into the cache, with the
// chart of each timeframe beside it and the signal events of the write appended to the history.
type Pipeline struct {
	Sources SourceProvider
	Store   Store
	// Signals receives the events each write finds; nil keeps no history.
	Signals SignalLog
	// Gainers resolves the symbols of jobs with TopGainers.
	Gainers GainerRanker
	// Keys names the cache keys; empty means DefaultKeyPrefix.
	Keys KeyPrefix
	// Backend names the cache backend currently taking writes ("redis" or "memory").
	Backend func() string
	// Degraded reports whether Redis is configured but not serving; nil means never.
	Degraded func() bool
	Observer AnalysisObserver
	Log      logr.Logger
	// Clock is replaceable in tests; nil means the real clock.
	Clock clock.PassiveClock
	// Defaults are the settings of on-demand analyses (AnalyzeNow) of symbols no schedule covers.
	Defaults Job

	// written is created on first use (memo): a Pipeline is a struct literal, and copies of one (a
	// second writer in tests) may share it, as it answers only for the exact bytes it wrote.
	written *writtenDocuments
}

var _ Refresher = (*Pipeline)(nil)

// Refresh analyses every symbol of the job, job.Concurrency at a time. A failing symbol keeps its
// cached value; the others go on.
func (p *Pipeline) Refresh(ctx context.Context, job Job) (Report, error) {
	src, err := p.Sources.Source(job.Exchange, job.BaseURL)
	if err != nil {
		return Report{}, err
	}
	symbols, err := p.Symbols(ctx, job)
	if err != nil {
		return Report{}, err
	}
	report := EachSymbol(ctx, symbols, job.Concurrency, func(ctx context.Context, symbol string) ([]analysis.SignalChange, error) {
		_, found, err := p.analyzeAndStore(ctx, src, job, symbol)
		return found, err
	})
	report.CacheBackend, report.CacheDegraded = p.CacheState()
	return report, nil
}

// Symbols are the symbols a run of job covers now: its list, or the gainers its TopGainers selects.
// Symbols that left the gainers are simply not refreshed: their cached results expire after their
// TTL, and another schedule may still cover them.
func (p *Pipeline) Symbols(ctx context.Context, job Job) ([]string, error) {
	if job.TopGainers == nil {
		return job.Symbols, nil
	}
	if p.Gainers == nil {
		return nil, errors.New("this operator cannot resolve top gainers: no ticker source is configured")
	}
	top, _, err := p.Gainers.Top(ctx, job.Exchange, job.BaseURL, *job.TopGainers)
	if err != nil {
		return nil, fmt.Errorf("resolving the top gainers: %w", err)
	}
	return gainers.Symbols(top), nil
}

// AnalyzeNow analyses one symbol with the default settings and merges it into the cache, for a
// REST call that missed the cache or forced a refresh: the same write as a scheduled refresh. It
// returns the merged document, as stored.
func (p *Pipeline) AnalyzeNow(ctx context.Context, symbol string) (analysis.Document, error) {
	return p.AnalyzeOn(ctx, "", symbol)
}

// AnalyzeOn is AnalyzeNow on another exchange ("binance", "binance-futures"; "" is the default),
// for a client that names its market. Another exchange than the default uses its public endpoint.
func (p *Pipeline) AnalyzeOn(ctx context.Context, exchange, symbol string) (analysis.Document, error) {
	job := p.Defaults
	if exchange != "" && exchange != job.Exchange {
		job.Exchange, job.BaseURL = exchange, ""
	}
	src, err := p.Sources.Source(job.Exchange, job.BaseURL)
	if err != nil {
		return analysis.Document{}, err
	}
	doc, _, err := p.analyzeAndStore(ctx, src, job, symbol)
	return doc, err
}

// analyzeAndStore computes a symbol's document and merges it into the cached one; it is the one
// write of analyses (schedules, on-demand calls, streams). The charts of its timeframes are merged
// in the same write. The events the merge reveals go to the signal history right after the write
// (a crash in between loses them; appending before would announce what a failed write never
// stored). Timeframes that succeeded are stored even when others failed; the error then names the
// failed ones.
func (p *Pipeline) analyzeAndStore(ctx context.Context, src market.Source, job Job,
	symbol string) (analysis.Document, []analysis.SignalChange, error) {
	now := p.now()
	fresh, analyzeErr := analysis.Analyze(ctx, src, analysis.Request{
		Symbol: symbol, Timeframes: job.Timeframes, Candles: job.Candles, Params: job.Params, TTL: job.TTL,
		SeriesBars: analysis.ChartBars,
	}, now)
	p.observe(analyzeErr)
	if len(fresh.Timeframes) == 0 {
		if analyzeErr == nil {
			analyzeErr = fmt.Errorf("%s: no timeframe was analysed", symbol)
		}
		return analysis.Document{}, nil, analyzeErr
	}

	var (
		merged analysis.Document
		events []signals.Event
		stored []byte
	)
	writes, chartErr := chartWrites(fresh, now)
	writes[p.key(symbol)] = cache.Change{Fn: func(current []byte) ([]byte, time.Duration, error) {
		cached, known := p.memo().lookup(symbol, current)
		if !known && current != nil {
			if doc, err := analysis.Decode(current); err == nil {
				cached = doc
			} else {
				p.Log.Info("replacing an unreadable cached document", "symbol", symbol, "error", err.Error())
			}
		}
		merged = analysis.Merge(cached, fresh, now)
		events = signals.Detect(cached, fresh) // the last attempt's: the one stored
		value, err := analysis.Encode(merged)
		stored = value
		return value, merged.ExpiresAt().Sub(now), err
	}}
	if err := p.Store.UpdateAll(ctx, writes); err != nil {
		return analysis.Document{}, nil, fmt.Errorf("storing %s: %w", symbol, err)
	}
	p.memo().remember(symbol, stored, merged)
	namespace, schedule, _ := strings.Cut(job.Schedule, "/")
	for i := range events {
		events[i].Namespace, events[i].Schedule = namespace, schedule
	}
	if p.Signals != nil {
		p.Signals.Append(ctx, events...)
	}
	return merged, crosses(events), errors.Join(analyzeErr, chartErr)
}

// chartWrites are the merges of the chart of each fresh timeframe into the cache, by key: newer
// candle wins, with the TTL of its analysis. A chart that cannot be encoded is left out, and named
// in the error.
func chartWrites(fresh analysis.Document, now time.Time) (map[string]cache.Change, error) {
	writes := make(map[string]cache.Change, len(fresh.Series)+1)
	var errs []error
	for tf := range fresh.Series {
		chart, ok := analysis.ChartOf(fresh, tf)
		if !ok {
			continue
		}
		value, err := analysis.EncodeChart(chart)
		if err != nil {
			errs = append(errs, fmt.Errorf("storing the %s chart of %s: %w", tf, fresh.Symbol, err))
			continue
		}
		// The bars of the cached chart are not needed to merge: it stays as it is or goes, so only
		// its header is read (a chart is about 20 KB, its header under 100 bytes).
		writes[SeriesKey(fresh.Symbol, tf)] = cache.Change{Head: analysis.ChartHeaderLen(fresh.Symbol, tf),
			Fn: func(header []byte) ([]byte, time.Duration, error) {
				if header != nil {
					if cached, err := analysis.DecodeChartHeader(header); err == nil && analysis.ChartNewer(cached, chart) {
						return nil, 0, cache.Keep
					}
				}
				return value, chart.ExpiresAt.Sub(now), nil
			}}
	}
	return writes, errors.Join(errs...)
}

// crosses are the cross events as the controller announces them.
func crosses(events []signals.Event) []analysis.SignalChange {
	out := make([]analysis.SignalChange, 0, len(events))
	for _, e := range events {
		dir := ""
		switch e.Kind {
		case signals.CrossUp:
			dir = hama.CrossUp
		case signals.CrossDown:
			dir = hama.CrossDown
		default:
			continue
		}
		out = append(out, analysis.SignalChange{Symbol: e.Symbol, Timeframe: e.Timeframe, Direction: dir, Time: e.CandleCloseTime})
	}
	return out
}

// Evict removes the cached documents of symbols, and their charts of every interval.
func (p *Pipeline) Evict(ctx context.Context, symbols []string) error {
	if len(symbols) == 0 {
		return nil
	}
	keys := make([]string, 0, len(symbols)*(1+len(market.Intervals)))
	for _, s := range symbols {
		keys = append(keys, p.key(s))
		for _, tf := range market.Intervals {
			keys = append(keys, SeriesKey(s, tf))
		}
	}
	p.memo().forget(symbols)
	return p.Store.Delete(ctx, keys...)
}

func (p *Pipeline) observe(err error) {
	if p.Observer == nil {
		return
	}
	if err != nil {
		p.Observer.ObserveSymbolAnalysis("failure")
		return
	}
	p.Observer.ObserveSymbolAnalysis("success")
}

func (p *Pipeline) key(symbol string) string { return cmp.Or(p.Keys, DefaultKeyPrefix).Key(symbol) }

func (p *Pipeline) now() time.Time {
	if p.Clock == nil {
		return time.Now()
	}
	return p.Clock.Now()
}

// ReasonInsufficientData: the exchange returned too few candles for the analysis.
const ReasonInsufficientData = "InsufficientData"

// Reason is a short CamelCase cause for status and API errors: one of market's Reason* or
// ReasonInsufficientData.
func Reason(err error) string {
	var insufficient *hama.InsufficientDataError
	if errors.As(err, &insufficient) {
		return ReasonInsufficientData
	}
	return market.Reason(err)
}
