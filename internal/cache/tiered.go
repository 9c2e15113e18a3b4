package cache

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"
)

// Tiered is the operator's cache: Redis while it answers, and an always-written memory copy that
// serves while it does not. A failed Redis call opens a breaker, so later calls skip Redis instead
// of waiting for its timeout; the health loop (or, after BreakerCooldown, a probe that a call
// starts in the background) closes it once PING succeeds and the outage's writes are copied back.
type Tiered struct {
	cfg    Config
	redis  *Redis // nil when Redis is disabled
	memory *Memory
	obs    Observer
	log    logr.Logger
	flight singleflight.Group

	up       atomic.Bool  // the breaker is closed: Redis serves
	openedAt atomic.Int64 // unix nanoseconds of the last Redis failure
	probing  atomic.Bool  // a cooldown probe is running
	healthMu sync.Mutex   // one health check at a time

	fallbacks, redisErrors, resynced atomic.Uint64

	// mu guards the last error and the outage journal; the breaker closes only while it is held
	// with an empty journal, so no write can slip between the resync and the switch back to Redis.
	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
	lastLogAt time.Time
	dirty     map[string]struct{} // written to memory only, while Redis was down
	deleted   map[string]struct{} // deleted while Redis was down

	closing context.Context
	close   context.CancelFunc

	// wroteAt maps a key this replica wrote to when (unix nanoseconds): reads of it skip the client
	// cache for ownWriteWindow, so a replica reads its own writes before their invalidation lands.
	wroteAt sync.Map
	// confirmed holds what the client cache answered, to answer again while nothing is invalidated.
	confirmed confirmedValues
}

// ownWriteWindow is how long after writing a key a replica reads it past the client cache. Redis
// sends the invalidation at once and go-redis applies it within milliseconds (DrainInterval).
const ownWriteWindow = time.Second

var _ Store = (*Tiered)(nil)

// NewTiered builds the cache. Only an invalid configuration is an error: an unreachable Redis or
// wrong credentials are logged and kept in the stats, and memory serves until Redis answers.
func NewTiered(cfg Config, obs Observer, log logr.Logger) (*Tiered, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if obs == nil {
		obs = nopObserver{}
	}
	t := &Tiered{cfg: cfg, memory: NewMemory(cfg.MemoryMaxEntries, time.Minute), obs: obs, log: log,
		dirty: map[string]struct{}{}, deleted: map[string]struct{}{},
		confirmed: confirmedValues{maxAge: cfg.ClientCacheMaxStaleness}}
	t.closing, t.close = context.WithCancel(context.Background())
	obs.SetBackendUp(false)
	if !cfg.RedisEnabled {
		return t, nil
	}
	r, err := NewRedis(cfg)
	if err != nil {
		return nil, err
	}
	t.redis = r
	routeRedisLogs(log)
	t.checkHealth(t.closing)
	return t, nil
}

// Get reads Redis, or memory while Redis is down or when the Redis call fails.
func (t *Tiered) Get(ctx context.Context, key string) (Entry, error) {
	e, err := t.get(ctx, key)
	switch {
	case err == nil:
		t.obs.ObserveCacheRequest(e.Backend, result(true))
	case errors.Is(err, ErrNotFound):
		t.obs.ObserveCacheRequest(e.Backend, result(false))
		return Entry{}, err
	}
	return e, err
}

// get reads without reporting to the observer. A miss still names the backend that missed.
func (t *Tiered) get(ctx context.Context, key string) (Entry, error) {
	if t.redisServing() {
		e, err := t.readRedis(ctx, key)
		switch {
		case err == nil:
			return e, nil
		case errors.Is(err, ErrNotFound):
			return Entry{Backend: BackendRedis}, ErrNotFound
		case ctx.Err() != nil:
			return Entry{}, ctx.Err()
		}
		t.redisFailed(err)
	}
	t.countFallback()
	e, err := t.memory.Get(ctx, key)
	if err != nil {
		return Entry{Backend: BackendMemory}, err
	}
	return e, nil
}

