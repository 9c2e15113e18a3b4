package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hama-operator/hama-operator/internal/signals"
)

// Store keeps delivery state in Redis, next to the signal history it reads: a consumer group on the
// stream hands out each event until its deliveries are recorded; a record per delivery (alert and
// event id) says whether it is pending, sent or failed; a sorted set orders pending deliveries by
// when they are due, and a set holds those being attempted. Every key shares the stream's hash
// slot, so each step is one MULTI, on Redis Cluster too. Reads go through pipelines or scripts,
// never direct commands: a client with go-redis's client-side cache may answer direct reads from
// memory (the cache's Client has none, but the Store does not rely on that), and a stale due set
// would repeat a delivery.
type Store struct {
	client redis.UniversalClient
	// consumer is this process's name in the consumer group.
	consumer string
	prefix   string
}

// Group is the consumer group of the deliveries on the signal history.
const Group = "hama-notifications"

// keptFor is how long a settled delivery's record stays, so that the event is never delivered to
// the alert again (the stream's dedup keeps events out for less than this).
const keptFor = 7 * 24 * time.Hour

// NewStore uses client; consumer names this process in the consumer group (the pod name).
func NewStore(client redis.UniversalClient, consumer string) *Store {
	return &Store{client: client, consumer: consumer, prefix: "{" + signals.StreamKey + "}:notify:"}
}

// Delivery is one event for one alert.
type Delivery struct {
	// ID is "<namespace>/<alert>/<event id>".
	ID                         string
	Namespace, Alert, Provider string
	Event                      signals.Event
	// Attempts made so far.
	Attempts int
	// Enqueued is when the event was fanned out to the alert; retries stop some time after it.
	Enqueued time.Time
}

func (s *Store) record(id string) string { return s.prefix + "d:" + id }
func (s *Store) due() string             { return s.prefix + "due" }
func (s *Store) inflight() string        { return s.prefix + "inflight" }
func (s *Store) stats(namespace, alert string) string {
	return s.prefix + "stats:" + namespace + "/" + alert
}

// CooldownKey names the last delivery of one symbol, timeframe and kind to an alert.
func (s *Store) cooldown(alertKey string, e signals.Event) string {
	return s.prefix + "cooldown:" + alertKey + "/" + e.Symbol + "/" + e.Timeframe + "/" + string(e.Kind)
}

