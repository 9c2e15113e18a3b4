package signals

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

func event(symbol, tf string, kind Kind, n int) Event {
	t := t0.Add(time.Duration(n)*15*time.Minute - time.Millisecond) // a close, as the exchange stamps it
	return Event{ID: EventID(symbol, tf, kind, t), Symbol: symbol, Timeframe: tf, Kind: kind, CandleCloseTime: t,
		Price: 100.25 + float64(n), Summary: "bearish", Color: "red", Namespace: "ns", Schedule: "top"}
}

// counts is an Observer.
type counts struct {
	mu      sync.Mutex
	results map[string]int
	waiting int
}

func (c *counts) ObserveSignalEvent(_ Kind, result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.results == nil {
		c.results = map[string]int{}
	}
	c.results[result]++
}

func (c *counts) SetSignalEventsWaiting(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiting = n
}

func (c *counts) get(result string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.results[result]
}

func client(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 200 * time.Millisecond, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func streamIDs(t *testing.T, c *redis.Client) []string {
	t.Helper()
	entries, err := c.XRange(context.Background(), StreamKey, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(entries))
	for i, m := range entries {
		ids[i], _ = m.Values["id"].(string)
	}
	return ids
}

// Two logs (two replicas, or one before and after a restart) appending the same events, at the
// same time and again later, leave one entry per event.
func TestAppendOncePerID(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	var obs counts
	a, b := NewLog(client(t, srv.Addr()), LogOptions{Observer: &obs}), NewLog(client(t, srv.Addr()), LogOptions{Observer: &obs})
	events := make([]Event, 0, 50)
	for i := range 50 {
		events = append(events, event(fmt.Sprintf("S%02dUSDT", i%10), "15m", Kinds[i%len(Kinds)], i))
	}
	var wg sync.WaitGroup
	for _, l := range []*Log{a, b, a, b} {
		wg.Go(func() { l.Append(ctx, append([]Event(nil), events...)...) })
	}
	wg.Wait()
	ids := streamIDs(t, client(t, srv.Addr()))
	if len(ids) != len(events) {
		t.Fatalf("%d stream entries for %d events", len(ids), len(events))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("event %s appended twice", id)
		}
		seen[id] = true
	}
	raw := client(t, srv.Addr())
	ttl := raw.PTTL(ctx, DedupKey(events[0].ID)).Val()
	if ttl <= 0 || ttl > DefaultDedupTTL {
		t.Fatalf("dedup key TTL %s, want up to %s", ttl, DefaultDedupTTL)
	}
	if w, _ := a.Waiting(); w != 0 {
		t.Fatalf("%d events still waiting in memory with Redis up", w)
	}
	if obs.get(ResultAppended) != 50 || obs.get(ResultDuplicate) != 150 {
		t.Fatalf("observed %v, want 50 appended and 150 duplicates", obs.results)
	}
}

