package binance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/testenv"
)

// now is the clock of these tests: candles of the fake exchange close before it, except the newest.
var now = time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC)

// klinesBody writes n one-minute rows in Binance's exact format, the newest still open at now.
func klinesBody(n int) string {
	var b strings.Builder
	b.WriteString("[")
	first := now.Truncate(time.Minute).Add(-time.Duration(n-1) * time.Minute)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		open := first.Add(time.Duration(i) * time.Minute)
		p := 100 + float64(i)/100
		fmt.Fprintf(&b, `[%d,"%.8f","%.8f","%.8f","%.8f","148976.11427815",%d,"2434.19055334",308,"1756.87402397","28.46694368","0"]`,
			open.UnixMilli(), p, p+0.5, p-0.5, p+0.1, open.Add(time.Minute).UnixMilli()-1)
	}
	b.WriteString("]")
	return b.String()
}

type fakeSleeper struct {
	mu    sync.Mutex
	slept []time.Duration
}

func (f *fakeSleeper) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.slept = append(f.slept, d)
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fakeSleeper) total() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var t time.Duration
	for _, d := range f.slept {
		t += d
	}
	return t
}

// exchange is an httptest server whose answers a test scripts one request at a time.
type exchange struct {
	*httptest.Server
	hits    atomic.Int32
	paths   chan string
	respond func(hit int, w http.ResponseWriter, r *http.Request)
}

func newExchange(t *testing.T, respond func(hit int, w http.ResponseWriter, r *http.Request)) *exchange {
	e := &exchange{respond: respond, paths: make(chan string, 100)}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hit := int(e.hits.Add(1))
		select {
		case e.paths <- r.URL.Path + "?" + r.URL.RawQuery:
		default:
		}
		e.respond(hit, w, r)
	}))
	t.Cleanup(e.Close)
	return e
}

func newTestClient(e *exchange, s *fakeSleeper, mutate ...func(*Config)) *Client {
	cfg := Config{BaseURL: e.URL, Clock: testingclock.NewFakePassiveClock(now), Sleep: s.sleep, RequestTimeout: 2 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	return New(cfg)
}

func TestKlinesHappyPathDropsTheOpenCandle(t *testing.T) {
	e := newExchange(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-MBX-USED-WEIGHT-1M", "7")
		_, _ = w.Write([]byte(klinesBody(6)))
	})
	c := newTestClient(e, &fakeSleeper{})
	candles, err := c.Klines(context.Background(), "BTCUSDT", "1m", 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-e.paths; got != "/api/v3/klines?interval=1m&limit=6&symbol=BTCUSDT" {
		t.Fatalf("request %q: want the spot path and one extra candle", got)
	}
	if len(candles) != 5 {
		t.Fatalf("got %d candles, want the 5 closed ones", len(candles))
	}
	lastClosed := candles[4]
	if !lastClosed.CloseTime.Before(now) || lastClosed.Open != 100.04 || lastClosed.High != 100.54 || lastClosed.Close != 100.14 ||
		lastClosed.Volume != 148976.11427815 || !lastClosed.OpenTime.Equal(now.Truncate(time.Minute).Add(-time.Minute)) {
		t.Fatalf("last closed candle = %+v", lastClosed)
	}
}

func TestKlinesFewerRowsThanAskedAreReturnedAsIs(t *testing.T) {
	e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(klinesBody(3))) })
	candles, err := newTestClient(e, &fakeSleeper{}).Klines(context.Background(), "NEWUSDT", "1m", 500)
	if err != nil || len(candles) != 2 {
		t.Fatalf("got %d candles, err %v; want the 2 closed rows the exchange has", len(candles), err)
	}
}

func TestKlinesFuturesPath(t *testing.T) {
	e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(klinesBody(2))) })
	c := newTestClient(e, &fakeSleeper{}, func(c *Config) { c.Futures = true })
	if _, err := c.Klines(context.Background(), "BTCUSDT", "15m", 1); err != nil {
		t.Fatal(err)
	}
	if got := <-e.paths; !strings.HasPrefix(got, "/fapi/v1/klines?") || c.Name() != "binance-futures" {
		t.Fatalf("futures request went to %q (name %s)", got, c.Name())
	}
}