// EnsureGroup creates the consumer group, reading the stream from its start, unless it exists.
// Reading from the start loses nothing appended before the first leader came up; events older
// than the dispatcher's MaxEventAge are acknowledged without delivery.
func (s *Store) EnsureGroup(ctx context.Context) error {
	err := s.client.XGroupCreateMkStream(ctx, signals.StreamKey, Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// Claimed takes over every entry another consumer (a previous leader) read but did not finish,
// and returns them with this consumer's own unfinished entries.
func (s *Store) Claimed(ctx context.Context) ([]redis.XMessage, error) {
	var out []redis.XMessage
	start := "0-0"
	for {
		msgs, next, err := s.client.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: signals.StreamKey, Group: Group, Consumer: s.consumer, MinIdle: 0, Start: start, Count: 100,
		}).Result()
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
		if next == "0-0" || len(msgs) == 0 {
			break
		}
		start = next
	}
	// Forget the consumers of earlier leaders, now that nothing is pending with them.
	consumers, err := s.client.XInfoConsumers(ctx, signals.StreamKey, Group).Result()
	if err != nil {
		return nil, err
	}
	for _, c := range consumers {
		if c.Name != s.consumer && c.Pending == 0 {
			if err := s.client.XGroupDelConsumer(ctx, signals.StreamKey, Group, c.Name).Err(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Read waits up to block for entries no consumer has read yet.
func (s *Store) Read(ctx context.Context, block time.Duration, count int64) ([]redis.XMessage, error) {
	streams, err := s.client.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: Group, Consumer: s.consumer, Streams: []string{signals.StreamKey, ">"}, Count: count, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil || len(streams) == 0 {
		return nil, err
	}
	return streams[0].Messages, nil
}

// Cooldowns returns, for each alert key, when e was last fanned out to it (zero: never, or longer
// ago than its cooldown).
func (s *Store) Cooldowns(ctx context.Context, e signals.Event, alertKeys []string) ([]time.Time, error) {
	if len(alertKeys) == 0 {
		return nil, nil
	}
	keys := make([]string, len(alertKeys))
	for i, k := range alertKeys {
		keys[i] = s.cooldown(k, e)
	}
	var mget *redis.SliceCmd
	if _, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error { mget = p.MGet(ctx, keys...); return nil }); err != nil {
		return nil, err
	}
	vals := mget.Val()
	out := make([]time.Time, len(vals))
	for i, v := range vals {
		if str, ok := v.(string); ok {
			if ms, err := strconv.ParseInt(str, 10, 64); err == nil {
				out[i] = time.UnixMilli(ms)
			}
		}
	}
	return out, nil
}

// enqueue creates a delivery record and schedules it, unless the record exists: an event is never
// delivered twice to the same alert, whatever replays it.
var enqueue = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1`)

// Cooldown is a cooldown to start with a fan-out.
type Cooldown struct {
	AlertKey string
	For      time.Duration
}

// FanOut records an entry's deliveries, starts their alerts' cooldowns at now and acknowledges the
// entry, in one transaction: after a crash the entry is handed out again with nothing of it
// recorded, and a replayed record is refused by enqueue.
func (s *Store) FanOut(ctx context.Context, streamID string, e signals.Event, deliveries []Delivery, cooldowns []Cooldown,
	now time.Time) error {
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, d := range deliveries {
			event, err := json.Marshal(d.Event)
			if err != nil {
				return err
			}
			enqueue.Eval(ctx, p, []string{s.record(d.ID), s.due()}, now.UnixMilli(), d.ID,
				"namespace", d.Namespace, "alert", d.Alert, "provider", d.Provider, "event", event,
				"attempts", 0, "enqueued", d.Enqueued.UnixMilli(), "state", "pending")
		}
		for _, c := range cooldowns {
			p.Set(ctx, s.cooldown(c.AlertKey, e), now.UnixMilli(), c.For)
		}
		p.XAck(ctx, signals.StreamKey, Group, streamID)
		return nil
	})
	return err
}

// Ack acknowledges an entry that delivers nothing (undecodable, or too old).
func (s *Store) Ack(ctx context.Context, streamID string) error {
	return s.client.XAck(ctx, signals.StreamKey, Group, streamID).Err()
}

// take moves the deliveries due by ARGV[1] (at most ARGV[2]) from the due set to the in-flight set.
var take = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('SADD', KEYS[2], id)
end
return ids`)

// Take moves up to max deliveries due at now to the in-flight set and returns them.
func (s *Store) Take(ctx context.Context, now time.Time, max int64) ([]Delivery, error) {
	ids, err := take.Run(ctx, s.client, []string{s.due(), s.inflight()}, now.UnixMilli(), max).StringSlice()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	reads := make([]*redis.MapStringStringCmd, len(ids))
	if _, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			reads[i] = p.HGetAll(ctx, s.record(id))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var out []Delivery
	for i, r := range reads {
		d, err := decodeDelivery(ids[i], r.Val())
		if err != nil { // a damaged record: nothing to deliver
			_ = s.client.SRem(ctx, s.inflight(), ids[i]).Err()
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

func decodeDelivery(id string, h map[string]string) (Delivery, error) {
	d := Delivery{ID: id, Namespace: h["namespace"], Alert: h["alert"], Provider: h["provider"]}
	if err := json.Unmarshal([]byte(h["event"]), &d.Event); err != nil {
		return d, fmt.Errorf("delivery %s: %w", id, err)
	}
	d.Attempts, _ = strconv.Atoi(h["attempts"])
	ms, _ := strconv.ParseInt(h["enqueued"], 10, 64)
	d.Enqueued = time.UnixMilli(ms)
	return d, nil
}

// Requeue makes every in-flight delivery due at now: a new leader calls it before delivering,
// since no attempt of a previous process is still running.
func (s *Store) Requeue(ctx context.Context, now time.Time) (int, error) {
	var members *redis.StringSliceCmd
	if _, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error { members = p.SMembers(ctx, s.inflight()); return nil }); err != nil {
		return 0, err
	}
	ids := members.Val()
	if len(ids) == 0 {
		return 0, nil
	}
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.ZAdd(ctx, s.due(), redis.Z{Score: float64(now.UnixMilli()), Member: id})
			p.SRem(ctx, s.inflight(), id)
		}
		return nil
	})
	return len(ids), err
}

// Backlog counts what is not settled yet, in one snapshot: entries of the stream not fanned out
// (unread, or read and pending), and deliveries due or in flight. Zero means every recorded event
// has reached every matching alert, or been given up.
func (s *Store) Backlog(ctx context.Context) (int64, error) {
	var due, inflight *redis.IntCmd
	var groups *redis.XInfoGroupsCmd
	var stream *redis.XInfoStreamCmd
	if _, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		due, inflight = p.ZCard(ctx, s.due()), p.SCard(ctx, s.inflight())
		groups, stream = p.XInfoGroups(ctx, signals.StreamKey), p.XInfoStream(ctx, signals.StreamKey)
		return nil
	}); err != nil {
		return 0, err
	}
	n := due.Val() + inflight.Val()
	for _, g := range groups.Val() {
		if g.Name != Group {
			continue
		}
		n += g.Pending
		if g.LastDeliveredID != stream.Val().LastGeneratedID {
			n++ // unread entries: at least one
		}
		return n, nil
	}
	return n + 1, nil // no group yet: nothing was read
}

