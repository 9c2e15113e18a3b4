package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
	"github.com/hama-operator/hama-operator/internal/notify"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// receiver is a webhook receiver that answers with the statuses of script in turn (then 200) and
// records the event ids it accepted.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	script   []int
	header   http.Header
	accepted []string
	attempts int
}

func newReceiver(t testing.TB, script ...int) *receiver {
	r := &receiver{script: script, header: http.Header{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var m notify.Message
		_ = json.NewDecoder(req.Body).Decode(&m)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.attempts++
		code := http.StatusOK
		if len(r.script) > 0 {
			code, r.script = r.script[0], r.script[1:]
		}
		for k, v := range r.header {
			w.Header()[k] = v
		}
		if code < 300 {
			r.accepted = append(r.accepted, m.Alert+"|"+m.ID)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.accepted...)
}

func (r *receiver) tries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// fakeAlerts is the cluster side: a fixed list of alerts, each delivering to one URL.
type fakeAlerts struct {
	mu     sync.Mutex
	alerts []Alert
	urls   map[string]string
}

func (f *fakeAlerts) Active(context.Context) ([]Alert, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Alert(nil), f.alerts...), nil
}

func (f *fakeAlerts) Receiver(_ context.Context, namespace, name string) (Receiver, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	url, ok := f.urls[namespace+"/"+name]
	if !ok {
		return Receiver{}, ErrNoAlert
	}
	return Receiver{Target: notify.Target{Type: notify.Webhook, Address: url}, Timeout: 2 * time.Second}, nil
}

func (f *fakeAlerts) remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.urls, "markets/"+name)
}

// reports keeps the outcomes the dispatcher reports and the notification results it observes.
type reports struct {
	mu       sync.Mutex
	out      []Outcome
	observed []string
}

func (r *reports) ObserveNotification(_, alert, _, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.observed = append(r.observed, alert+":"+result)
}

func (r *reports) ObserveDeliveryLatency(string, time.Duration) {}

// observedAre waits until the observed notification results are want.
func (r *reports) observedAre(t *testing.T, want ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("the results %v are observed", want), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return equal(r.observed, want)
	})
}

func (r *reports) Report(o Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out = append(r.out, o)
}

func (r *reports) results() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := make([]string, 0, len(r.out))
	for _, o := range r.out {
		s = append(s, o.Alert+":"+o.Result)
	}
	return s
}

type harness struct {
	t      *testing.T
	redis  *redis.Client
	clock  *clocktesting.FakeClock
	alerts *fakeAlerts
	rep    *reports
}

func newHarness(t *testing.T) *harness {
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return &harness{t: t, redis: c, clock: clocktesting.NewFakeClock(time.Now()), alerts: &fakeAlerts{urls: map[string]string{}},
		rep: &reports{}}
}

func (h *harness) alert(a Alert, url string) {
	a.Namespace = "markets"
	if a.Provider == "" {
		a.Provider = notify.Webhook
	}
	if a.Events == nil {
		a.Events = []string{"crossUp", "crossDown"}
	}
	h.alerts.mu.Lock()
	defer h.alerts.mu.Unlock()
	h.alerts.alerts = append(h.alerts.alerts, a)
	h.alerts.urls[a.Key()] = url
}