// Every field of the contract is in the entry, and DecodeEntry reads them back.
func TestEntryFieldsAndDecode(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	raw := client(t, srv.Addr())
	l := NewLog(raw, LogOptions{})
	e := event("BTCUSDT", "1h", CrossUp, 3)
	l.Append(ctx, e)
	entries, err := raw.XRange(ctx, StreamKey, "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("entries %v, %v", entries, err)
	}
	want := map[string]any{"id": e.ID, "symbol": "BTCUSDT", "timeframe": "1h", "kind": "crossUp",
		"candle_close_time": e.CandleCloseTime.Format(time.RFC3339Nano), "price": "103.25", "summary": "bearish",
		"color": "red", "namespace": "ns", "schedule": "top"}
	if fmt.Sprint(entries[0].Values) != fmt.Sprint(want) {
		t.Fatalf("entry fields\n got %v\nwant %v", entries[0].Values, want)
	}
	got, err := DecodeEntry(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := strconv.ParseInt(entries[0].ID[:13], 10, 64)
	e.StreamID, e.RecordedAt = entries[0].ID, time.UnixMilli(ms).UTC()
	if got != e {
		t.Fatalf("decoded\n %+v\nwant %+v", got, e)
	}
	if _, err := DecodeEntry(redis.XMessage{ID: "1-0", Values: map[string]any{"id": "x", "price": "1"}}); err == nil {
		t.Fatal("an entry without candle_close_time decoded")
	}
}

func TestMaxLenTrimsApproximately(t *testing.T) {
	srv := redistest.Start(t)
	raw := client(t, srv.Addr())
	l := NewLog(raw, LogOptions{MaxLen: 100})
	for i := range 1000 {
		l.Append(context.Background(), event("BTCUSDT", "1m", CrossUp, i))
	}
	// MAXLEN ~ trims whole macro nodes (100 entries each by default): about 100, never 1000.
	if n := raw.XLen(context.Background(), StreamKey).Val(); n < 100 || n > 300 {
		t.Fatalf("stream length %d after 1000 appends with MaxLen 100", n)
	}
}

// While Redis is down, events wait in memory (bounded) and List serves them; when it is back they
// are copied to the stream, still once each: one that another replica appended meanwhile is not
// appended again.
func TestMemoryFallbackAndCopyBack(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	var down atomic.Bool
	clk := clocktesting.NewFakePassiveClock(t0)
	var obs counts
	l := NewLog(client(t, srv.Addr()), LogOptions{MemoryMax: 3, Down: down.Load, Clock: clk, Observer: &obs})
	other := NewLog(client(t, srv.Addr()), LogOptions{})

	l.Append(ctx, event("A", "15m", CrossUp, 1))
	srv.Kill()
	// Redis died before the cache noticed: the failed append keeps the events in memory.
	l.Append(ctx, event("A", "15m", CrossDown, 2))
	down.Store(true)
	for i := 3; i <= 5; i++ {
		clk.SetTime(t0.Add(time.Duration(i) * time.Second))
		l.Append(ctx, event("A", "15m", ColorFlip, i))
	}
	if w, dropped := l.Waiting(); w != 3 || dropped != 1 || obs.get(ResultDropped) != 1 || obs.waiting != 3 {
		t.Fatalf("waiting %d, dropped %d (observed %v, %d waiting); want the bound of 3 kept and the oldest dropped",
			w, dropped, obs.results, obs.waiting)
	}
	got, err := l.List(ctx, Query{})
	if err != nil || len(got) != 3 || got[0].ID != event("A", "15m", ColorFlip, 5).ID || got[0].StreamID != "" {
		t.Fatalf("List while down: %+v, %v; want the three waiting events, newest first", got, err)
	}
	got, _ = l.List(ctx, Query{Since: t0.Add(4 * time.Second)})
	if len(got) != 2 {
		t.Fatalf("List since the fourth second: %d events, want 2", len(got))
	}

	srv.Restart()
	other.Append(ctx, event("A", "15m", ColorFlip, 4)) // found by another replica too
	down.Store(false)
	l.Flush(ctx)
	if w, _ := l.Waiting(); w != 0 || obs.waiting != 0 || obs.get(ResultAppended) != 3 || obs.get(ResultDuplicate) != 1 {
		t.Fatalf("%d events still waiting after the flush (observed %v, %d waiting); want 1+2 appended, 1 duplicate",
			w, obs.results, obs.waiting)
	}
	ids := streamIDs(t, client(t, srv.Addr()))
	want := []string{event("A", "15m", ColorFlip, 4).ID, event("A", "15m", ColorFlip, 3).ID, event("A", "15m", ColorFlip, 5).ID}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("stream after recovery %v, want %v", ids, want)
	}
	got, err = l.List(ctx, Query{})
	if err != nil || len(got) != 3 || got[0].StreamID == "" {
		t.Fatalf("List after recovery: %+v, %v", got, err)
	}
}