// Set writes both tiers; see set.
func (t *Tiered) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	_, err := t.set(ctx, key, value, ttl)
	return err
}

// set writes memory, then Redis; when Redis is down or fails, it journals the key for the resync
// and reports memory as the backend written. It fails only when ctx ends during the Redis write.
func (t *Tiered) set(ctx context.Context, key string, value []byte, ttl time.Duration) (Backend, error) {
	if ttl <= 0 {
		return BackendMemory, t.Delete(ctx, key)
	}
	_ = t.memory.Set(ctx, key, value, ttl)
	t.markWritten(key)
	for attempt := 0; ; attempt++ {
		if t.redisServing() {
			err := t.redis.Set(ctx, key, value, ttl)
			if err == nil {
				return BackendRedis, nil
			}
			if ctx.Err() != nil {
				t.journal(false, key)
				return BackendMemory, ctx.Err()
			}
			t.redisFailed(err)
		}
		if t.journal(false, key) || attempt == 2 {
			t.countFallback()
			return BackendMemory, nil
		}
	}
}

// Update merges in Redis, atomically across replicas, and mirrors the result into memory; while
// Redis is down it merges in memory and journals the key.
func (t *Tiered) Update(ctx context.Context, key string, fn UpdateFunc) error {
	var (
		fnErr   error
		deleted bool
		value   []byte
		ttl     time.Duration
	)
	t.markWritten(key)
	tracked := func(current []byte) ([]byte, time.Duration, error) {
		value, ttl, fnErr = fn(current)
		deleted = fnErr == nil && ttl <= 0
		return value, ttl, fnErr
	}
	for attempt := 0; ; attempt++ {
		if t.redisServing() {
			err := t.redis.Update(ctx, key, tracked)
			switch {
			case err == nil:
				return t.memory.Set(ctx, key, value, ttl)
			case fnErr != nil:
				return fnErr
			case errors.Is(err, ErrUpdateConflict):
				return err // contention, not an outage: the breaker stays closed
			case ctx.Err() != nil:
				return ctx.Err()
			}
			t.redisFailed(err)
		}
		if err := t.memory.Update(ctx, key, tracked); err != nil {
			return err
		}
		if t.journal(deleted, key) || attempt == 2 {
			t.countFallback()
			return nil
		}
	}
}

// Delete removes keys from both tiers; deletes that Redis missed are replayed on recovery.
func (t *Tiered) Delete(ctx context.Context, keys ...string) error {
	_ = t.memory.Delete(ctx, keys...)
	t.markWritten(keys...)
	for attempt := 0; ; attempt++ {
		if t.redisServing() {
			err := t.redis.Delete(ctx, keys...)
			if err == nil {
				return nil
			}
			if ctx.Err() != nil {
				t.journal(true, keys...)
				return ctx.Err()
			}
			t.redisFailed(err)
		}
		if t.journal(true, keys...) || attempt == 2 {
			t.countFallback()
			return nil
		}
	}
}