// start runs a dispatcher, as a leader would, until the returned stop is called.
func (h *harness) start(consumer string, tune func(*Dispatcher)) (stop func()) {
	d := &Dispatcher{Store: NewStore(h.redis, consumer), Alerts: h.alerts, Sender: &notify.Sender{}, Reporter: h.rep, Observer: h.rep,
		Clock: h.clock, Log: testr.New(h.t), readBlock: 50 * time.Millisecond}
	if tune != nil {
		tune(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Start(ctx) }()
	return func() { cancel(); <-done }
}

// appendEvent records an event of schedule markets/majors in the signal history through
// internal/signals' Log, the pipeline's writer, and returns its id.
func (h *harness) appendEvent(symbol, tf, kind string, closeAt time.Time) string {
	e := signals.Event{ID: signals.EventID(symbol, tf, signals.Kind(kind), closeAt), Symbol: symbol, Timeframe: tf,
		Kind: signals.Kind(kind), CandleCloseTime: closeAt.UTC(), Price: 101.5, Summary: "bullish", Color: "green",
		Namespace: "markets", Schedule: "majors"}
	signals.NewLog(h.redis, signals.LogOptions{}).Append(context.Background(), e)
	return e.ID
}

// rawAppend adds a stream entry with the contract's fields directly, bypassing the Log's dedup.
func (h *harness) rawAppend(id string, closeAt time.Time) {
	err := h.redis.XAdd(context.Background(), &redis.XAddArgs{Stream: signals.StreamKey, Values: []any{
		"id", id, "symbol", "BTCUSDT", "timeframe", "15m", "kind", "crossUp", "candle_close_time", closeAt.UTC().Format(time.RFC3339),
		"price", "101.5", "summary", "bullish", "color", "green", "namespace", "markets", "schedule", "majors",
	}}).Err()
	if err != nil {
		h.t.Fatal(err)
	}
}

// eventually polls cond in real time: the dispatcher runs in goroutines. Timing logic is driven by
// the fake clock; this only waits for the goroutines to get there.
var eventually = redistest.Eventually

// settled waits until nothing is due, in flight or unread, so that a count checked afterwards is
// final rather than early.
func (h *harness) settled() {
	h.t.Helper()
	eventually(h.t, "every delivery is settled", func() bool {
		n, err := NewStore(h.redis, "probe").Backlog(context.Background())
		return err == nil && n == 0
	})
}

func (h *harness) stats(alert string) Stats {
	st, err := NewStore(h.redis, "probe").Stats(context.Background(), "markets", alert)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestEachEventReachesEachMatchingAlertOnce(t *testing.T) {
	h := newHarness(t)
	r := newReceiver(t)
	h.alert(Alert{Name: "by-schedule", Schedules: []string{"majors"}}, r.URL)
	h.alert(Alert{Name: "by-symbol", Schedules: []string{"other"}, Covered: []string{"ETHUSDT"}}, r.URL)
	h.alert(Alert{Name: "flips-only", Schedules: []string{"majors"}, Events: []string{"colorFlip"}}, r.URL)
	h.alert(Alert{Name: "1h-only", Schedules: []string{"majors"}, Timeframes: []string{"1h"}}, r.URL)
	h.alert(Alert{Name: "btc-only", Schedules: []string{"majors"}, Symbols: []string{"BTCUSDT"}}, r.URL)
	stop := h.start("a", nil)
	defer stop()

	at := time.Date(2026, 1, 1, 0, 15, 0, 0, time.UTC)
	btc := h.appendEvent("BTCUSDT", "15m", "crossUp", at)
	eth := h.appendEvent("ETHUSDT", "15m", "crossDown", at)
	h.settled()

	want := map[string]bool{"by-schedule|" + btc: true, "by-schedule|" + eth: true, "by-symbol|" + eth: true, "btc-only|" + btc: true}
	got := r.got()
	if len(got) != len(want) {
		t.Fatalf("deliveries %v, want %v", got, want)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected delivery %s", g)
		}
	}
	if st := h.stats("by-schedule"); st.Sent != 2 || st.Failed != 0 || st.LastResult != ResultSent || st.LastDelivery.IsZero() {
		t.Errorf("stats %+v", st)
	}
}

func TestRetriesWithBackoffThenDeliversOnce(t *testing.T) {
	h := newHarness(t)
	r := newReceiver(t, http.StatusServiceUnavailable, http.StatusBadGateway)
	h.alert(Alert{Name: "a", Schedules: []string{"majors"}}, r.URL)
	stop := h.start("a", func(d *Dispatcher) { d.InitialBackoff, d.MaxBackoff = 10*time.Second, time.Minute })
	defer stop()
	h.appendEvent("BTCUSDT", "15m", "crossUp", time.Now())

	eventually(t, "the first attempt", func() bool { return r.tries() == 1 })
	eventually(t, "the retry is scheduled", func() bool { return equal(h.rep.results(), []string{"a:retrying"}) })
	h.clock.Step(9 * time.Second)
	h.clock.Step(999 * time.Millisecond)
	if r.tries() != 1 {
		t.Fatalf("retried before the 10s backoff: %d attempts", r.tries())
	}
	h.clock.Step(time.Millisecond)
	eventually(t, "the second attempt", func() bool { return r.tries() == 2 })
	eventually(t, "the second retry is scheduled", func() bool { return len(h.rep.results()) == 2 })
	h.clock.Step(19 * time.Second) // the backoff doubled: 20s
	if r.tries() != 2 {
		t.Fatalf("retried before the doubled backoff: %d attempts", r.tries())
	}
	h.clock.Step(time.Second)
	h.settled()
	if got := r.got(); len(got) != 1 || r.tries() != 3 {
		t.Errorf("accepted %v after %d attempts", got, r.tries())
	}
	if st := h.stats("a"); st.Sent != 1 || st.LastResult != ResultSent {
		t.Errorf("stats %+v", st)
	}
	h.rep.observedAre(t, "a:retried", "a:retried", "a:sent")
}

func TestRetryAfterLongerThanTheBackoffIsHonoured(t *testing.T) {
	h := newHarness(t)
	r := newReceiver(t, http.StatusTooManyRequests)
	r.header.Set("Retry-After", "30")
	h.alert(Alert{Name: "a", Schedules: []string{"majors"}}, r.URL)
	stop := h.start("a", nil)
	defer stop()
	h.appendEvent("BTCUSDT", "15m", "crossUp", time.Now())
	eventually(t, "the retry is scheduled", func() bool { return len(h.rep.results()) == 1 })
	h.clock.Step(29 * time.Second)
	if r.tries() != 1 {
		t.Fatalf("retried %d times before Retry-After", r.tries()-1)
	}
	h.clock.Step(time.Second)
	h.settled()
	if len(r.got()) != 1 {
		t.Errorf("accepted %v", r.got())
	}
}

func TestARefusalIsNotRetried(t *testing.T) {
	h := newHarness(t)
	r := newReceiver(t, http.StatusBadRequest)
	h.alert(Alert{Name: "a", Schedules: []string{"majors"}}, r.URL)
	stop := h.start("a", nil)
	defer stop()
	h.appendEvent("BTCUSDT", "15m", "crossUp", time.Now())
	h.settled()
	h.clock.Step(time.Hour)
	h.settled()
	if r.tries() != 1 || len(r.got()) != 0 {
		t.Errorf("%d attempts, accepted %v", r.tries(), r.got())
	}
	if st := h.stats("a"); st.Failed != 1 || st.LastResult != ResultRejected || st.LastError == "" {
		t.Errorf("stats %+v", st)
	}
	if got := h.rep.results(); !equal(got, []string{"a:rejected"}) {
		t.Errorf("reports %v", got)
	}
	h.rep.observedAre(t, "a:failed")
}

func TestRetriesStopAfterMaxRetryTime(t *testing.T) {
	h := newHarness(t)
	script := make([]int, 100)
	for i := range script {
		script[i] = http.StatusInternalServerError
	}
	r := newReceiver(t, script...)
	h.alert(Alert{Name: "a", Schedules: []string{"majors"}}, r.URL)
	stop := h.start("a", func(d *Dispatcher) {
		d.InitialBackoff, d.MaxBackoff, d.MaxRetryTime = time.Second, 4*time.Second, 10*time.Second
	})
	defer stop()
	h.appendEvent("BTCUSDT", "15m", "crossUp", time.Now())
	// Attempts at 0, 1, 3, 7 s; the next (at 11 s) would be past the 10 s bound.
	for i, backoff := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		eventually(t, "attempt "+strconv.Itoa(i+1), func() bool { return len(h.rep.results()) == i+1 })
		h.clock.Step(backoff)
	}
	h.settled()
	if got := h.rep.results(); !equal(got, []string{"a:retrying", "a:retrying", "a:retrying", "a:unreachable"}) {
		t.Errorf("reports %v", got)
	}
	if r.tries() != 4 {
		t.Errorf("%d attempts", r.tries())
	}
	if st := h.stats("a"); st.Failed != 1 || st.LastResult != ResultUnreachable {
		t.Errorf("stats %+v", st)
	}
	h.rep.observedAre(t, "a:retried", "a:retried", "a:retried", "a:failed")
}