func TestListFilters(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	raw := client(t, srv.Addr())
	l := NewLog(raw, LogOptions{})
	// More than one XREVRANGE batch.
	for i := range 1200 {
		l.Append(ctx, event([]string{"BTCUSDT", "ETHUSDT"}[i%2], []string{"15m", "1h", "4h"}[i%3], Kinds[i%len(Kinds)], i))
	}
	all, err := l.List(ctx, Query{Limit: 1000})
	if err != nil || len(all) != 1000 {
		t.Fatalf("%d events, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].StreamID >= all[i-1].StreamID && len(all[i].StreamID) == len(all[i-1].StreamID) {
			t.Fatalf("not newest first at %d: %s after %s", i, all[i].StreamID, all[i-1].StreamID)
		}
	}
	if all[0].ID != event("ETHUSDT", "4h", Kinds[1199%len(Kinds)], 1199).ID {
		t.Fatalf("newest is %s", all[0].ID)
	}
	got, err := l.List(ctx, Query{Symbol: "BTCUSDT", Timeframe: "1h", Kind: ColorFlip, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// i even, i%3 == 1, i%5 == 2: i ≡ 22 (mod 30), 40 of 1200.
	if len(got) != 40 {
		t.Fatalf("%d events match, want 40", len(got))
	}
	for _, e := range got {
		if e.Symbol != "BTCUSDT" || e.Timeframe != "1h" || e.Kind != ColorFlip {
			t.Fatalf("filter let %+v through", e)
		}
	}
	if got, _ := l.List(ctx, Query{Kind: SqueezeEnd, Limit: 7}); len(got) != 7 {
		t.Fatalf("limit 7 gave %d", len(got))
	}
	if got, _ := l.List(ctx, Query{Since: time.Now().Add(time.Hour)}); len(got) != 0 {
		t.Fatalf("since an hour ahead gave %d", len(got))
	}
	if got, _ := l.List(ctx, Query{Since: all[9].RecordedAt}); len(got) < 10 {
		t.Fatalf("since the tenth newest's time gave %d", len(got))
	}
}

// Without Redis the history lives in memory, bounded.
func TestMemoryOnly(t *testing.T) {
	l := NewLog(nil, LogOptions{MemoryMax: 2})
	ctx := context.Background()
	l.Append(ctx, event("A", "15m", CrossUp, 1), event("A", "15m", CrossUp, 1), event("A", "15m", CrossDown, 2))
	l.Flush(ctx)
	got, err := l.List(ctx, Query{})
	if err != nil || len(got) != 2 || got[0].Kind != CrossDown {
		t.Fatalf("memory-only List: %+v, %v", got, err)
	}
}

// On Redis Cluster the script's two keys share a hash slot, so the check and the append stay one
// atomic step (a CROSSSLOT error would keep every event waiting in memory).
func TestAppendOnceOnCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3, 0)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs()})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	var obs counts
	a, b := NewLog(c, LogOptions{Observer: &obs}), NewLog(c, LogOptions{Observer: &obs})
	events := []Event{event("BTCUSDT", "15m", CrossUp, 1), event("ETHUSDT", "1h", SqueezeEnd, 2)}
	a.Append(ctx, events...)
	b.Append(ctx, events...)
	if w, _ := a.Waiting(); w != 0 || obs.get(ResultAppended) != 2 || obs.get(ResultDuplicate) != 2 {
		t.Fatalf("waiting %d, observed %v: want both appended once, then found twice", w, obs.results)
	}
	got, err := b.List(ctx, Query{})
	if err != nil || len(got) != 2 || got[0].ID != events[1].ID {
		t.Fatalf("List on the cluster: %+v, %v", got, err)
	}
}

// readingObserver reads its log from inside ObserveSignalEvent, which an append calls with the
// results of its round trip to Redis.
type readingObserver struct {
	counts
	log   *Log
	reads atomic.Int32
}

func (o *readingObserver) ObserveSignalEvent(kind Kind, result string) {
	o.log.Waiting() // takes the log's lock: a deadlock if the append still held it
	o.reads.Add(1)
	o.counts.ObserveSignalEvent(kind, result)
}

// While nothing waits in memory, an append talks to Redis without holding the log, so that the
// writers of different symbols do not queue behind each other's round trips.
func TestAppendDoesNotHoldTheLogDuringItsRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	obs := &readingObserver{}
	l := NewLog(client(t, srv.Addr()), LogOptions{Observer: obs})
	obs.log = l
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Append(context.Background(), event("A", "15m", CrossUp, 1), event("B", "1h", CrossDown, 2))
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the append still held the log's lock while it reported its round trip's results")
	}
	if obs.reads.Load() != 2 || obs.get(ResultAppended) != 2 {
		t.Fatalf("observed %v", obs.results)
	}
}