// Keys lists the keys under prefix on the serving backend.
func (t *Tiered) Keys(ctx context.Context, prefix string) ([]string, error) {
	if t.redisServing() {
		keys, err := t.redis.Keys(ctx, prefix)
		if err == nil {
			return keys, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		t.redisFailed(err)
	}
	t.countFallback()
	return t.memory.Keys(ctx, prefix)
}

// Serving is the backend reads go to now.
func (t *Tiered) Serving() Backend {
	if t.redis != nil && t.up.Load() {
		return BackendRedis
	}
	return BackendMemory
}

// Degraded is true while Redis is enabled but not serving.
func (t *Tiered) Degraded() bool { return t.redis != nil && !t.up.Load() }

// Config is the configuration the cache runs with.
func (t *Tiered) Config() Config { return t.cfg }

// Stats describes the cache; Keys counts the keys under the key prefix on the serving backend.
func (t *Tiered) Stats(ctx context.Context) Stats {
	s := Stats{
		RedisEnabled: t.redis != nil, Fallbacks: t.fallbacks.Load(), RedisErrors: t.redisErrors.Load(),
		MemoryEntries: t.memory.Len(), MemoryHits: t.memory.hits.Load(), MemoryMisses: t.memory.misses.Load(),
		Resynced: t.resynced.Load(),
	}
	if t.redis != nil {
		s.RedisHits, s.RedisMisses = t.redis.hits.Load(), t.redis.misses.Load()
	}
	keys := -1
	if t.redis != nil && t.up.Load() {
		n, err := t.redis.countKeys(ctx, t.cfg.KeyPrefix)
		switch {
		case err == nil:
			keys = n
		case ctx.Err() == nil:
			t.redisFailed(err)
		}
	}
	if keys < 0 {
		keys = t.memory.count(t.cfg.KeyPrefix)
	}
	s.Keys, s.Serving, s.RedisUp = keys, t.Serving(), t.redis != nil && t.up.Load()
	t.mu.Lock()
	s.LastError, s.LastErrorAt = t.lastErr, t.lastErrAt
	t.mu.Unlock()
	return s
}

// countFallback records an operation that memory answered in place of Redis.
func (t *Tiered) countFallback() {
	if t.redis == nil {
		return
	}
	t.fallbacks.Add(1)
	t.obs.ObserveFallback()
}

// Close stops the background work and closes Redis.
func (t *Tiered) Close() error {
	t.close()
	_ = t.memory.Close()
	if t.redis != nil {
		return t.redis.Close()
	}
	return nil
}

// readRedis reads a key from Redis and keeps the copy an outage would serve in memory, also on
// replicas that never write. With the client cache, a value read before is answered again without
// a command while Redis has invalidated nothing since; a value new to this replica costs one PTTL,
// for the memory copy's expiry.
func (t *Tiered) readRedis(ctx context.Context, key string) (Entry, error) {
	r := t.redis
	if r.clientCache == nil || t.wroteRecently(key) {
		e, err := r.Get(ctx, key)
		if err == nil {
			t.memory.fill(key, e.Value, e.TTL)
		}
		return e, err
	}
	now := time.Now()
	generation := r.clientCache.generation() // before the read: see confirmedValues.put
	if e, ok := t.confirmed.get(key, generation, now); ok {
		r.hits.Add(1)
		return e, nil
	}
	value, err := r.getCached(ctx, key)
	if err != nil {
		t.confirmed.forget(key)
		return Entry{}, err
	}
	var ttl time.Duration
	if copied, expiresAt, ok := t.memory.lookupAt(key, now); ok && bytes.Equal(copied, value) {
		value, ttl = copied, expiresAt.Sub(now)
	} else {
		if ttl, err = r.ttl(ctx, key); err != nil {
			return Entry{}, err
		}
		_ = t.memory.Set(ctx, key, value, ttl) // a key without expiry (ttl 0) is not copied
	}
	t.confirmed.put(key, value, generation, now, ttl)
	return Entry{Value: value, Backend: BackendRedis, TTL: ttl}, nil
}

// markWritten notes keys this replica is writing; see wroteAt.
func (t *Tiered) markWritten(keys ...string) {
	if t.redis == nil || t.redis.clientCache == nil {
		return
	}
	t.confirmed.forget(keys...)
	now := time.Now().UnixNano()
	for _, k := range keys {
		t.wroteAt.Store(k, now)
	}
}

// wroteRecently reports a write of key by this replica within ownWriteWindow, and forgets older ones.
func (t *Tiered) wroteRecently(key string) bool {
	v, ok := t.wroteAt.Load(key)
	if !ok {
		return false
	}
	if time.Since(time.Unix(0, v.(int64))) < ownWriteWindow {
		return true
	}
	t.wroteAt.CompareAndDelete(key, v)
	return false
}