// Results of a delivery, as Stats.LastResult reports them.
const (
	ResultSent        = "sent"
	ResultRetrying    = "retrying"
	ResultRejected    = "rejected"
	ResultUnreachable = "unreachable"
)

// Sent records that the receiver accepted d.
func (s *Store) Sent(ctx context.Context, d Delivery, now time.Time) error {
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.record(d.ID), "state", "sent", "attempts", d.Attempts+1)
		p.Expire(ctx, s.record(d.ID), keptFor)
		p.SRem(ctx, s.inflight(), d.ID)
		stats := s.stats(d.Namespace, d.Alert)
		p.HIncrBy(ctx, stats, "sent", 1)
		p.HSet(ctx, stats, "last_delivery", now.UnixMilli(), "last_result", ResultSent, "last_error", "", "last_at", now.UnixMilli())
		return nil
	})
	return err
}

// Failed records that d is given up: result is ResultRejected or ResultUnreachable.
func (s *Store) Failed(ctx context.Context, d Delivery, now time.Time, result, msg string) error {
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.record(d.ID), "state", "failed", "attempts", d.Attempts+1, "last_error", msg)
		p.Expire(ctx, s.record(d.ID), keptFor)
		p.SRem(ctx, s.inflight(), d.ID)
		stats := s.stats(d.Namespace, d.Alert)
		p.HIncrBy(ctx, stats, "failed", 1)
		p.HSet(ctx, stats, "last_result", result, "last_error", msg, "last_at", now.UnixMilli())
		return nil
	})
	return err
}

// Retry schedules d again at `at`. attempted says whether an attempt failed (msg tells how), or
// whether d only waited for its rate limit.
func (s *Store) Retry(ctx context.Context, d Delivery, at, now time.Time, attempted bool, msg string) error {
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if attempted {
			p.HSet(ctx, s.record(d.ID), "attempts", d.Attempts+1, "last_error", msg)
			p.HSet(ctx, s.stats(d.Namespace, d.Alert), "last_result", ResultRetrying, "last_error", msg, "last_at", now.UnixMilli())
		}
		p.ZAdd(ctx, s.due(), redis.Z{Score: float64(at.UnixMilli()), Member: d.ID})
		p.SRem(ctx, s.inflight(), d.ID)
		return nil
	})
	return err
}

// Drop forgets d: its alert is gone or suspended.
func (s *Store) Drop(ctx context.Context, d Delivery) error {
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.record(d.ID))
		p.SRem(ctx, s.inflight(), d.ID)
		return nil
	})
	return err
}

// Stats are an alert's delivery counts and its last outcome.
type Stats struct {
	Sent, Failed int64
	// LastDelivery is when a receiver last accepted a notification.
	LastDelivery time.Time
	// LastResult is the last outcome (ResultSent, ...), at LastAt; LastError tells why it failed.
	LastResult, LastError string
	LastAt                time.Time
}

// Stats reads an alert's delivery counts.
func (s *Store) Stats(ctx context.Context, namespace, alert string) (Stats, error) {
	var hget *redis.MapStringStringCmd
	if _, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		hget = p.HGetAll(ctx, s.stats(namespace, alert))
		return nil
	}); err != nil {
		return Stats{}, err
	}
	h := hget.Val()
	st := Stats{LastResult: h["last_result"], LastError: h["last_error"]}
	st.Sent, _ = strconv.ParseInt(h["sent"], 10, 64)
	st.Failed, _ = strconv.ParseInt(h["failed"], 10, 64)
	if ms, err := strconv.ParseInt(h["last_delivery"], 10, 64); err == nil {
		st.LastDelivery = time.UnixMilli(ms)
	}
	if ms, err := strconv.ParseInt(h["last_at"], 10, 64); err == nil {
		st.LastAt = time.UnixMilli(ms)
	}
	return st, nil
}

// Forget deletes a deleted alert's counts; its pending deliveries are dropped when they come due.
func (s *Store) Forget(ctx context.Context, namespace, alert string) error {
	return s.client.Del(ctx, s.stats(namespace, alert)).Err()
}