func TestCooldownPerSymbolTimeframeAndKind(t *testing.T) {
	h := newHarness(t)
	r := newReceiver(t)
	h.alert(Alert{Name: "a", Schedules: []string{"majors"}, Cooldown: 10 * time.Minute}, r.URL)
	stop := h.start("a", nil)
	defer stop()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := h.appendEvent("BTCUSDT", "15m", "crossUp", base)
	other := h.appendEvent("BTCUSDT", "1h", "crossUp", base) // another timeframe: its own cooldown
	h.settled()
	h.clock.Step(5 * time.Minute)
	h.appendEvent("BTCUSDT", "15m", "crossUp", base.Add(15*time.Minute)) // inside the cooldown
	h.settled()
	h.clock.Step(5 * time.Minute)
	last := h.appendEvent("BTCUSDT", "15m", "crossUp", base.Add(30*time.Minute)) // 10 min later: passed
	h.settled()
	want := []string{"a|" + first, "a|" + other, "a|" + last}
	if got := r.got(); len(got) != 3 || got[2] != want[2] {
		t.Errorf("deliveries %v, want %v", got, want)
	}
}

func TestRateLimitPerAlert(t *testing.T) {
	h := newHarness(t)
	r := newReceiver(t)
	h.alert(Alert{Name: "a", Schedules: []string{"majors"}}, r.URL)
	stop := h.start("a", func(d *Dispatcher) { d.Rate, d.Burst = rate.Every(time.Minute), 2 })
	defer stop()
	for i := range 3 {
		h.appendEvent("BTCUSDT", "15m", "crossUp", time.Unix(int64(i)*900, 0))
	}
	eventually(t, "the burst is delivered", func() bool { return len(r.got()) == 2 })
	h.clock.Step(59 * time.Second)
	if n := len(r.got()); n != 2 {
		t.Fatalf("%d delivered before the limit allowed a third", n)
	}
	h.clock.Step(time.Second)
	h.settled()
	if n := len(r.got()); n != 3 {
		t.Errorf("%d delivered", n)
	}
}

