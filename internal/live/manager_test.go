package live

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/market/binance/binancetest"
	"github.com/hama-operator/hama-operator/internal/market/binance/klinestream"
	"github.com/hama-operator/hama-operator/internal/refresh"
	"github.com/hama-operator/hama-operator/internal/signals"
)

type recorder struct {
	mu     sync.Mutex
	gaps   int
	lags   []time.Duration
	byKind map[string]int
}

func (r *recorder) ObserveStreamMessage(kind string) { r.mu.Lock(); r.byKind[kind]++; r.mu.Unlock() }
func (r *recorder) ObserveStreamConnection(int)      {}
func (r *recorder) ObserveStreamReconnect()          {}
func (r *recorder) ObserveGapHealed(n int)           { r.mu.Lock(); r.gaps += n; r.mu.Unlock() }
func (r *recorder) ObserveCloseToCache(d time.Duration) {
	r.mu.Lock()
	r.lags = append(r.lags, d)
	r.mu.Unlock()
}

// eventLog records the signal events the pipeline's write appends.
type eventLog struct {
	mu     sync.Mutex
	events []signals.Event
}

func (l *eventLog) Append(_ context.Context, events ...signals.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, events...)
}

func (l *eventLog) all() []signals.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

type harness struct {
	t       *testing.T
	ex      *binancetest.Exchange
	clock   *clocktesting.FakeClock
	store   *cache.Cache
	m       *Manager
	obs     *recorder
	changes chan string
	events  *eventLog
}

func newHarness(t *testing.T) *harness { return newSkewedHarness(t, 0) }

