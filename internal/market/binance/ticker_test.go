package binance

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/market"
)

// tickerBody is GET /api/v3/ticker/24hr without a symbol, in Binance's exact format (two rows of
// the documented example, one of them a pair that no longer trades).
const tickerBody = `[
  {"symbol":"BNBBTC","priceChange":"-94.99999800","priceChangePercent":"-95.960","weightedAvgPrice":"0.29628482",
   "prevClosePrice":"0.10002000","lastPrice":"4.00000200","lastQty":"200.00000000","bidPrice":"4.00000000",
   "bidQty":"100.00000000","askPrice":"4.00000200","askQty":"100.00000000","openPrice":"99.00000000",
   "highPrice":"100.00000000","lowPrice":"0.10000000","volume":"8913.30000000","quoteVolume":"15.30000000",
   "openTime":1499783499040,"closeTime":1499869899040,"firstId":28385,"lastId":28460,"count":76},
  {"symbol":"OLDUSDT","priceChange":"0.00000000","priceChangePercent":"0.000","weightedAvgPrice":"0.00000000",
   "prevClosePrice":"0.00000000","lastPrice":"0.00000000","lastQty":"0.00000000","bidPrice":"0.00000000",
   "bidQty":"0.00000000","askPrice":"0.00000000","askQty":"0.00000000","openPrice":"0.00000000",
   "highPrice":"0.00000000","lowPrice":"0.00000000","volume":"0.00000000","quoteVolume":"0.00000000",
   "openTime":1499783499040,"closeTime":1499869899040,"firstId":-1,"lastId":-1,"count":0}
]`

func TestTickersSpotDecodesTheDocumentedRows(t *testing.T) {
	e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-MBX-USED-WEIGHT-1M", "80")
		_, _ = w.Write([]byte(tickerBody))
	})
	tickers, err := newTestClient(e, &fakeSleeper{}).Tickers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := <-e.paths; got != "/api/v3/ticker/24hr?" {
		t.Fatalf("request %q: want the spot ticker of all symbols (no symbol parameter)", got)
	}
	want := market.Ticker{Symbol: "BNBBTC", PriceChange: -94.999998, PriceChangePercent: -95.96, LastPrice: 4.000002,
		HighPrice: 100, LowPrice: 0.1, Volume: 8913.3, QuoteVolume: 15.3, Trades: 76,
		OpenTime: time.UnixMilli(1499783499040).UTC(), CloseTime: time.UnixMilli(1499869899040).UTC()}
	if len(tickers) != 2 || tickers[0] != want || tickers[1].Symbol != "OLDUSDT" || tickers[1].Trades != 0 {
		t.Fatalf("tickers = %+v, want %+v first", tickers, want)
	}
}

func TestTickersFuturesPathAndWeight(t *testing.T) {
	e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(tickerBody)) })
	c := newTestClient(e, &fakeSleeper{}, func(c *Config) { c.Futures = true })
	before := c.limiter.Tokens()
	if _, err := c.Tickers(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := <-e.paths; got != "/fapi/v1/ticker/24hr?" {
		t.Fatalf("futures ticker went to %q", got)
	}
	if spent := before - c.limiter.Tokens(); spent < 39 || spent > 40.5 {
		t.Fatalf("limiter spent %.2f tokens, want the futures ticker's weight 40", spent)
	}
}

func TestTickersSpotChargesWeight80EvenOnASmallBudget(t *testing.T) {
	e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(tickerBody)) })
	// A budget of 120 per minute has a burst of 12: the ticker must still be possible, not refused.
	c := newTestClient(e, &fakeSleeper{}, func(c *Config) { c.WeightPerMinute = 120 })
	before := c.limiter.Tokens()
	if _, err := c.Tickers(context.Background()); err != nil {
		t.Fatal(err)
	}
	if spent := before - c.limiter.Tokens(); spent < 79 || spent > 80.5 {
		t.Fatalf("limiter spent %.2f tokens, want the spot ticker's weight 80", spent)
	}
}

func TestTickers429WaitsForRetryAfterThenSucceeds(t *testing.T) {
	e := newExchange(t, func(hit int, w http.ResponseWriter, _ *http.Request) {
		if hit == 1 {
			w.Header().Set("Retry-After", "11")
			w.Header().Set("X-MBX-USED-WEIGHT-1M", "6040")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"code":-1003,"msg":"Too much request weight used."}`))
			return
		}
		_, _ = w.Write([]byte(tickerBody))
	})
	s := &fakeSleeper{}
	c := newTestClient(e, s)
	tickers, err := c.Tickers(context.Background())
	if err != nil || len(tickers) != 2 {
		t.Fatalf("tickers %d, err %v", len(tickers), err)
	}
	// The 429's Retry-After (11s) and the full weight header (30s to the minute's end) both block;
	// the longer one wins.
	if e.hits.Load() != 2 || s.total() != 30*time.Second {
		t.Fatalf("hits %d, slept %v: want one retry after the 30s to the next minute", e.hits.Load(), s.slept)
	}
}

func TestTickers418IsReported(t *testing.T) {
	e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "600")
		w.WriteHeader(http.StatusTeapot)
	})
	_, err := newTestClient(e, &fakeSleeper{}).Tickers(context.Background())
	if market.Reason(err) != market.ReasonIPBanned || e.hits.Load() != 1 {
		t.Fatalf("err %v after %d hits, want one request and IPBanned", err, e.hits.Load())
	}
}

func TestABlockLongerThanTheCallersDeadlineFailsAtOnce(t *testing.T) {
	e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "600")
		w.WriteHeader(http.StatusTeapot)
	})
	s := &fakeSleeper{}
	c := newTestClient(e, s)
	_, _ = c.Tickers(context.Background()) // banned for 10 minutes
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Tickers(ctx)
	var rl *market.RateLimitError
	if !errors.As(err, &rl) || rl.Status != http.StatusTeapot || rl.RetryAfter != 600*time.Second || e.hits.Load() != 1 || s.total() != 0 {
		t.Fatalf("err %v after %d requests and %v asleep: want IPBanned at once, no request, no wait", err, e.hits.Load(), s.slept)
	}
}

func TestTickersMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"not json":          `<html>maintenance</html>`,
		"object":            `{"symbol":"BTCUSDT"}`,
		"price as number":   strings.Replace(tickerBody, `"lastPrice":"4.00000200"`, `"lastPrice":4.000002`, 1),
		"price not decimal": strings.Replace(tickerBody, `"lastPrice":"4.00000200"`, `"lastPrice":"four"`, 1),
		"no symbol":         `[{"priceChangePercent":"1.0"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) })
			_, err := newTestClient(e, &fakeSleeper{}).Tickers(context.Background())
			if market.Reason(err) != market.ReasonBadResponse || e.hits.Load() != 1 {
				t.Fatalf("err %v after %d hits, want one BadResponse", err, e.hits.Load())
			}
		})
	}
}
