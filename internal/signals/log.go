package signals

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
)

// Defaults of LogOptions.
const (
	DefaultMaxLen        = 10000
	DefaultDedupTTL      = 7 * 24 * time.Hour
	DefaultMemoryMax     = 10000
	DefaultFlushInterval = 2 * time.Second
	// listBatch is how many entries one XREVRANGE of List reads.
	listBatch = 500
)

// LogOptions configure a Log; zero values take the defaults.
type LogOptions struct {
	// MaxLen trims the stream to about this many entries (XADD MAXLEN ~).
	MaxLen int64
	// DedupTTL is how long an appended ID is remembered; an event found again later is appended again.
	DedupTTL time.Duration
	// MemoryMax bounds the events waiting in memory while Redis is down; the oldest go first.
	MemoryMax int
	// FlushInterval is how often Start copies waiting events to Redis.
	FlushInterval time.Duration
	// Down reports whether Redis is not serving (the cache's Degraded): the Log then does not try it.
	Down func() bool
	// Observer receives counts for metrics; nil: none.
	Observer Observer
	Clock    clock.PassiveClock
	Log      logr.Logger
}

// Observer receives the Log's outcomes; metrics.Recorder implements it.
type Observer interface {
	// ObserveSignalEvent counts an event by kind and result: "appended" to the stream, "duplicate"
	// (its ID was appended before), or "dropped" from a full memory fallback.
	ObserveSignalEvent(kind Kind, result string)
	// SetSignalEventsWaiting reports how many events wait in memory for Redis.
	SetSignalEventsWaiting(n int)
}

// Results of ObserveSignalEvent.
const (
	ResultAppended  = "appended"
	ResultDuplicate = "duplicate"
	ResultDropped   = "dropped"
)

type nopObserver struct{}

func (nopObserver) ObserveSignalEvent(Kind, string) {}
func (nopObserver) SetSignalEventsWaiting(int)      {}

// Log is the history of events: the stream StreamKey, and the events waiting in memory for it
// while Redis is down (only those: memory serves List while Redis cannot).
type Log struct {
	client redis.UniversalClient // nil: memory only
	opts   LogOptions

	mu      sync.Mutex
	pending []Event         // oldest first, at most opts.MemoryMax
	ids     map[string]bool // the IDs in pending
	dropped uint64
}

// NewLog returns the Log on client; a nil client keeps the history in memory only.
func NewLog(client redis.UniversalClient, o LogOptions) *Log {
	o.MaxLen = cmp.Or(o.MaxLen, DefaultMaxLen)
	o.DedupTTL = cmp.Or(o.DedupTTL, DefaultDedupTTL)
	o.MemoryMax = cmp.Or(o.MemoryMax, DefaultMemoryMax)
	o.FlushInterval = cmp.Or(o.FlushInterval, DefaultFlushInterval)
	if o.Down == nil {
		o.Down = func() bool { return false }
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	return &Log{client: client, opts: o, ids: map[string]bool{}}
}

// appendScript appends an event unless its ID was appended before, and returns {1, entry id} or
// {0, the earlier entry id}. KEYS: the stream, the dedup key; ARGV: dedup TTL in ms, MAXLEN, then
// the entry's field-value pairs.
var appendScript = redis.NewScript(`
local seen = redis.call('GET', KEYS[2])
if seen then return {0, seen} end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
return {1, id}`)

// Append records events, each once. While Redis is down (or when it fails) they wait in memory
// and are copied to the stream when it serves again, still once per ID. It never fails: a history
// that cannot be written must not stop the analysis writes. While nothing waits, the events go to
// Redis without the lock, so that the writers of different symbols do not queue behind each
// other's round trip; once something waits, new events queue behind it, in order.
func (l *Log) Append(ctx context.Context, events ...Event) {
	if len(events) == 0 {
		return
	}
	now := l.opts.Clock.Now().UTC()
	for i := range events {
		events[i].StreamID, events[i].RecordedAt = "", now
	}
	l.mu.Lock()
	if len(l.pending) > 0 || l.client == nil || l.opts.Down() {
		defer l.mu.Unlock()
		l.keepLocked(events)
		l.flushLocked(ctx)
		l.opts.Observer.SetSignalEventsWaiting(len(l.pending))
		return
	}
	l.mu.Unlock()
	failed, err := l.send(ctx, events)
	if len(failed) == 0 {
		return
	}
	l.logFailure(ctx, err, len(failed))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keepLocked(failed)
	l.opts.Observer.SetSignalEventsWaiting(len(l.pending))
}

// keepLocked adds events to the memory fallback, once per ID, dropping the oldest beyond the bound.
func (l *Log) keepLocked(events []Event) {
	for _, e := range events {
		if l.ids[e.ID] {
			continue
		}
		l.ids[e.ID] = true
		l.pending = append(l.pending, e)
	}
	if over := len(l.pending) - l.opts.MemoryMax; over > 0 {
		for _, e := range l.pending[:over] {
			delete(l.ids, e.ID)
			l.opts.Observer.ObserveSignalEvent(e.Kind, ResultDropped)
		}
		l.pending = slices.Delete(l.pending, 0, over)
		l.dropped += uint64(over)
		l.opts.Log.Info("the signal history's memory fallback is full; dropped the oldest events", "dropped", over)
	}
}

// Flush copies the events waiting in memory to Redis if it serves; Start calls it periodically.
func (l *Log) Flush(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked(ctx)
	l.opts.Observer.SetSignalEventsWaiting(len(l.pending))
}

func (l *Log) flushLocked(ctx context.Context) {
	if l.client == nil || len(l.pending) == 0 || l.opts.Down() {
		return
	}
	failed, err := l.send(ctx, l.pending)
	for _, e := range l.pending {
		delete(l.ids, e.ID)
	}
	clear(l.pending)
	l.pending = l.pending[:0]
	l.keepLocked(failed)
	if len(failed) > 0 {
		l.logFailure(ctx, err, len(l.pending))
	}
}

// send appends events to the stream in one round trip and returns the ones that failed. Each Eval
// sends the script itself: a pipeline cannot retry an EVALSHA that misses.
func (l *Log) send(ctx context.Context, events []Event) ([]Event, error) {
	cmds := make([]*redis.Cmd, len(events))
	_, err := l.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range events {
			args := append([]any{l.opts.DedupTTL.Milliseconds(), l.opts.MaxLen}, e.values()...)
			cmds[i] = appendScript.Eval(ctx, p, []string{StreamKey, DedupKey(e.ID)}, args...)
		}
		return nil
	})
	var failed []Event
	for i, e := range events {
		if cmds[i] == nil || cmds[i].Err() != nil {
			failed = append(failed, e)
			continue
		}
		result := ResultDuplicate
		if reply, _ := cmds[i].Slice(); len(reply) == 2 && reply[0] == int64(1) {
			result = ResultAppended
		}
		l.opts.Observer.ObserveSignalEvent(e.Kind, result)
	}
	return failed, err
}