func TestKlines429WaitsForRetryAfterThenSucceeds(t *testing.T) {
	e := newExchange(t, func(hit int, w http.ResponseWriter, _ *http.Request) {
		if hit == 1 {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"code":-1003,"msg":"Too many requests."}`))
			return
		}
		_, _ = w.Write([]byte(klinesBody(3)))
	})
	s := &fakeSleeper{}
	c := newTestClient(e, s)
	if _, err := c.Klines(context.Background(), "BTCUSDT", "1m", 2); err != nil {
		t.Fatal(err)
	}
	if e.hits.Load() != 2 || s.total() != 7*time.Second {
		t.Fatalf("hits %d, slept %v: want one retry after exactly the 7s Retry-After", e.hits.Load(), s.slept)
	}
}

func TestKlines418IsNotRetriedAndBlocksTheClient(t *testing.T) {
	e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTeapot)
	})
	s := &fakeSleeper{}
	c := newTestClient(e, s)
	_, err := c.Klines(context.Background(), "BTCUSDT", "1m", 2)
	var rl *market.RateLimitError
	if !errors.As(err, &rl) || rl.Status != 418 || market.Reason(err) != "IPBanned" || e.hits.Load() != 1 {
		t.Fatalf("err %v after %d hits: want one request and an IPBanned error", err, e.hits.Load())
	}
	if got := c.BlockedUntil(); !got.Equal(now.Add(120 * time.Second)) {
		t.Fatalf("client blocked until %s, want now+120s", got)
	}
	// Every goroutine's next request waits for the ban to pass before it is sent.
	_, _ = c.Klines(context.Background(), "ETHUSDT", "1m", 2)
	if len(s.slept) == 0 || s.slept[0] != 120*time.Second {
		t.Fatalf("next request slept %v, want 120s first", s.slept)
	}
}

func TestKlines500ThenSuccess(t *testing.T) {
	e := newExchange(t, func(hit int, w http.ResponseWriter, _ *http.Request) {
		if hit == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte(klinesBody(3)))
	})
	s := &fakeSleeper{}
	if _, err := newTestClient(e, s).Klines(context.Background(), "BTCUSDT", "1m", 2); err != nil {
		t.Fatal(err)
	}
	if e.hits.Load() != 2 || len(s.slept) != 1 || s.slept[0] <= 0 || s.slept[0] > 250*time.Millisecond {
		t.Fatalf("hits %d, backoff %v: want one retry after a jittered delay within the 250ms base", e.hits.Load(), s.slept)
	}
}

func TestKlinesPersistent5xxGivesUpAfterRetries(t *testing.T) {
	e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	_, err := newTestClient(e, &fakeSleeper{}).Klines(context.Background(), "BTCUSDT", "1m", 2)
	if market.Reason(err) != "UpstreamUnavailable" || e.hits.Load() != 4 {
		t.Fatalf("err %v after %d hits, want UpstreamUnavailable after 1+3 attempts", err, e.hits.Load())
	}
}

func TestKlinesTimeoutIsRetriedThenReported(t *testing.T) {
	release := make(chan struct{})
	e := newExchange(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	// Attempts are counted as the client sends them: on a loaded machine an attempt can time out
	// before the server's handler sees it.
	attempts := &countingTransport{next: http.DefaultTransport}
	c := newTestClient(e, &fakeSleeper{}, func(c *Config) {
		c.RequestTimeout, c.MaxRetries, c.HTTPClient = 50*time.Millisecond, 1, &http.Client{Transport: attempts}
	})
	_, err := c.Klines(context.Background(), "BTCUSDT", "1m", 2)
	if market.Reason(err) != "Timeout" || attempts.n.Load() != 2 {
		t.Fatalf("err %v (%s) after %d attempts, want Timeout after 2", err, market.Reason(err), attempts.n.Load())
	}
}

// countingTransport counts the requests a client sends.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int32
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

func TestKlinesBinanceErrorIsTypedAndNotRetried(t *testing.T) {
	e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"code":-1121,"msg":"Invalid symbol."}`))
	})
	_, err := newTestClient(e, &fakeSleeper{}).Klines(context.Background(), "NOPEUSDT", "1m", 2)
	var apiErr *market.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != -1121 || apiErr.Msg != "Invalid symbol." || market.Reason(err) != "InvalidSymbol" {
		t.Fatalf("err = %v", err)
	}
	if e.hits.Load() != 1 {
		t.Fatalf("%d requests for an invalid symbol, want 1", e.hits.Load())
	}
}

