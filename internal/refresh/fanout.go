package refresh

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/hama-operator/hama-operator/internal/analysis"
)

// EachSymbol runs analyze for every symbol, concurrency at a time, and reports the outcome of the
// run: a symbol whose analyze fails is a failure (its cached value stays), the others go on and
// their signals are collected. Failures and signals are sorted by symbol (then timeframe); the
// caller fills in the cache state. A poll refresh and a stream resync both report through it.
func EachSymbol(ctx context.Context, symbols []string, concurrency int,
	analyze func(ctx context.Context, symbol string) ([]analysis.SignalChange, error)) Report {
	var (
		mu     sync.Mutex
		report = Report{Symbols: symbols}
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	for _, symbol := range symbols {
		g.Go(func() error {
			found, err := analyze(gctx, symbol)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				report.Failures = append(report.Failures, SymbolFailure{Symbol: symbol, Reason: Reason(err), Message: err.Error()})
				return nil
			}
			report.Succeeded++
			report.Signals = append(report.Signals, found...)
			return nil
		})
	}
	_ = g.Wait() // symbol errors are collected in the report, never returned
	slices.SortFunc(report.Failures, func(a, b SymbolFailure) int { return cmp.Compare(a.Symbol, b.Symbol) })
	slices.SortFunc(report.Signals, func(a, b analysis.SignalChange) int {
		return cmp.Or(cmp.Compare(a.Symbol, b.Symbol), cmp.Compare(a.Timeframe, b.Timeframe))
	})
	return report
}
