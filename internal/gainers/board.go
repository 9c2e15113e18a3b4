package gainers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/utils/clock"

	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/market"
)

// Store is the part of the shared cache a Board uses.
type Store interface {
	Get(ctx context.Context, key string) (cache.Entry, error)
	Update(ctx context.Context, key string, fn cache.UpdateFunc) error
}

// SourceProvider hands out the market data source of an exchange and optional base URL.
type SourceProvider interface {
	Source(exchange, baseURL string) (market.Source, error)
}

// Defaults of a Board.
const (
	// DefaultFreshFor is how long a fetched ticker answers every caller: page loads within it cost
	// nothing, and a schedule refreshing every 10s asks the exchange at most every 30s.
	DefaultFreshFor = 30 * time.Second
	// DefaultKeepFor is how long a ticker stays in the cache to answer when the exchange cannot
	// (rate limited, banned, down); callers see its age.
	DefaultKeepFor = 15 * time.Minute
	// KeyPrefix starts every ticker key, beside the analyses' hama:analysis: keys.
	KeyPrefix = "hama:ticker:"
	// fetchTimeout bounds one ticker fetch; it runs detached from the caller that started it.
	fetchTimeout = 20 * time.Second
)

// Snapshot is one market's ticker of all symbols, as cached.
type Snapshot struct {
	Exchange  string          `json:"exchange"`
	FetchedAt time.Time       `json:"fetched_at"`
	Tickers   []market.Ticker `json:"tickers"`
}

// Board serves the gainers of each market from one cached ticker per exchange and base URL.
type Board struct {
	Sources SourceProvider
	Store   Store
	// FreshFor and KeepFor default to DefaultFreshFor and DefaultKeepFor.
	FreshFor, KeepFor time.Duration
	// Clock is replaceable in tests; nil means the real clock.
	Clock clock.PassiveClock

	flight  singleflight.Group
	mu      sync.Mutex
	decoded map[string]Snapshot
}

// Top returns q's gainers of the exchange, and the snapshot they were ranked from.
func (b *Board) Top(ctx context.Context, exchange, baseURL string, q Query) ([]market.Ticker, Snapshot, error) {
	snap, err := b.Snapshot(ctx, exchange, baseURL)
	if err != nil {
		return nil, Snapshot{}, err
	}
	return Top(snap.Tickers, q), snap, nil
}

// Snapshot returns the exchange's ticker while it is fresh: from this replica's decoded copy, else
// from the shared cache, else from the exchange, asked by one caller per key and replica for all.
// When the exchange fails, a ticker up to KeepFor old answers instead.
func (b *Board) Snapshot(ctx context.Context, exchange, baseURL string) (Snapshot, error) {
	key := Key(exchange, baseURL)
	if s, ok := b.recent(key); ok && b.fresh(s) {
		return s, nil
	}
	v, err, _ := b.flight.Do(key, func() (any, error) {
		// Another replica, or this one a moment ago, may have stored a fresh ticker.
		if s, ok := b.cached(ctx, key); ok && b.fresh(s) {
			return s, nil
		}
		// Detached: every caller waiting on this key shares the fetch, so the first one hanging up
		// must not cancel it for the others.
		fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		return b.fetchAndStore(fetchCtx, key, exchange, baseURL)
	})
	if err == nil {
		s := v.(Snapshot)
		b.remember(key, s)
		return s, nil
	}
	if s, ok := b.cached(ctx, key); ok {
		return s, nil
	}
	if s, ok := b.recent(key); ok && b.now().Sub(s.FetchedAt) < b.keepFor() {
		return s, nil
	}
	return Snapshot{}, err
}

func (b *Board) fresh(s Snapshot) bool { return b.now().Sub(s.FetchedAt) < b.freshFor() }

// recent is this replica's decoded copy of key's ticker. It spares every page load decoding the
// cached ticker (a few thousand rows) again: the shared cache is read once per fresh period.
func (b *Board) recent(key string) (Snapshot, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.decoded[key]
	return s, ok
}

func (b *Board) remember(key string, s Snapshot) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.decoded[key]; ok && old.FetchedAt.After(s.FetchedAt) {
		return
	}
	if b.decoded == nil {
		b.decoded = map[string]Snapshot{}
	}
	b.decoded[key] = s
}

// Key is the cache key of an exchange's ticker.
func Key(exchange, baseURL string) string {
	if baseURL == "" {
		return KeyPrefix + exchange
	}
	return KeyPrefix + exchange + ":" + baseURL
}

func (b *Board) cached(ctx context.Context, key string) (Snapshot, bool) {
	e, err := b.Store.Get(ctx, key)
	if err != nil {
		return Snapshot{}, false
	}
	var s Snapshot
	if json.Unmarshal(e.Value, &s) != nil {
		return Snapshot{}, false // an unreadable entry is replaced by the next fetch
	}
	return s, true
}

// fetchAndStore asks the exchange and merges the answer into the cache: when another replica stored
// a newer ticker meanwhile, that one stays and is returned.
func (b *Board) fetchAndStore(ctx context.Context, key, exchange, baseURL string) (Snapshot, error) {
	src, err := b.Sources.Source(exchange, baseURL)
	if err != nil {
		return Snapshot{}, err
	}
	ts, ok := src.(market.TickerSource)
	if !ok {
		return Snapshot{}, fmt.Errorf("exchange %q has no 24-hour ticker", exchange)
	}
	tickers, err := ts.Tickers(ctx)
	if err != nil {
		return Snapshot{}, fmt.Errorf("fetching the %s 24-hour ticker: %w", exchange, err)
	}
	// Pairs that did not trade (halted, delisted) are never ranked: they are not worth storing.
	tickers = slices.DeleteFunc(tickers, func(t market.Ticker) bool { return t.QuoteVolume <= 0 })
	fresh := Snapshot{Exchange: src.Name(), FetchedAt: b.now().UTC(), Tickers: tickers}
	kept := fresh
	err = b.Store.Update(ctx, key, func(current []byte) ([]byte, time.Duration, error) {
		kept = fresh
		var other Snapshot
		if current != nil && json.Unmarshal(current, &other) == nil && other.FetchedAt.After(fresh.FetchedAt) {
			kept = other
		}
		value, err := json.Marshal(kept)
		return value, b.keepFor() - b.now().Sub(kept.FetchedAt), err
	})
	if err != nil {
		return fresh, nil // the exchange answered: serve its answer even if the cache could not take it
	}
	return kept, nil
}

func (b *Board) now() time.Time {
	if b.Clock == nil {
		return time.Now()
	}
	return b.Clock.Now()
}

func (b *Board) freshFor() time.Duration {
	if b.FreshFor <= 0 {
		return DefaultFreshFor
	}
	return b.FreshFor
}

func (b *Board) keepFor() time.Duration {
	if b.KeepFor <= 0 {
		return DefaultKeepFor
	}
	return b.KeepFor
}