func TestKlinesMalformedJSON(t *testing.T) {
	for name, body := range map[string]string{
		"not json":       `<html>maintenance</html>`,
		"truncated":      `[[1499040000000,"0.01634790"`,
		"short row":      `[[1499040000000,"1","2","0.5","1.5","10",1499040059999]]`,
		"price unquoted": `[[1499040000000,1,"2","0.5","1.5","10",1499040059999,"1",1,"1","1","0"]]`,
		"time as string": `[["1499040000000","1","2","0.5","1.5","10",1499040059999,"1",1,"1","1","0"]]`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) })
			_, err := newTestClient(e, &fakeSleeper{}).Klines(context.Background(), "BTCUSDT", "1m", 2)
			if market.Reason(err) != "BadResponse" || e.hits.Load() != 1 {
				t.Fatalf("err %v after %d hits, want one BadResponse", err, e.hits.Load())
			}
		})
	}
}

func TestServerWeightNearTheBudgetPausesUntilTheNextMinute(t *testing.T) {
	e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-MBX-USED-WEIGHT-1M", "5990")
		_, _ = w.Write([]byte(klinesBody(3)))
	})
	s := &fakeSleeper{}
	c := newTestClient(e, s)
	if _, err := c.Klines(context.Background(), "BTCUSDT", "1m", 2); err != nil {
		t.Fatal(err)
	}
	if want := now.Truncate(time.Minute).Add(time.Minute); !c.BlockedUntil().Equal(want) {
		t.Fatalf("blocked until %s, want the next minute %s", c.BlockedUntil(), want)
	}
	_, _ = c.Klines(context.Background(), "ETHUSDT", "1m", 2)
	if len(s.slept) == 0 || s.slept[0] != 30*time.Second {
		t.Fatalf("slept %v, want 30s to the minute's end first", s.slept)
	}
}

// The limiter charges Binance's weight for every request, so a burst never exceeds the budget.
func TestWeightLimiterAccounting(t *testing.T) {
	for limit, want := range map[int]int{50: 1, 100: 2, 499: 2, 500: 5, 1000: 5, 1001: 10} {
		if got := weight(limit); got != want {
			t.Errorf("weight(%d) = %d, want %d", limit, got, want)
		}
	}
	e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(klinesBody(3))) })
	c := newTestClient(e, &fakeSleeper{}, func(c *Config) { c.WeightPerMinute = 600 })
	before := c.limiter.Tokens()
	for range 5 {
		if _, err := c.Klines(context.Background(), "BTCUSDT", "1m", 500); err != nil { // 501 rows asked: weight 5
			t.Fatal(err)
		}
	}
	spent := before - c.limiter.Tokens()
	if spent < 24 || spent > 25.5 { // 25, less what refilled at 10/s during the test
		t.Fatalf("limiter spent %.2f tokens for 5 requests of weight 5", spent)
	}
}

// Real candles from the shared data set, served as Binance serves them.
func TestDecodesRealKlinesFiles(t *testing.T) {
	for _, f := range testenv.KlinesFiles(t) {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) })
			c := newTestClient(e, &fakeSleeper{}, func(c *Config) { c.IncludeOpenCandle = true })
			candles, err := c.Klines(context.Background(), "ANY", "5m", 100000)
			if err != nil {
				t.Fatal(err)
			}
			rows := strings.Count(string(body), "\n[")
			if len(candles) != rows {
				t.Fatalf("decoded %d candles, the file has %d rows", len(candles), rows)
			}
			for i, k := range candles {
				if !(k.Low <= k.Open && k.Low <= k.Close && k.High >= k.Open && k.High >= k.Close && k.Low > 0) ||
					!k.CloseTime.After(k.OpenTime) || (i > 0 && !k.OpenTime.After(candles[i-1].OpenTime)) {
					t.Fatalf("candle %d inconsistent: %+v", i, k)
				}
			}
		})
	}
}

func TestKlinesBetweenAsksForExactlyTheRange(t *testing.T) {
	e := newExchange(t, func(_ int, w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(klinesBody(4))) })
	c := newTestClient(e, &fakeSleeper{})
	from := now.Truncate(time.Minute).Add(-3 * time.Minute)
	to := from.Add(2 * time.Minute)
	candles, err := c.KlinesBetween(context.Background(), "BTCUSDT", "1m", from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("/api/v3/klines?endTime=%d&interval=1m&limit=3&startTime=%d&symbol=BTCUSDT", to.UnixMilli(), from.UnixMilli())
	if got := <-e.paths; got != want {
		t.Fatalf("request %q, want %q", got, want)
	}
	if len(candles) != 3 || !candles[0].OpenTime.Equal(from) {
		t.Fatalf("got %d candles from %v, want the 3 closed ones from %v", len(candles), candles[0].OpenTime, from)
	}
	if none, err := c.KlinesBetween(context.Background(), "BTCUSDT", "1m", to, from); err != nil || none != nil {
		t.Fatalf("an empty range sent a request or failed: %v %v", none, err)
	}
}
