// Package dispatch delivers signal events to the SignalAlerts that match them, each event to each
// alert once. It reads the signal history (the Redis Stream internal/signals appends to) through a
// consumer group, records one delivery per matching alert in Redis, and attempts each with
// internal/notify: retried with exponential backoff on timeouts, 408, 429 and 5xx (a Retry-After
// longer than the backoff wins) until MaxRetryTime after the event, never on other refusals; rate
// limited per alert. Delivery state lives in Redis, so a pending delivery survives a restart and a
// new leader neither repeats nor loses one. It runs on the elected leader only, and knows nothing of
// Kubernetes: the controllers package supplies the alerts (Alerts) and takes the outcomes (Reporter).
package dispatch

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"

	"github.com/hama-operator/hama-operator/internal/notify"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// Sender makes one delivery attempt; *notify.Sender is one.
type Sender interface {
	Send(ctx context.Context, t notify.Target, m notify.Message) error
}

// Outcome is what happened to one delivery attempt.
type Outcome struct {
	Namespace, Alert, Provider, EventID string
	// Result is ResultSent, ResultRetrying (Err says why, Next when), ResultRejected or
	// ResultUnreachable (given up).
	Result string
	Err    error
	Next   time.Time
	// Attempt counts the attempts of this delivery, this one included.
	Attempt int
}

// Reporter takes the outcomes, for status and Kubernetes Events.
type Reporter interface {
	Report(Outcome)
}

// Observer records metrics; result is sent, retried, failed or cooldown.
type Observer interface {
	ObserveNotification(namespace, alert, provider, result string)
	ObserveDeliveryLatency(provider string, d time.Duration)
}

// observedResults are the Observer's results of the outcomes of an attempt: a refused and a
// given-up delivery both failed.
var observedResults = map[string]string{
	ResultSent: "sent", ResultRetrying: "retried", ResultRejected: "failed", ResultUnreachable: "failed",
}

// Defaults of the Dispatcher's tunables.
const (
	DefaultInitialBackoff = 2 * time.Second
	DefaultMaxBackoff     = 2 * time.Minute
	DefaultMaxRetryTime   = 30 * time.Minute
	DefaultMaxEventAge    = time.Hour
	DefaultRate           = rate.Limit(1)
	DefaultBurst          = 5
	DefaultConcurrency    = 8
)

// Dispatcher is the delivery worker, a manager Runnable that needs leader election.
type Dispatcher struct {
	Store    *Store
	Alerts   Alerts
	Sender   Sender
	Reporter Reporter
	Observer Observer
	Clock    clock.WithTicker
	Log      logr.Logger
	// Down reports whether Redis is not serving (the cache's Degraded): the worker then waits
	// instead of failing a call a second. Nil means never.
	Down func() bool

	// InitialBackoff doubles after each failed attempt up to MaxBackoff; deliveries not accepted
	// within MaxRetryTime of their fan-out are given up.
	InitialBackoff, MaxBackoff, MaxRetryTime time.Duration
	// MaxEventAge: older events (a first install reading a long history, a leader down for hours)
	// are not delivered.
	MaxEventAge time.Duration
	// Rate and Burst limit the attempts per alert (one receiver each).
	Rate  rate.Limit
	Burst int
	// Concurrency bounds the attempts in flight.
	Concurrency int

	// readBlock is how long a read of the stream waits for new entries (and a stop waits for it).
	readBlock time.Duration

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	wake     chan struct{}
}

// NeedLeaderElection: only the leader delivers.
func (d *Dispatcher) NeedLeaderElection() bool { return true }

func (d *Dispatcher) defaults() {
	if d.Clock == nil {
		d.Clock = clock.RealClock{}
	}
	if d.InitialBackoff <= 0 {
		d.InitialBackoff = DefaultInitialBackoff
	}
	if d.MaxBackoff <= 0 {
		d.MaxBackoff = DefaultMaxBackoff
	}
	if d.MaxRetryTime <= 0 {
		d.MaxRetryTime = DefaultMaxRetryTime
	}
	if d.MaxEventAge <= 0 {
		d.MaxEventAge = DefaultMaxEventAge
	}
	if d.Rate <= 0 {
		d.Rate, d.Burst = DefaultRate, DefaultBurst
	}
	if d.Burst <= 0 {
		d.Burst = 1
	}
	if d.Concurrency <= 0 {
		d.Concurrency = DefaultConcurrency
	}
	if d.readBlock <= 0 {
		d.readBlock = 2 * time.Second
	}
	if d.Observer == nil {
		d.Observer = nopObserver{}
	}
	d.limiters = map[string]*rate.Limiter{}
	d.wake = make(chan struct{}, 1)
}

