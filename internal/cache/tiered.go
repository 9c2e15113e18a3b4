package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"
)

// Tiered is the operator's cache: Redis when it answers, an always-written memory copy when it does
// not. A failed Redis call opens a breaker, so later calls skip Redis instead of waiting for its
// timeout; the health loop closes it when PING succeeds again, after copying the outage's writes.
type Tiered struct {
	cfg    Config
	redis  *Redis // nil when Redis is disabled
	memory *Memory
	obs    Observer
	log    logr.Logger
	flight singleflight.Group

	redisUp   atomic.Bool
	fallbacks atomic.Uint64
	resynced  atomic.Uint64

	mu          sync.Mutex
	lastErr     string
	lastErrAt   time.Time
	dirty       map[string]bool // written to memory only, while Redis was down
	deleted     map[string]bool // deleted while Redis was down
	resyncMutex sync.Mutex
}

var _ Store = (*Tiered)(nil)

type nopObserver struct{}

func (nopObserver) ObserveCacheRequest(Backend, string) {}
func (nopObserver) ObserveFallback()                    {}
func (nopObserver) SetBackendUp(bool)                   {}

// NewTiered builds the cache. An unreachable or misconfigured Redis does not fail it: the error is
// logged and kept in the stats, and the memory copy serves until Redis answers.
func NewTiered(cfg Config, obs Observer, log logr.Logger) (*Tiered, error) {
	if obs == nil {
		obs = nopObserver{}
	}
	t := &Tiered{cfg: cfg, memory: NewMemory(cfg.MemoryMaxEntries, time.Minute), obs: obs, log: log,
		dirty: map[string]bool{}, deleted: map[string]bool{}}
	if !cfg.RedisEnabled {
		obs.SetBackendUp(false)
		return t, nil
	}
	r, err := NewRedis(cfg)
	if err != nil {
		return nil, err
	}
	t.redis = r
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DialTimeout+cfg.ReadTimeout)
	defer cancel()
	if err := r.Ping(ctx); err != nil {
		t.markDown(err)
	} else {
		t.markUp()
	}
	return t, nil
}

// Start runs the health loop until ctx ends; it fits a controller-runtime Runnable.
func (t *Tiered) Start(ctx context.Context) error {
	if t.redis == nil {
		<-ctx.Done()
		return nil
	}
	tick := time.NewTicker(t.cfg.HealthInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			t.checkHealth(ctx)
		}
	}
}

// NeedLeaderElection is false: every replica serves reads.
func (t *Tiered) NeedLeaderElection() bool { return false }

func (t *Tiered) checkHealth(ctx context.Context) {
	pingCtx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout+t.cfg.ReadTimeout)
	defer cancel()
	if err := t.redis.Ping(pingCtx); err != nil {
		if t.redisUp.Load() {
			t.markDown(err)
		}
		return
	}
	if !t.redisUp.Load() {
		if err := t.resync(ctx); err != nil {
			t.log.Error(err, "copying the outage's writes to redis; will retry")
			return
		}
		t.markUp()
	}
}

func (t *Tiered) markUp() {
	if !t.redisUp.Swap(true) {
		t.log.Info("redis is serving the cache")
	}
	t.obs.SetBackendUp(true)
}

func (t *Tiered) markDown(err error) {
	t.mu.Lock()
	t.lastErr, t.lastErrAt = err.Error(), time.Now()
	t.mu.Unlock()
	if t.redisUp.Swap(false) || t.fallbacks.Load() == 0 {
		t.log.Error(err, "redis is unavailable; serving from the memory cache")
	}
	t.obs.SetBackendUp(false)
}

// fallback records a failed Redis call that memory answered instead.
func (t *Tiered) fallback(err error) {
	t.fallbacks.Add(1)
	t.obs.ObserveFallback()
	if t.redisUp.Load() {
		t.markDown(err)
	}
}

// redisServing reports whether calls should go to Redis now.
func (t *Tiered) redisServing() bool { return t.redis != nil && t.redisUp.Load() }

// Get reads Redis, or memory while Redis is down or when a Redis call fails.
func (t *Tiered) Get(ctx context.Context, key string) (Entry, error) {
	if t.redisServing() {
		e, err := t.redis.Get(ctx, key)
		switch {
		case err == nil:
			t.obs.ObserveCacheRequest(BackendRedis, "hit")
			return e, nil
		case errors.Is(err, ErrNotFound):
			t.obs.ObserveCacheRequest(BackendRedis, "miss")
			return Entry{}, ErrNotFound
		case ctx.Err() != nil:
			return Entry{}, ctx.Err()
		default:
			t.fallback(err)
		}
	}
	e, err := t.memory.Get(ctx, key)
	result := "hit"
	if err != nil {
		result = "miss"
	}
	t.obs.ObserveCacheRequest(BackendMemory, result)
	return e, err
}

// Set writes both tiers; a Redis failure only marks the key for the resync.
func (t *Tiered) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	_ = t.memory.Set(ctx, key, value, ttl)
	if t.redisServing() {
		err := t.redis.Set(ctx, key, value, ttl)
		if err == nil {
			return nil
		}
		t.fallback(err)
	}
	t.markDirty(key)
	return nil
}