// A new leader takes over: an entry the old one read but never fanned out, a delivery it was
// attempting when it died, and one waiting for a retry. Each is delivered once.
func TestANewLeaderFinishesWhatTheOldOneLeft(t *testing.T) {
	h := newHarness(t)
	r := newReceiver(t, http.StatusServiceUnavailable)
	h.alert(Alert{Name: "a", Schedules: []string{"majors"}}, r.URL)
	ctx := context.Background()

	// The old leader: delivers the first event after one retry is scheduled, then stops.
	stop := h.start("old", func(d *Dispatcher) { d.InitialBackoff = time.Minute })
	retried := h.appendEvent("BTCUSDT", "15m", "crossUp", time.Unix(0, 0))
	eventually(t, "a retry is scheduled", func() bool { return len(h.rep.results()) == 1 })
	stop()

	// What a process killed at the wrong moment leaves: an entry read and not fanned out, and a
	// delivery taken and not settled.
	dead := NewStore(h.redis, "dead")
	unread := h.appendEvent("ETHUSDT", "15m", "crossUp", time.Unix(0, 0))
	if msgs, err := dead.Read(ctx, 0, 10); err != nil || len(msgs) != 1 {
		t.Fatalf("read %v: %v", msgs, err)
	}
	inFlight := h.appendEvent("SOLUSDT", "15m", "crossUp", time.Unix(0, 0))
	msgs, _ := dead.Read(ctx, 0, 10)
	e, _ := signals.DecodeEntry(msgs[0])
	del := Delivery{ID: "markets/a/" + inFlight, Namespace: "markets", Alert: "a", Provider: "webhook", Event: e, Enqueued: h.clock.Now()}
	if err := dead.FanOut(ctx, msgs[0].ID, e, []Delivery{del}, nil, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if taken, err := dead.Take(ctx, h.clock.Now(), 10); err != nil || len(taken) != 1 {
		t.Fatalf("took %v: %v", taken, err)
	}

	stop = h.start("new", nil)
	defer stop()
	eventually(t, "the unread and in-flight events are delivered", func() bool { return len(r.got()) == 2 })
	h.clock.Step(time.Minute)
	h.settled()
	got := r.got()
	want := map[string]bool{"a|" + retried: true, "a|" + unread: true, "a|" + inFlight: true}
	if len(got) != 3 {
		t.Fatalf("deliveries %v", got)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected %s", g)
		}
	}
}

// The same event id appended twice (which internal/signals prevents) is still delivered once.
func TestADuplicateEventIsNotDeliveredTwice(t *testing.T) {
	h := newHarness(t)
	r := newReceiver(t)
	h.alert(Alert{Name: "a", Schedules: []string{"majors"}}, r.URL)
	stop := h.start("a", nil)
	defer stop()
	at := time.Unix(900, 0)
	id := signals.EventID("BTCUSDT", "15m", signals.CrossUp, at)
	h.rawAppend(id, at)
	h.settled()
	h.rawAppend(id, at)
	h.settled()
	if n := len(r.got()); n != 1 {
		t.Errorf("%d deliveries", n)
	}
}

func TestDeliveriesOfADeletedAlertAreDropped(t *testing.T) {
	h := newHarness(t)
	r := newReceiver(t, http.StatusServiceUnavailable)
	h.alert(Alert{Name: "a", Schedules: []string{"majors"}}, r.URL)
	stop := h.start("a", nil)
	defer stop()
	h.appendEvent("BTCUSDT", "15m", "crossUp", time.Now())
	eventually(t, "a retry is scheduled", func() bool { return len(h.rep.results()) == 1 })
	h.alerts.remove("a")
	h.clock.Step(time.Minute)
	h.settled()
	if r.tries() != 1 {
		t.Errorf("%d attempts", r.tries())
	}
}

func TestOldEventsAreNotDelivered(t *testing.T) {
	h := newHarness(t)
	r := newReceiver(t)
	h.alert(Alert{Name: "a", Schedules: []string{"majors"}}, r.URL)
	h.appendEvent("BTCUSDT", "15m", "crossUp", time.Unix(0, 0))
	h.clock.Step(2 * time.Hour) // the dispatcher starts long after the event was recorded
	stop := h.start("a", nil)
	defer stop()
	h.settled()
	if n := len(r.got()); n != 0 {
		t.Errorf("%d deliveries", n)
	}
}