// Start runs until ctx ends: it takes over what a previous leader left, then fans events out and
// delivers them. Redis errors are logged and retried; they never stop the manager.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.defaults()
	d.untilDone(ctx, "preparing the consumer group", func() error { return d.Store.EnsureGroup(ctx) })
	d.untilDone(ctx, "requeueing deliveries a previous leader was attempting", func() error {
		n, err := d.Store.Requeue(ctx, d.Clock.Now())
		if n > 0 {
			d.Log.Info("requeued deliveries in flight when the previous leader stopped", "deliveries", n)
		}
		return err
	})
	var wg sync.WaitGroup
	wg.Go(func() { d.fanOutLoop(ctx) })
	d.deliverLoop(ctx)
	wg.Wait()
	return nil
}

// untilDone retries f every second until it succeeds or ctx ends.
func (d *Dispatcher) untilDone(ctx context.Context, what string, f func() error) {
	for ctx.Err() == nil {
		err := f()
		if err == nil {
			return
		}
		d.Log.Error(err, what)
		d.pause(ctx)
	}
}

// pause waits a second, or until ctx ends: the pace of retries after a Redis error.
func (d *Dispatcher) pause(ctx context.Context) {
	t := d.Clock.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C():
	}
}

// redisDown waits a second when Redis is down; what it holds waits there until Redis is back.
func (d *Dispatcher) redisDown(ctx context.Context) bool {
	if d.Down == nil || !d.Down() {
		return false
	}
	d.pause(ctx)
	return true
}

func (d *Dispatcher) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// fanOutLoop turns stream entries into delivery records: first the entries a previous leader read
// and did not finish, then new ones as they come.
func (d *Dispatcher) fanOutLoop(ctx context.Context) {
	var claimed bool
	for ctx.Err() == nil {
		if d.redisDown(ctx) {
			continue
		}
		var err error
		if !claimed {
			err = d.fanOut(ctx, d.Store.Claimed)
			claimed = err == nil
		} else {
			err = d.fanOut(ctx, func(ctx context.Context) ([]redis.XMessage, error) { return d.Store.Read(ctx, d.readBlock, 100) })
		}
		if err != nil && ctx.Err() == nil {
			d.Log.Error(err, "reading the signal history")
			d.pause(ctx)
		}
	}
}

func (d *Dispatcher) fanOut(ctx context.Context, read func(context.Context) ([]redis.XMessage, error)) error {
	msgs, err := read(ctx)
	if err != nil || len(msgs) == 0 {
		return err
	}
	// One list of alerts for the batch: listing them reads every alert's Secret and schedules.
	alerts, err := d.Alerts.Active(ctx)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := d.fanOutEntry(ctx, m, alerts); err != nil {
			return err
		}
	}
	d.kick()
	return nil
}

// fanOutEntry records the deliveries of one stream entry to every matching alert whose cooldown
// for the event's symbol, timeframe and kind has passed.
func (d *Dispatcher) fanOutEntry(ctx context.Context, m redis.XMessage, alerts []Alert) error {
	now := d.Clock.Now()
	e, err := signals.DecodeEntry(m)
	if err != nil {
		d.Log.Error(err, "skipping an undecodable signal", "streamID", m.ID)
		return d.Store.Ack(ctx, m.ID)
	}
	if now.Sub(e.RecordedAt) > d.MaxEventAge {
		d.Log.V(1).Info("skipping an old signal", "event", e.ID, "recordedAt", e.RecordedAt)
		return d.Store.Ack(ctx, m.ID)
	}
	var matching []Alert
	var cooled []string
	for _, a := range alerts {
		if a.Matches(e) {
			matching = append(matching, a)
			cooled = append(cooled, a.Key())
		}
	}
	last, err := d.Store.Cooldowns(ctx, e, cooled)
	if err != nil {
		return err
	}
	var deliveries []Delivery
	var cooldowns []Cooldown
	for i, a := range matching {
		if a.Cooldown > 0 && !last[i].IsZero() && now.Sub(last[i]) < a.Cooldown {
			d.Observer.ObserveNotification(a.Namespace, a.Name, a.Provider, "cooldown")
			continue
		}
		if a.Cooldown > 0 {
			cooldowns = append(cooldowns, Cooldown{AlertKey: a.Key(), For: a.Cooldown})
		}
		deliveries = append(deliveries, Delivery{ID: a.Key() + "/" + e.ID, Namespace: a.Namespace, Alert: a.Name,
			Provider: a.Provider, Event: e, Enqueued: now})
	}
	if err := d.Store.FanOut(ctx, m.ID, e, deliveries, cooldowns, now); err != nil {
		return err
	}
	if len(deliveries) > 0 {
		d.Log.V(1).Info("fanned out a signal", "event", e.ID, "deliveries", len(deliveries))
	}
	return nil
}

// deliverLoop attempts deliveries as they come due, at most Concurrency at a time. It looks for due
// deliveries every PollInterval, and at once after a fan-out or a settled attempt.
func (d *Dispatcher) deliverLoop(ctx context.Context) {
	slots := make(chan struct{}, d.Concurrency)
	tick := d.Clock.NewTicker(pollInterval)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		if d.redisDown(ctx) {
			continue
		}
		batch, err := d.Store.Take(ctx, d.Clock.Now(), int64(d.Concurrency))
		if err != nil {
			d.Log.Error(err, "taking due deliveries")
		}
		for _, del := range batch {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return // what was taken stays in flight; the next leader requeues it
			}
			wg.Go(func() {
				defer func() { <-slots; d.kick() }()
				d.attempt(ctx, del)
			})
		}
		if len(batch) == d.Concurrency {
			continue // there may be more due
		}
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-tick.C():
		}
	}
}