// newSkewedHarness runs the operator's clock skew ahead of the exchange's.
func newSkewedHarness(t *testing.T, skew time.Duration) *harness {
	ex := binancetest.New(time.Time{})
	t.Cleanup(ex.Close)
	store, err := cache.New(cache.DefaultConfig(), nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	sources := &refresh.Sources{WeightPerMinute: 1_000_000}
	events := &eventLog{}
	pipeline := &refresh.Pipeline{Sources: sources, Store: store, Signals: events, Log: testr.New(t)}
	h := &harness{t: t, ex: ex, store: store, events: events, clock: clocktesting.NewFakeClock(ex.Now().Add(skew)),
		obs: &recorder{byKind: map[string]int{}}, changes: make(chan string, 100)}
	h.m = &Manager{Writer: pipeline, Sources: sources, Observer: h.obs, Clock: h.clock, Log: testr.New(t),
		Changed: func(s string) {
			select {
			case h.changes <- s:
			default:
			}
		}}
	// Paced and timed out only on the fake clock, which the tests move by whole minutes.
	h.m.Stream.MessagesPerSecond, h.m.Stream.IdleTimeout = math.Inf(1), 24*time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.m.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func job(symbols ...string) refresh.Job {
	return refresh.Job{Schedule: "default/live", Symbols: symbols, Timeframes: []string{"1m", "5m"}, Candles: 450,
		Concurrency: 4, TTL: time.Hour, Exchange: market.Binance, Stream: true, Params: hama.DefaultParams()}
}

func (h *harness) sync(j refresh.Job) refresh.Report {
	h.t.Helper()
	j.BaseURL, j.StreamURL = h.ex.URL, h.ex.StreamURL
	report, err := h.m.Sync(context.Background(), j)
	if err != nil {
		h.t.Fatal(err)
	}
	return report
}

// advance moves the exchange and the operator's clock together; the exchange pushes what closed.
func (h *harness) advance(d time.Duration) {
	h.clock.Step(d)
	h.ex.Advance(d)
}

func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting: %s (exchange %+v)", what, h.ex.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) result(symbol, tf string) (hama.Result, bool) {
	e, err := h.store.Get(context.Background(), "hama:analysis:"+symbol)
	if err != nil {
		return hama.Result{}, false
	}
	doc, err := analysis.Decode(e.Value)
	if err != nil {
		h.t.Fatal(err)
	}
	r, ok := doc.Timeframes[tf]
	return r, ok
}

// closedAt waits until symbol's tf result is the candle that closes at close, and checks it is what
// a full REST analysis of the exchange's candles gives.
func (h *harness) closedAt(symbol, tf string, close time.Time) {
	h.t.Helper()
	var got hama.Result
	h.eventually(symbol+" "+tf+" closed at "+close.Format(time.RFC3339), func() bool {
		r, ok := h.result(symbol, tf)
		got = r
		return ok && r.CandleCloseTime.Equal(close.Add(-time.Millisecond))
	})
	var candles []market.Candle
	for open := close.Add(-450 * dur(tf)); open.Before(close); open = open.Add(dur(tf)) {
		candles = append(candles, binancetest.Candle(symbol, tf, open))
	}
	want, err := hama.Analyze(candles, hama.DefaultParams())
	if err != nil {
		h.t.Fatal(err)
	}
	if got.HAMA != want.HAMA || got.LastPrice != want.LastPrice {
		h.t.Fatalf("%s %s from the stream: %+v %v\nfrom all candles: %+v %v", symbol, tf, got.HAMA, got.LastPrice, want.HAMA, want.LastPrice)
	}
}

func (h *harness) closedMessages() int {
	h.obs.mu.Lock()
	defer h.obs.mu.Unlock()
	return h.obs.byKind[klinestream.KindClosed]
}

func dur(tf string) time.Duration { return market.NextOpen(tf, time.Time{}).Sub(time.Time{}) }

func TestBackfillThenEveryCloseReachesTheCache(t *testing.T) {
	h := newHarness(t)
	start := h.ex.Now()
	report := h.sync(job("BTCUSDT", "ETHUSDT"))
	if report.Succeeded != 2 || len(report.Failures) != 0 {
		t.Fatalf("report %+v", report)
	}
	h.closedAt("BTCUSDT", "5m", start)
	h.eventually("4 streams", func() bool { return h.ex.Stats().Streams == 4 })
	weight := h.ex.Stats().RESTWeight

	h.advance(time.Minute)
	h.closedAt("BTCUSDT", "1m", start.Add(time.Minute))
	h.closedAt("ETHUSDT", "1m", start.Add(time.Minute))
	for range 4 {
		h.advance(time.Minute)
	}
	h.closedAt("ETHUSDT", "5m", start.Add(5*time.Minute))
	h.closedAt("BTCUSDT", "1m", start.Add(5*time.Minute))
	if w := h.ex.Stats().RESTWeight; w != weight {
		t.Fatalf("the closes cost %d REST weight, want none", w-weight)
	}
	// The status and the observations follow each write, which the checks above may have seen first.
	h.eventually("the status shows the last close", func() bool {
		st, ok := h.m.Status("default/live")
		return ok && st.Streams == 4 && st.Connections == 1 && st.LastClose.Equal(start.Add(5*time.Minute-time.Millisecond)) && st.GapsHealed == 0
	})
	h.eventually("12 close-to-cache observations (10 one-minute and 2 five-minute closes)", func() bool {
		h.obs.mu.Lock()
		defer h.obs.mu.Unlock()
		return len(h.obs.lags) == 12
	})
}

func TestASkippedCandleIsHealedOverRESTWhenTheNextOneCloses(t *testing.T) {
	h := newHarness(t)
	start := h.ex.Now()
	h.sync(job("BTCUSDT"))
	h.eventually("2 streams", func() bool { return h.ex.Stats().Streams == 2 })
	h.ex.Skip("BTCUSDT", "1m", start)
	requests := h.ex.Stats().RESTRequests
	h.advance(time.Minute)
	time.Sleep(50 * time.Millisecond)
	if r, _ := h.result("BTCUSDT", "1m"); !r.CandleCloseTime.Before(start) {
		t.Fatal("the skipped candle reached the cache")
	}
	h.advance(time.Minute)
	h.closedAt("BTCUSDT", "1m", start.Add(2*time.Minute)) // equal to the full analysis: the gap is filled
	if n := h.ex.Stats().RESTRequests - requests; n != 1 {
		t.Fatalf("%d REST requests healed one candle, want 1", n)
	}
	if st, _ := h.m.Status("default/live"); st.GapsHealed != 1 || h.obs.gaps != 1 {
		t.Fatalf("gaps healed %d / %d, want 1", st.GapsHealed, h.obs.gaps)
	}
}

func TestTheResyncHealsACandleNoLaterCloseRevealed(t *testing.T) {
	h := newHarness(t)
	start := h.ex.Now()
	h.sync(job("BTCUSDT"))
	h.eventually("2 streams", func() bool { return h.ex.Stats().Streams == 2 })
	h.ex.Skip("BTCUSDT", "1m", start)
	h.advance(time.Minute)
	h.clock.Step(5 * time.Second) // within the grace: the stream may still bring it
	requests := h.ex.Stats().RESTRequests
	h.sync(job("BTCUSDT"))
	if n := h.ex.Stats().RESTRequests - requests; n != 0 {
		t.Fatalf("the resync asked REST %d times within the grace", n)
	}
	h.clock.Step(10 * time.Second)
	if report := h.sync(job("BTCUSDT")); report.Succeeded != 1 {
		t.Fatalf("report %+v", report)
	}
	h.closedAt("BTCUSDT", "1m", start.Add(time.Minute))
	if n := h.ex.Stats().RESTRequests - requests; n != 1 {
		t.Fatalf("%d REST requests, want one for the 1m series only", n)
	}
}

func TestADroppedConnectionHealsWithoutLosingACandle(t *testing.T) {
	h := newHarness(t)
	start := h.ex.Now()
	h.sync(job("BTCUSDT", "ETHUSDT"))
	h.eventually("4 streams", func() bool { return h.ex.Stats().Streams == 4 })
	h.ex.DropConnections()
	h.eventually("the client sees the drop", func() bool {
		st, _ := h.m.Status("default/live")
		return st.Connections == 0 && st.Reconnects == 1
	})
	h.advance(2 * time.Minute) // two candles close while nobody listens
	h.eventually("the reconnect", func() bool {
		h.clock.Step(200 * time.Millisecond) // through the backoff
		return h.ex.Stats().Streams == 4
	})
	h.closedAt("BTCUSDT", "1m", start.Add(2*time.Minute))
	h.closedAt("ETHUSDT", "1m", start.Add(2*time.Minute))
	select {
	case s := <-h.changes:
		if s != "default/live" {
			t.Fatalf("change reported for %q", s)
		}
	default:
		t.Fatal("no change was reported")
	}
}

func TestChangingTheSymbolsKeepsTheConnectionAndStopEndsIt(t *testing.T) {
	h := newHarness(t)
	start := h.ex.Now()
	h.sync(job("BTCUSDT", "ETHUSDT"))
	h.eventually("4 streams", func() bool { return h.ex.Stats().Streams == 4 })
	h.sync(job("ETHUSDT", "SOLUSDT"))
	h.eventually("the new set", func() bool { return h.ex.Stats().Streams == 4 && h.ex.Stats().ControlMessages >= 2 })
	if d := h.ex.Stats().Dials; d != 1 {
		t.Fatalf("%d dials: the change reconnected", d)
	}
	h.closedAt("SOLUSDT", "5m", start)
	h.advance(time.Minute)
	h.closedAt("SOLUSDT", "1m", start.Add(time.Minute))
	h.closedAt("ETHUSDT", "1m", start.Add(time.Minute))
	if r, _ := h.result("BTCUSDT", "1m"); r.CandleCloseTime.After(start) {
		t.Fatal("a dropped symbol is still written")
	}
	h.m.Stop("default/live")
	h.eventually("no connection", func() bool { return h.ex.Stats().Connections == 0 })
	if _, ok := h.m.Status("default/live"); ok {
		t.Fatal("a stopped schedule still has a status")
	}
}

func TestAnotherBaseURLStartsTheStreamOver(t *testing.T) {
	h := newHarness(t)
	h.sync(job("BTCUSDT"))
	h.eventually("2 streams", func() bool { return h.ex.Stats().Streams == 2 })
	other := binancetest.New(h.ex.Now())
	t.Cleanup(other.Close)
	j := job("BTCUSDT")
	j.BaseURL, j.StreamURL = other.URL, other.StreamURL
	if _, err := h.m.Sync(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	h.eventually("moved to the other exchange", func() bool {
		return h.ex.Stats().Connections == 0 && other.Stats().Streams == 2
	})
}

func TestAHostClockAheadOfTheExchangeCostsNoRESTAtTheResync(t *testing.T) {
	h := newSkewedHarness(t, 24*time.Hour)
	start := h.ex.Now()
	h.sync(job("BTCUSDT"))
	h.eventually("2 streams", func() bool { return h.ex.Stats().Streams == 2 })
	h.advance(time.Minute)
	h.closedAt("BTCUSDT", "1m", start.Add(time.Minute))
	h.clock.Step(30 * time.Second)
	requests := h.ex.Stats().RESTRequests
	if report := h.sync(job("BTCUSDT")); report.Succeeded != 1 {
		t.Fatalf("report %+v", report)
	}
	if n := h.ex.Stats().RESTRequests - requests; n != 0 {
		t.Fatalf("the resync sent %d REST requests for series that are up to date by the exchange's clock", n)
	}
}

func TestStreamClosesEmitSignalEventsThroughThePipeline(t *testing.T) {
	h := newHarness(t)
	start := h.ex.Now()
	h.sync(job("BTCUSDT"))
	h.eventually("2 streams", func() bool { return h.ex.Stats().Streams == 2 })
	for i := 1; i <= 60 && len(h.events.all()) == 0; i++ {
		h.advance(time.Minute)
		h.closedAt("BTCUSDT", "1m", start.Add(time.Duration(i)*time.Minute))
	}
	events := h.events.all()
	if len(events) == 0 {
		t.Fatal("an hour of one-minute closes brought no signal event")
	}
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e.ID] {
			t.Fatalf("event %s appended twice", e.ID)
		}
		seen[e.ID] = true
		if e.Symbol != "BTCUSDT" || e.Namespace != "default" || e.Schedule != "live" || e.CandleCloseTime.Before(start) {
			t.Fatalf("event %+v", e)
		}
	}
}

