package gainers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	goredis "github.com/redis/go-redis/v9"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/cache/redistest"
	"github.com/hama-operator/hama-operator/internal/gainers"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/market/binance"
)

// exchange is an httptest server that speaks Binance's 24hr ticker of all symbols.
type exchange struct {
	*httptest.Server
	hits atomic.Int32
	// status, when not 200, is answered with Retry-After instead of the ticker.
	status atomic.Int32
	// change is BTCUSDT's 24-hour change, so a test can tell two fetches apart.
	change atomic.Int32
}

func newExchange(t *testing.T) *exchange {
	e := &exchange{}
	e.status.Store(http.StatusOK)
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		if r.URL.Path != "/api/v3/ticker/24hr" || r.URL.RawQuery != "" {
			http.Error(w, `{"code":-1100,"msg":"unexpected request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("X-MBX-USED-WEIGHT-1M", fmt.Sprint(80*e.hits.Load()))
		if st := int(e.status.Load()); st != http.StatusOK {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(st)
			_, _ = w.Write([]byte(`{"code":-1003,"msg":"Too much request weight used."}`))
			return
		}
		row := func(sym string, change int32, qv string) string {
			return fmt.Sprintf(`{"symbol":%q,"priceChange":"1.00000000","priceChangePercent":"%d.000","weightedAvgPrice":"1.0",`+
				`"prevClosePrice":"1.0","lastPrice":"2.00000000","lastQty":"1.0","bidPrice":"1.0","bidQty":"1.0","askPrice":"1.0",`+
				`"askQty":"1.0","openPrice":"1.00000000","highPrice":"2.10000000","lowPrice":"0.90000000","volume":"100.00000000",`+
				`"quoteVolume":%q,"openTime":1764400000000,"closeTime":1764486400000,"firstId":1,"lastId":9,"count":9}`, sym, change, qv)
		}
		_, _ = fmt.Fprintf(w, "[%s,%s,%s]", row("BTCUSDT", e.change.Load(), "900000.0"), row("ETHUSDT", 5, "800000.0"),
			row("ETHBTC", 50, "70.0"))
	}))
	t.Cleanup(e.Close)
	return e
}

// sources hands out one Binance client on the test exchange, on the test's clock, with a sleep
// that returns at once.
type sources struct{ client *binance.Client }

func (s sources) Source(string, string) (market.Source, error) { return s.client, nil }

func newSources(e *exchange, clock *clocktesting.FakePassiveClock) sources {
	return sources{binance.New(binance.Config{BaseURL: e.URL, MaxRetries: 1, Clock: clock,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})}
}

// newStore is one replica's cache client on the shared redis-server.
func newStore(t *testing.T, addr string) *cache.Cache {
	cfg := cache.DefaultConfig()
	cfg.RedisEnabled, cfg.Addrs = true, []string{addr}
	c, err := cache.New(cfg, nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var start = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func TestReplicasAndPageLoadsShareOneTickerFetch(t *testing.T) {
	redis := redistest.Start(t)
	e := newExchange(t)
	clock := clocktesting.NewFakePassiveClock(start)
	replicaA := &gainers.Board{Sources: newSources(e, clock), Store: newStore(t, redis.Addr()), Clock: clock}
	replicaB := &gainers.Board{Sources: newSources(e, clock), Store: newStore(t, redis.Addr()), Clock: clock}
	q := gainers.Query{Limit: 10, QuoteAsset: "USDT"}

	// Fifty page loads at once on one replica: one fetch.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			top, _, err := replicaA.Top(context.Background(), market.Binance, "", q)
			if err != nil || len(top) != 2 {
				t.Errorf("top %v, err %v", top, err)
			}
		})
	}
	wg.Wait()
	// The other replica reads what the first stored.
	top, snap, err := replicaB.Top(context.Background(), market.Binance, "", q)
	if err != nil {
		t.Fatal(err)
	}
	if e.hits.Load() != 1 {
		t.Fatalf("%d exchange calls for 51 page loads on two replicas, want 1", e.hits.Load())
	}
	if top[0].Symbol != "ETHUSDT" || top[1].Symbol != "BTCUSDT" || !snap.FetchedAt.Equal(start) || snap.Exchange != market.Binance {
		t.Fatalf("top %+v from %+v", top, snap)
	}

	// Once the ticker is no longer fresh, the next call fetches again and both replicas see it.
	e.change.Store(9)
	clock.SetTime(start.Add(gainers.DefaultFreshFor))
	if top, _, _ = replicaA.Top(context.Background(), market.Binance, "", q); top[0].Symbol != "BTCUSDT" || e.hits.Load() != 2 {
		t.Fatalf("after %s: top %v after %d calls, want the new ticker from a second call", gainers.DefaultFreshFor, top, e.hits.Load())
	}
	// Redis tells replica B's client-side cache about the new value asynchronously.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(storedValue(t, replicaB), `"priceChangePercent":9,`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if top, _, _ = replicaB.Top(context.Background(), market.Binance, "", q); top[0].Symbol != "BTCUSDT" || e.hits.Load() != 2 {
		t.Fatalf("replica B: top %v after %d calls, want the stored new ticker", top, e.hits.Load())
	}
	if ttl, err := redisTTL(redis.Addr(), gainers.Key(market.Binance, "")); err != nil || ttl <= gainers.DefaultFreshFor || ttl > gainers.DefaultKeepFor {
		t.Fatalf("ticker key TTL %v (%v), want up to %s: it answers while the exchange cannot", ttl, err, gainers.DefaultKeepFor)
	}
}

func storedValue(t *testing.T, b *gainers.Board) string {
	e, err := b.Store.Get(context.Background(), gainers.Key(market.Binance, ""))
	if err != nil {
		t.Fatal(err)
	}
	return string(e.Value)
}

// redisTTL asks the redis-server itself for a key's remaining time to live.
func redisTTL(addr, key string) (time.Duration, error) {
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	return c.TTL(context.Background(), key).Result()
}

func TestRateLimitedExchangeServesTheLastTickerOrAnErrorWithItsReason(t *testing.T) {
	redis := redistest.Start(t)
	e := newExchange(t)
	clock := clocktesting.NewFakePassiveClock(start)
	board := &gainers.Board{Sources: newSources(e, clock), Store: newStore(t, redis.Addr()), Clock: clock}
	q := gainers.Query{Limit: 1, QuoteAsset: "USDT"}

	e.status.Store(http.StatusTooManyRequests)
	_, _, err := board.Top(context.Background(), market.Binance, "", q)
	if market.Reason(err) != market.ReasonRateLimited || !strings.Contains(err.Error(), "24-hour ticker") {
		t.Fatalf("err %v (%s): want RateLimited with nothing cached", err, market.Reason(err))
	}
	hits := e.hits.Load()

	e.status.Store(http.StatusOK)
	clock.SetTime(start.Add(time.Minute)) // past the client's Retry-After block
	if _, _, err := board.Top(context.Background(), market.Binance, "", q); err != nil {
		t.Fatal(err)
	}
	e.status.Store(http.StatusTeapot)
	clock.SetTime(start.Add(5 * time.Minute))
	top, snap, err := board.Top(context.Background(), market.Binance, "", q)
	if err != nil || len(top) != 1 || !snap.FetchedAt.Equal(start.Add(time.Minute)) {
		t.Fatalf("banned exchange: top %v from %s, err %v; want the 4-minute-old ticker", top, snap.FetchedAt, err)
	}
	if e.hits.Load() <= hits+1 {
		t.Fatalf("the stale ticker was served without trying the exchange")
	}
}
