package klinestream

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hama-operator/hama-operator/internal/market/binance/binancetest"
)

// counts is an Observer that remembers everything.
type counts struct {
	mu          sync.Mutex
	kinds       map[string]int
	connections int
	reconnects  int
}

func (c *counts) ObserveStreamMessage(kind string) { c.mu.Lock(); c.kinds[kind]++; c.mu.Unlock() }
func (c *counts) ObserveStreamConnection(d int)    { c.mu.Lock(); c.connections += d; c.mu.Unlock() }
func (c *counts) ObserveStreamReconnect()          { c.mu.Lock(); c.reconnects++; c.mu.Unlock() }
func (c *counts) kind(k string) int                { c.mu.Lock(); defer c.mu.Unlock(); return c.kinds[k] }

type harness struct {
	t      *testing.T
	ex     *binancetest.Exchange
	clock  *clocktesting.FakeClock
	obs    *counts
	client *Client
	klines chan Kline
	resume chan []Stream
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	ex := binancetest.New(time.Time{})
	t.Cleanup(ex.Close)
	h := &harness{t: t, ex: ex, clock: clocktesting.NewFakeClock(time.Now()), obs: &counts{kinds: map[string]int{}},
		klines: make(chan Kline, 1000), resume: make(chan []Stream, 10)}
	cfg := Config{URL: ex.StreamURL, MessagesPerSecond: math.Inf(1), // paced only where a test says so: the pacing waits on the fake clock
		Clock: h.clock, Observer: h.obs, Log: testr.New(t),
		OnClose: func(k Kline) { h.klines <- k }, OnResume: func(s []Stream) { h.resume <- s }}
	if mutate != nil {
		mutate(&cfg)
	}
	h.client = New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.client.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// eventually polls cond for up to 5 seconds of real time: the exchange and the client talk over
// real sockets, while every timer of the client runs on the fake clock.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting: %s (exchange %+v, client %+v)", what, h.ex.Stats(), h.client.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stepUntil moves the fake clock by step until cond holds, and returns how far it moved: the client
// registers its timers on its own goroutines, so a single step could come before them.
func (h *harness) stepUntil(what string, step time.Duration, cond func() bool) time.Duration {
	h.t.Helper()
	var moved time.Duration
	h.eventually(what, func() bool {
		if cond() {
			return true
		}
		h.clock.Step(step)
		moved += step
		return false
	})
	return moved
}

// subscribed waits until the exchange carries n streams on conns connections.
func (h *harness) subscribed(n, conns int) {
	h.t.Helper()
	h.eventually(fmt.Sprintf("%d streams on %d connections", n, conns), func() bool {
		s := h.ex.Stats()
		return s.Streams == n && s.Connections == conns && h.client.Stats().Connections == conns
	})
}

func (h *harness) next() Kline {
	h.t.Helper()
	select {
	case k := <-h.klines:
		return k
	case <-time.After(5 * time.Second):
		h.t.Fatal("no closed kline arrived")
		return Kline{}
	}
}

func (h *harness) none() {
	h.t.Helper()
	select {
	case k := <-h.klines:
		h.t.Fatalf("unexpected kline %+v", k)
	case <-time.After(50 * time.Millisecond):
	}
}

func streams(symbols ...string) []Stream {
	out := make([]Stream, len(symbols))
	for i, s := range symbols {
		out[i] = Stream{Symbol: s, Interval: "1m"}
	}
	return out
}

func TestClosedKlinesOverSeveralConnections(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxStreamsPerConn = 2; c.StreamsPerMessage = 1 })
	h.client.Set(streams("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT", "EEEUSDT"))
	h.subscribed(5, 3)
	if got := h.client.Connections(); got != 3 {
		t.Fatalf("%d connections for 5 streams at 2 per connection, want 3", got)
	}
	start := h.ex.Now()
	h.ex.Advance(time.Minute)
	seen := map[string]Kline{}
	for range 5 {
		k := h.next()
		seen[k.Symbol] = k
	}
	k := seen["CCCUSDT"]
	want := binancetest.Candle("CCCUSDT", "1m", start)
	if k.Interval != "1m" || k.Candle != want || !k.EventTime.Equal(start.Add(time.Minute)) || k.Received.IsZero() {
		t.Fatalf("kline %+v, want the candle %+v closing at %s", k, want, start.Add(time.Minute))
	}
	if st := h.client.Stats(); st.Streams != 5 || st.Connections != 3 || st.LastMessage.IsZero() || st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOpenUpdatesGarbageAndUnknownMessagesAreCountedAndSkipped(t *testing.T) {
	h := newHarness(t, nil)
	h.client.Set(streams("AAAUSDT"))
	h.subscribed(1, 1)
	open := h.ex.Now()
	c := binancetest.Candle("AAAUSDT", "1m", open)
	for _, raw := range []string{
		string(binancetest.KlineMessage("AAAUSDT", "1m", c, false, open)), // open candle
		`not json at all`,
		`{"stream":"aaausdt@kline_1m","data":{"e":"kline","k":{"t":1,"s":"AAAUSDT","i":"1m","x":true}}}`,                                                         // no close time
		`{"stream":"aaausdt@kline_1m","data":{"e":"kline","E":1,"k":{"t":1,"T":60000,"s":"AAAUSDT","i":"1m","o":"x","c":"1","h":"1","l":"1","v":"1","x":true}}}`, // bad price
		string(binancetest.KlineMessage("ZZZUSDT", "1m", c, true, open)),                                                                                         // a stream not asked for
		`{"stream":"aaausdt@trade","data":{"e":"trade"}}`,                                                                                                        // another event
		`{"code":2,"msg":"Invalid request"}`,                                                                                                                     // an error answer
	} {
		h.ex.SendRaw([]byte(raw))
	}
	h.ex.SendSlow(binancetest.KlineMessage("AAAUSDT", "1m", c, true, open.Add(time.Minute)), 100*time.Millisecond)
	if k := h.next(); k.Symbol != "AAAUSDT" || k.Candle != c {
		t.Fatalf("after garbage, the slow frame gave %+v", k)
	}
	h.none()
	h.eventually("every message counted", func() bool {
		return h.obs.kind(KindOpen) == 1 && h.obs.kind(KindMalformed) == 3 && h.obs.kind(KindUnknown) == 3 && h.obs.kind(KindClosed) == 1
	})
	if h.ex.Stats().Dials != 1 {
		t.Fatalf("garbage cost a connection: %+v", h.ex.Stats())
	}
}