func TestTheResyncRewritesOnlyResultsThatWouldExpireBeforeTheNextOne(t *testing.T) {
	h := newHarness(t)
	j := job("BTCUSDT")
	j.Interval, j.TTL = time.Minute, time.Hour
	h.sync(j)
	before, _ := h.result("BTCUSDT", "5m")
	time.Sleep(10 * time.Millisecond) // computed_at comes from the real clock
	if report := h.sync(j); report.Succeeded != 1 {
		t.Fatalf("report %+v", report)
	}
	if after, _ := h.result("BTCUSDT", "5m"); !after.ComputedAt.Equal(before.ComputedAt) {
		t.Fatal("a result with most of its TTL left was rewritten")
	}
	j.TTL = 70 * time.Second // would expire before the next resync (a minute and its jitter away)
	h.sync(j)
	if after, _ := h.result("BTCUSDT", "5m"); !after.ComputedAt.After(before.ComputedAt) {
		t.Fatal("a result about to expire was not rewritten")
	}
}

// The timeframes of a symbol whose candles close at the same instant are written in one merge,
// even when the exchange sends them apart; a close whose sibling does not come is written once
// gatherWait has passed.
func TestTimeframesClosingTogetherAreOneWrite(t *testing.T) {
	h := newHarness(t)
	writer := &countingWriter{Pipeline: h.m.Writer.(*refresh.Pipeline)}
	h.m.Writer = writer
	start := h.ex.Now()
	h.sync(job("BTCUSDT"))
	h.eventually("2 streams", func() bool { return h.ex.Stats().Streams == 2 })
	for range 4 {
		h.advance(time.Minute)
	}
	h.closedAt("BTCUSDT", "1m", start.Add(4*time.Minute))

	// At start+5m the 1m and the 5m candle close; the 1m one comes after the 5m one.
	late := start.Add(4 * time.Minute)
	h.ex.Skip("BTCUSDT", "1m", late)
	writer.calls.Store(0)
	closed := h.closedMessages()
	h.advance(time.Minute)
	h.eventually("the 5m close arrived", func() bool { return h.closedMessages() == closed+1 })
	time.Sleep(50 * time.Millisecond) // time enough to be written alone, were it not held
	h.ex.SendRaw(binancetest.KlineMessage("BTCUSDT", "1m", binancetest.Candle("BTCUSDT", "1m", late), true, late.Add(time.Minute)))
	h.closedAt("BTCUSDT", "5m", start.Add(5*time.Minute))
	h.closedAt("BTCUSDT", "1m", start.Add(5*time.Minute))
	if n := writer.calls.Load(); n != 1 {
		t.Fatalf("the two timeframes closing together took %d writes, want 1", n)
	}

	// At start+10m the 1m candle never comes: the 5m one is written after gatherWait.
	for range 4 {
		h.advance(time.Minute)
	}
	h.closedAt("BTCUSDT", "1m", start.Add(9*time.Minute))
	h.ex.Skip("BTCUSDT", "1m", start.Add(9*time.Minute))
	h.advance(time.Minute)
	h.eventually("the 5m close written once gatherWait passed", func() bool {
		h.clock.Step(gatherWait) // the worker may not hold it yet: then the next step is the one
		r, ok := h.result("BTCUSDT", "5m")
		return ok && r.CandleCloseTime.Equal(start.Add(10*time.Minute-time.Millisecond))
	})
}
