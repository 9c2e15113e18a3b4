package dispatch

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
	"github.com/hama-operator/hama-operator/internal/notify"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// BenchmarkDeliver measures the whole path of one event to one alert on the real clock: append to
// the history, read through the consumer group, fan out, attempt against a local webhook receiver,
// record the outcome. The rate limit is lifted; b.N events, reported per event.
func BenchmarkDeliver(b *testing.B) {
	srv := redistest.Start(b)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { _ = c.Close() })
	r := newReceiver(b)
	alerts := &fakeAlerts{urls: map[string]string{"markets/a": r.URL}, alerts: []Alert{{Namespace: "markets", Name: "a",
		Provider: notify.Webhook, Events: []string{"crossUp"}, Schedules: []string{"majors"}}}}
	d := &Dispatcher{Store: NewStore(c, "bench"), Alerts: alerts, Sender: &notify.Sender{}, Clock: clock.RealClock{},
		Log: logr.Discard(), Rate: rate.Inf, Burst: 1}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Start(ctx) }()
	defer func() { cancel(); <-done }()

	log := signals.NewLog(c, signals.LogOptions{})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for i := range b.N {
		at := base.Add(time.Duration(i) * time.Minute)
		log.Append(ctx, signals.Event{ID: signals.EventID("BTCUSDT", "1m", signals.CrossUp, at), Symbol: "BTCUSDT", Timeframe: "1m",
			Kind: signals.CrossUp, CandleCloseTime: at, Price: 1, Namespace: "markets", Schedule: "majors"})
	}
	for len(r.got()) < b.N {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	if n := len(r.got()); n != b.N {
		b.Fatalf("%d delivered, want %d", n, b.N)
	}
}