// pollInterval is how often due deliveries are looked for: retries are attempted at most this late.
const pollInterval = time.Second

// attempt makes one attempt of del and records its outcome. An attempt under way finishes even if
// the leader is stopping (within its timeout), so that its outcome is recorded, not repeated.
func (d *Dispatcher) attempt(ctx context.Context, del Delivery) {
	ctx = context.WithoutCancel(ctx)
	recv, err := d.Alerts.Receiver(ctx, del.Namespace, del.Alert)
	if errors.Is(err, ErrNoAlert) {
		d.settle(ctx, del, "dropping", func() error { return d.Store.Drop(ctx, del) })
		return
	}
	now := d.Clock.Now()
	if err == nil {
		if wait := d.reserve(del, now); wait > 0 {
			d.settle(ctx, del, "rescheduling", func() error { return d.Store.Retry(ctx, del, now.Add(wait), now, false, "") })
			return
		}
		sendCtx, cancel := context.WithTimeout(ctx, recv.Timeout)
		err = d.Sender.Send(sendCtx, recv.Target, message(del))
		cancel()
		now = d.Clock.Now()
	}
	out := Outcome{Namespace: del.Namespace, Alert: del.Alert, Provider: del.Provider, EventID: del.Event.ID, Err: err,
		Attempt: del.Attempts + 1}
	retry, after := notify.Retryable(err)
	switch {
	case err == nil:
		out.Result = ResultSent
		d.settle(ctx, del, "recording a delivery", func() error { return d.Store.Sent(ctx, del, now) })
		d.Observer.ObserveDeliveryLatency(del.Provider, now.Sub(del.Enqueued))
	case !retry:
		out.Result = ResultRejected
		d.settle(ctx, del, "recording a failure", func() error { return d.Store.Failed(ctx, del, now, ResultRejected, err.Error()) })
	default:
		next := now.Add(max(d.backoff(del.Attempts), after))
		if next.Sub(del.Enqueued) > d.MaxRetryTime {
			out.Result = ResultUnreachable
			d.settle(ctx, del, "recording a failure", func() error {
				return d.Store.Failed(ctx, del, now, ResultUnreachable, "given up after "+d.MaxRetryTime.String()+": "+err.Error())
			})
			break
		}
		out.Result, out.Next = ResultRetrying, next
		d.settle(ctx, del, "scheduling a retry", func() error { return d.Store.Retry(ctx, del, next, now, true, err.Error()) })
	}
	d.Observer.ObserveNotification(del.Namespace, del.Alert, del.Provider, observedResults[out.Result])
	if d.Reporter != nil {
		d.Reporter.Report(out)
	}
}

// settle records an outcome, retrying while Redis is unreachable: a lost record would repeat a
// delivery (or lose one) at the next leader.
func (d *Dispatcher) settle(ctx context.Context, del Delivery, what string, f func() error) {
	for i := 0; ; i++ {
		err := f()
		if err == nil || i == 30 {
			if err != nil {
				d.Log.Error(err, what+" failed; the next leader attempts the delivery again", "delivery", del.ID)
			}
			return
		}
		d.Log.Error(err, what, "delivery", del.ID)
		d.pause(ctx)
	}
}

// backoff is the wait after the n+1-th failed attempt: InitialBackoff doubled n times, at most
// MaxBackoff.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.InitialBackoff
	for range attempts {
		if b >= d.MaxBackoff/2 {
			return d.MaxBackoff
		}
		b *= 2
	}
	return min(b, d.MaxBackoff)
}

// reserve takes a token of the alert's rate limit at now; it returns how long to wait when there
// is none (the token stays unused).
func (d *Dispatcher) reserve(del Delivery, now time.Time) time.Duration {
	key := del.Namespace + "/" + del.Alert
	d.mu.Lock()
	lim, ok := d.limiters[key]
	if !ok {
		lim = rate.NewLimiter(d.Rate, d.Burst)
		d.limiters[key] = lim
	}
	d.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return wait
	}
	return 0
}

// message is what the receiver gets for del.
func message(del Delivery) notify.Message {
	e := del.Event
	return notify.Message{ID: e.ID, Alert: del.Alert, Namespace: del.Namespace, Schedule: e.Schedule, Symbol: e.Symbol,
		Timeframe: e.Timeframe, Event: string(e.Kind), CandleCloseTime: e.CandleCloseTime, Price: e.Price, Summary: e.Summary,
		Color: e.Color}
}

type nopObserver struct{}

func (nopObserver) ObserveNotification(_, _, _, _ string)            {}
func (nopObserver) ObserveDeliveryLatency(_ string, _ time.Duration) {}