// Update merges in Redis (atomically across replicas) and mirrors the result into memory; while
// Redis is down it merges in memory.
func (t *Tiered) Update(ctx context.Context, key string, fn UpdateFunc) error {
	if t.redisServing() {
		var value []byte
		var ttl time.Duration
		err := t.redis.Update(ctx, key, func(current []byte) ([]byte, time.Duration, error) {
			var err error
			if value, ttl, err = fn(current); err != nil {
				return nil, 0, updateFuncError{err}
			}
			return value, ttl, nil
		})
		if err == nil {
			return t.memory.Set(ctx, key, value, ttl)
		}
		var fnErr updateFuncError
		if errors.As(err, &fnErr) {
			return fnErr.err
		}
		t.fallback(err)
	}
	err := t.memory.Update(ctx, key, func(current []byte) ([]byte, time.Duration, error) {
		value, ttl, err := fn(current)
		if err != nil {
			return nil, 0, updateFuncError{err}
		}
		return value, ttl, nil
	})
	if err != nil {
		var fnErr updateFuncError
		if errors.As(err, &fnErr) {
			return fnErr.err
		}
		return err
	}
	t.markDirty(key)
	return nil
}

// updateFuncError marks an error of the caller's function, which is not a Redis failure.
type updateFuncError struct{ err error }

func (e updateFuncError) Error() string { return e.err.Error() }
func (e updateFuncError) Unwrap() error { return e.err }

// Delete removes keys from both tiers; deletes Redis missed are replayed on recovery.
func (t *Tiered) Delete(ctx context.Context, keys ...string) error {
	_ = t.memory.Delete(ctx, keys...)
	if t.redisServing() {
		err := t.redis.Delete(ctx, keys...)
		if err == nil {
			return nil
		}
		t.fallback(err)
	}
	t.mu.Lock()
	for _, k := range keys {
		delete(t.dirty, k)
		t.deleted[k] = true
	}
	t.mu.Unlock()
	return nil
}

// Keys lists the keys under prefix on the serving backend.
func (t *Tiered) Keys(ctx context.Context, prefix string) ([]string, error) {
	if t.redisServing() {
		keys, err := t.redis.Keys(ctx, prefix)
		if err == nil {
			return keys, nil
		}
		t.fallback(err)
	}
	return t.memory.Keys(ctx, prefix)
}

// GetOrCompute returns the cached value, or computes it once for all concurrent callers of the same
// key, stores it and returns it with computed set.
func (t *Tiered) GetOrCompute(ctx context.Context, key string,
	compute func(ctx context.Context) ([]byte, time.Duration, error)) (Entry, bool, error) {
	if e, err := t.Get(ctx, key); err == nil {
		return e, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Entry{}, false, err
	}
	e, err := t.Compute(ctx, key, compute)
	return e, err == nil, err
}

// Compute runs compute once per key across concurrent callers (single-flight), stores the result
// and returns it, bypassing the cached value: for a forced refresh.
func (t *Tiered) Compute(ctx context.Context, key string,
	compute func(ctx context.Context) ([]byte, time.Duration, error)) (Entry, error) {
	v, err, _ := t.flight.Do(key, func() (any, error) {
		value, ttl, err := compute(ctx)
		if err != nil {
			return nil, err
		}
		if ttl <= 0 {
			ttl = t.cfg.DefaultTTL
		}
		_ = t.Set(ctx, key, value, ttl)
		return Entry{Value: value, Backend: t.Serving(), TTL: ttl}, nil
	})
	if err != nil {
		return Entry{}, err
	}
	return v.(Entry), nil
}

// Serving is the backend reads go to now.
func (t *Tiered) Serving() Backend {
	if t.redisServing() {
		return BackendRedis
	}
	return BackendMemory
}

// Degraded is true while Redis is enabled but not serving.
func (t *Tiered) Degraded() bool { return t.redis != nil && !t.redisUp.Load() }

// Config is the configuration the cache runs with.
func (t *Tiered) Config() Config { return t.cfg }

// Stats describes the cache.
func (t *Tiered) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{
		Serving: t.Serving(), RedisEnabled: t.redis != nil, RedisUp: t.redisServing(),
		Fallbacks: t.fallbacks.Load(), LastError: t.lastErr, LastErrorAt: t.lastErrAt,
		MemoryEntries: t.memory.Len(), Resynced: t.resynced.Load(),
	}
}

func (t *Tiered) markDirty(key string) {
	if t.redis == nil {
		return
	}
	t.mu.Lock()
	t.dirty[key] = true
	delete(t.deleted, key)
	t.mu.Unlock()
}

// resync copies the entries written while Redis was down, keeping their remaining TTL, unless Redis
// holds a newer value; and replays the deletes it missed.
func (t *Tiered) resync(ctx context.Context) error {
	t.resyncMutex.Lock()
	defer t.resyncMutex.Unlock()
	t.mu.Lock()
	dirty, deleted := t.dirty, t.deleted
	t.dirty, t.deleted = map[string]bool{}, map[string]bool{}
	t.mu.Unlock()

	var failed []string
	for key := range dirty {
		value, expiresAt, ok := t.memory.entry(key)
		if !ok {
			continue
		}
		copied, err := t.redis.setIfNewer(ctx, key, value, time.Until(expiresAt))
		if err != nil {
			failed = append(failed, key)
			continue
		}
		if copied {
			t.resynced.Add(1)
		}
	}
	keys := make([]string, 0, len(deleted))
	for k := range deleted {
		keys = append(keys, k)
	}
	delErr := t.redis.Delete(ctx, keys...)
	if len(failed) > 0 || delErr != nil {
		t.mu.Lock()
		for _, k := range failed {
			t.dirty[k] = true
		}
		if delErr != nil {
			for _, k := range keys {
				t.deleted[k] = true
			}
		}
		t.mu.Unlock()
		return errors.Join(delErr, errors.New("some entries could not be copied to redis"))
	}
	t.log.Info("redis is back; copied the outage's writes", "entries", len(dirty), "deletes", len(keys))
	return nil
}

// Close stops the memory sweeper and closes Redis.
func (t *Tiered) Close() error {
	_ = t.memory.Close()
	if t.redis != nil {
		return t.redis.Close()
	}
	return nil
}