func (l *Log) logFailure(ctx context.Context, err error, waiting int) {
	if err != nil && ctx.Err() == nil {
		l.opts.Log.Error(err, "appending signal events to redis failed; they wait in memory", "waiting", waiting)
	}
}

// Start copies waiting events to Redis every FlushInterval until ctx ends; it is a
// controller-runtime Runnable on every replica, as any replica may hold events from an outage.
func (l *Log) Start(ctx context.Context) error {
	if l.client != nil {
		wait.UntilWithContext(ctx, l.Flush, l.opts.FlushInterval)
	}
	<-ctx.Done()
	return nil
}

// NeedLeaderElection is false: see Start.
func (l *Log) NeedLeaderElection() bool { return false }

// Waiting counts the events in memory that the stream does not hold yet, and those dropped
// because memory was full.
func (l *Log) Waiting() (waiting int, dropped uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending), l.dropped
}

// Query selects events; zero fields select everything. Limit defaults to 100.
type Query struct {
	Symbol    string
	Timeframe string
	Kind      Kind
	// Since keeps the events recorded at or after it.
	Since time.Time
	Limit int
}

func (q Query) match(e Event) bool {
	return (q.Symbol == "" || e.Symbol == q.Symbol) && (q.Timeframe == "" || e.Timeframe == q.Timeframe) &&
		(q.Kind == "" || e.Kind == q.Kind) && !e.RecordedAt.Before(q.Since)
}

// List returns the events q selects, newest first: the stream's while Redis serves, with the
// events still waiting in memory, which are the newest.
func (l *Log) List(ctx context.Context, q Query) ([]Event, error) {
	q.Limit = cmp.Or(q.Limit, 100)
	var out []Event
	waiting := map[string]bool{}
	l.mu.Lock()
	for i := len(l.pending) - 1; i >= 0 && len(out) < q.Limit; i-- {
		if q.match(l.pending[i]) {
			out = append(out, l.pending[i])
			waiting[l.pending[i].ID] = true
		}
	}
	l.mu.Unlock()
	if l.client == nil || l.opts.Down() {
		return out, nil
	}
	fromRedis, err := l.listRedis(ctx, q, q.Limit-len(out), waiting)
	if err != nil {
		return nil, err
	}
	return append(out, fromRedis...), nil
}

// listRedis walks the stream from its newest entry back to Since, in batches, skipping the IDs
// listed from memory (another replica may have appended one of them before this one's copy).
func (l *Log) listRedis(ctx context.Context, q Query, limit int, skip map[string]bool) ([]Event, error) {
	var out []Event
	start, stop := "+", "-"
	if !q.Since.IsZero() {
		stop = fmt.Sprint(q.Since.UnixMilli())
	}
	for len(out) < limit {
		batch, err := l.client.XRevRangeN(ctx, StreamKey, start, stop, listBatch).Result()
		if err != nil {
			return nil, fmt.Errorf("reading the signal history: %w", err)
		}
		for _, m := range batch {
			e, err := DecodeEntry(m)
			if err != nil {
				l.opts.Log.Info("skipping an unreadable signal entry", "error", err.Error())
				continue
			}
			if q.match(e) && !skip[e.ID] && len(out) < limit {
				out = append(out, e)
			}
		}
		if len(batch) < listBatch {
			break
		}
		start = "(" + batch[len(batch)-1].ID
	}
	return out, nil
}
