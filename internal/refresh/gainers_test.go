package refresh

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hama-operator/hama-operator/internal/gainers"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/market/simulated"
)

// movingMarket is the simulated market whose 24-hour ticker a test rewrites between runs.
type movingMarket struct {
	*simulated.Source
	mu      sync.Mutex
	tickers []market.Ticker
}

func (m *movingMarket) Tickers(context.Context) ([]market.Ticker, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.tickers), nil
}

func (m *movingMarket) set(changes map[string]float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tickers = nil
	for sym, change := range changes {
		m.tickers = append(m.tickers, market.Ticker{Symbol: sym, PriceChangePercent: change, QuoteVolume: 1e6, LastPrice: 1})
	}
}

type oneSource struct{ src market.Source }

func (s oneSource) Source(string, string) (market.Source, error) { return s.src, nil }

func TestTopGainersJobFollowsTheListAndLetsLeaversExpire(t *testing.T) {
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	mkt := &movingMarket{Source: simulated.New(simulated.WithClock(clock))}
	store := memoryCache(t)
	p := newPipeline(store)
	p.Clock = clock
	p.Sources = oneSource{mkt}
	p.Gainers = &gainers.Board{Sources: p.Sources, Store: store, Clock: clock}
	j := job("simulated", "")
	j.TopGainers = &gainers.Query{Limit: 3, QuoteAsset: "USDT", MinQuoteVolume: 1000}

	mkt.set(map[string]float64{"AAAUSDT": 30, "BBBUSDT": 20, "CCCUSDT": 10, "DDDUSDT": 5, "EEEBTC": 90})
	report, err := p.Refresh(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(report.Symbols, []string{"AAAUSDT", "BBBUSDT", "CCCUSDT"}) || report.Succeeded != 3 {
		t.Fatalf("first run: %+v", report)
	}
	firstRun := clock.Now()

	// CCC falls out of the list, DDD enters; the ticker is re-read once it is no longer fresh.
	clock.SetTime(firstRun.Add(5 * time.Minute))
	mkt.set(map[string]float64{"AAAUSDT": 30, "BBBUSDT": 20, "CCCUSDT": 1, "DDDUSDT": 15})
	report, err = p.Refresh(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(report.Symbols, []string{"AAAUSDT", "BBBUSDT", "DDDUSDT"}) || report.Succeeded != 3 {
		t.Fatalf("second run: %+v", report)
	}
	if doc := cached(t, store, "AAAUSDT"); !doc.UpdatedAt.Equal(clock.Now()) {
		t.Fatalf("AAAUSDT updated at %s, want the second run", doc.UpdatedAt)
	}
	// CCC keeps its last result, untouched, and expires when the first run said it would.
	ccc := cached(t, store, "CCCUSDT")
	if !ccc.UpdatedAt.Equal(firstRun) || !ccc.ExpiresAt().Equal(firstRun.Add(j.TTL)) {
		t.Fatalf("CCCUSDT updated %s, expires %s: want the first run's, not refreshed", ccc.UpdatedAt, ccc.ExpiresAt())
	}
}

func TestTopGainersJobFailsWholeWithoutATicker(t *testing.T) {
	p := newPipeline(memoryCache(t))
	j := job("simulated", "")
	j.TopGainers = &gainers.Query{Limit: 3, QuoteAsset: "USDT"}
	if _, err := p.Refresh(context.Background(), j); err == nil {
		t.Fatal("a gainers job ran without a way to resolve its symbols")
	}
}