func TestSetSubscribesAndUnsubscribesWithoutDroppingTheOthers(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxStreamsPerConn = 3 })
	h.client.Set(streams("AAAUSDT", "BBBUSDT"))
	h.subscribed(2, 1)
	h.client.Set(streams("BBBUSDT", "CCCUSDT", "DDDUSDT", "EEEUSDT"))
	h.subscribed(4, 2)
	if d := h.ex.Stats().Dials; d != 2 {
		t.Fatalf("%d dials: changing the set must not reconnect the first connection", d)
	}
	h.ex.Advance(time.Minute)
	got := map[string]bool{}
	for range 4 {
		got[h.next().Symbol] = true
	}
	h.none()
	if got["AAAUSDT"] || len(got) != 4 {
		t.Fatalf("closes for %v after the change", got)
	}
	h.client.Set(nil)
	h.subscribed(0, 0)
}

func TestADroppedConnectionComesBackAfterABackoffAndResumes(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BackoffBase = time.Second; c.BackoffMax = 4 * time.Second })
	h.client.Set(streams("AAAUSDT", "BBBUSDT"))
	h.subscribed(2, 1)
	h.ex.DropConnections()
	h.eventually("the client notices the drop", func() bool { return h.client.Stats().Reconnects == 1 })
	time.Sleep(50 * time.Millisecond)
	if h.ex.Stats().Dials != 1 {
		t.Fatal("reconnected before the backoff")
	}
	moved := h.stepUntil("the reconnect", 100*time.Millisecond, func() bool { return h.ex.Stats().Streams == 2 })
	if moved < 500*time.Millisecond {
		t.Fatalf("reconnected %s after the drop, want the first backoff (0.5s to 1s)", moved)
	}
	h.subscribed(2, 1)
	select {
	case s := <-h.resume:
		if len(s) != 2 {
			t.Fatalf("resumed %v, want both streams", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnResume was not called after the reconnect")
	}
	if st := h.client.Stats(); st.Reconnects != 1 || h.obs.reconnects != 1 {
		t.Fatalf("reconnects %d / %d, want 1", st.Reconnects, h.obs.reconnects)
	}
	h.ex.Advance(time.Minute)
	h.next()
	h.next()
}

func TestBackoffGrowsWithJitterUpToTheCeiling(t *testing.T) {
	c := New(Config{BackoffBase: time.Second, BackoffMax: 8 * time.Second})
	for n, ceiling := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 30: 8 * time.Second} {
		for range 50 {
			if d := c.backoff(n); d < ceiling/2 || d > ceiling {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", n, d, ceiling/2, ceiling)
			}
		}
	}
}

func TestASilentConnectionIsDroppedAfterTheIdleTimeout(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.PingInterval, c.IdleTimeout, c.BackoffBase, c.BackoffMax = 10*time.Second, 25*time.Second, time.Second, time.Second
	})
	h.client.Set(streams("AAAUSDT"))
	h.subscribed(1, 1)
	// The client's pings are answered, but their pongs are stamped with the fake clock's present:
	// stepping past the idle timeout between two ticks makes the connection look silent.
	h.clock.Step(30 * time.Second)
	h.eventually("the idle connection is dropped", func() bool { return h.client.Stats().Reconnects == 1 })
	h.stepUntil("the reconnect", 100*time.Millisecond, func() bool { return h.ex.Stats().Dials == 2 })
	h.subscribed(1, 1)
	if d := h.ex.Stats().Dials; d != 2 {
		t.Fatalf("%d dials, want a second one after the idle drop", d)
	}
}

func TestAConnectionIsRenewedBeforeTheExchangesDailyCut(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxConnAge = 23 * time.Hour; c.PingInterval = 48 * time.Hour })
	h.client.Set(streams("AAAUSDT"))
	h.subscribed(1, 1)
	h.clock.Step(23 * time.Hour)
	h.eventually("a second dial", func() bool { return h.ex.Stats().Dials == 2 })
	h.subscribed(1, 1)
	if st := h.client.Stats(); st.Reconnects != 0 {
		t.Fatalf("a renewal counted as %d reconnects", st.Reconnects)
	}
	h.ex.Advance(time.Minute)
	h.next()
}

func TestSubscriptionsArePacedPerConnection(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MessagesPerSecond = 2; c.StreamsPerMessage = 1 })
	h.client.Set(streams("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT"))
	// One stream in the URL, then one SUBSCRIBE at once (the burst), the others half a second apart.
	h.eventually("the first subscription", func() bool { return h.ex.Stats().ControlMessages == 1 })
	time.Sleep(50 * time.Millisecond)
	if n := h.ex.Stats().ControlMessages; n != 1 {
		t.Fatalf("%d control messages before the clock moved, want 1", n)
	}
	moved := h.stepUntil("the other subscriptions", 50*time.Millisecond, func() bool { return h.ex.Stats().ControlMessages == 3 })
	if moved < time.Second {
		t.Fatalf("3 subscriptions within %s at 2 per second", moved)
	}
	h.subscribed(4, 1)
}
