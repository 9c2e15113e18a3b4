package refresh

import (
	"cmp"
	"context"
	"maps"
	"slices"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/market"
)

// AnalyzeCandles analyses candles the caller already holds (a stream's in-memory series), by
// timeframe, for symbol, and merges the results into the cache: the same write, signals included,
// as a refresh's. It returns the crosses that were new.
func (p *Pipeline) AnalyzeCandles(ctx context.Context, job Job, symbol string,
	candles map[string][]market.Candle) ([]analysis.SignalChange, error) {
	job.Timeframes = slices.Sorted(maps.Keys(candles))
	_, signals, err := p.analyzeAndStore(ctx, heldCandles{name: cmp.Or(job.Exchange, market.Binance), candles: candles}, job, symbol)
	return signals, err
}

// CacheState names the backend taking writes now and whether Redis is configured but not serving.
func (p *Pipeline) CacheState() (backend string, degraded bool) {
	if p.Backend != nil {
		backend = p.Backend()
	}
	if p.Degraded != nil {
		degraded = p.Degraded()
	}
	return backend, degraded
}

// heldCandles is a market.Source over candles in hand, by timeframe: the newest limit of them.
type heldCandles struct {
	name    string
	candles map[string][]market.Candle
}

func (h heldCandles) Name() string { return h.name }

func (h heldCandles) Klines(_ context.Context, _, interval string, limit int) ([]market.Candle, error) {
	c := h.candles[interval]
	return c[max(len(c)-limit, 0):], nil
}
