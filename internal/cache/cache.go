// Package cache keeps values in Redis (standalone, Sentinel or Cluster, through go-redis's
// UniversalClient) with one copy of each in this process's memory, and guarantees three things.
// No call fails because Redis is down: every write lands in memory too, a Redis failure marks Redis
// down and the same call is answered from memory, and until a health check pings Redis again every
// call goes straight to memory. What Redis lost comes back within a health interval of its return:
// before Redis serves again, every entry this process wrote is copied back to Redis unless Redis
// holds the same value or one that lives longer (newer wins). Repeated reads cost no round trip:
// with RESP3 client tracking, Redis tells go-redis when a key this process read changes, and a value
// read from Redis is answered from memory until any invalidation arrives or the max staleness
// passes. The cache is value-agnostic and knows nothing of Kubernetes; the merge of a write is its
// caller's (Update).
package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/util/wait"
)

// ErrNotFound is a miss.
var ErrNotFound = errors.New("cache: not found")

// Backend names where a value came from.
type Backend string

// Backends.
const (
	BackendRedis  Backend = "redis"
	BackendMemory Backend = "memory"
)

// Entry is a cached value. Value is shared with the cache: callers must not modify it.
type Entry struct {
	Value   []byte
	Backend Backend
}

// UpdateFunc returns the new value of a key from its current one (nil when absent) and its TTL,
// or Keep to leave the key as it is.
type UpdateFunc = func(current []byte) (value []byte, ttl time.Duration, err error)

// Keep, returned by an UpdateFunc, leaves its key as it is: nothing is written. Like fs.SkipDir it
// is a signal, not a failure, hence its name.
var Keep = errors.New("cache: keep the current value") //nolint:staticcheck // ST1012: a signal, as fs.SkipDir

// Change is how UpdateAll changes one key.
type Change struct {
	// Fn gives the key's new value from its current one.
	Fn UpdateFunc
	// Head, above 0, hands Fn only the first Head bytes of the current value (nil for an absent
	// or empty one): for a merge that decides on a header and then keeps the value or replaces it
	// whole, so that a large value is not read only to be kept.
	Head int
}

// Stats describe the cache for the API.
type Stats struct {
	// Serving is the backend reads go to now.
	Serving      Backend
	RedisEnabled bool
	RedisUp      bool
	// Fallbacks counts calls memory answered in place of Redis.
	Fallbacks uint64
	LastError string
}

// Observer receives cache events for metrics.
type Observer interface {
	// ObserveCacheRequest counts a read by the backend that answered; result is "hit" or "miss".
	ObserveCacheRequest(backend Backend, result string)
	// ObserveFallback counts a call memory answered in place of Redis.
	ObserveFallback()
	// SetBackendUp reports whether Redis serves.
	SetBackendUp(up bool)
}

// logEvery spaces out the logs of an outage that lasts.
const logEvery = time.Minute

// Cache is Redis with a memory copy; see the package comment. Start runs its health loop.
type Cache struct {
	cfg    Config
	client redis.UniversalClient // nil: memory only
	// untracked is client without client tracking (client itself when tracking is off): the write
	// transactions and Client's users run on it (see New).
	untracked redis.UniversalClient
	tracker   *tracker // nil: no client-side caching, every read asks Redis
	mem       *memory
	obs       Observer
	log       logr.Logger

	up        atomic.Bool
	fallbacks atomic.Uint64
	// writes is held shared by every write and exclusively by the recovery, so that no write falls
	// between the copy back to Redis and the switch to it.
	writes sync.RWMutex

	// serverID is the run_id of the Redis server(s) the last health check reached; only the health
	// check (New, then Start's goroutine) touches it.
	serverID string

	mu        sync.Mutex // guards the last error
	lastErr   string
	lastLogAt time.Time
}

// New builds the cache and pings Redis once. Only an invalid configuration is an error: an
// unreachable Redis or wrong credentials are logged and kept in the stats, and memory serves.
func New(cfg Config, obs Observer, log logr.Logger) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if obs == nil {
		obs = nopObserver{}
	}
	c := &Cache{cfg: cfg, mem: newMemory(cfg.MemoryMaxEntries), obs: obs, log: log}
	obs.SetBackendUp(false)
	if !cfg.RedisEnabled {
		return c, nil
	}
	opts, err := cfg.universalOptions()
	if err != nil {
		return nil, err
	}
	c.tracker, _ = opts.ClientSideCache.(*tracker)
	c.client = redis.NewUniversalClient(opts)
	c.untracked = c.client
	if c.tracker != nil {
		// A write's transaction reads the keys it writes, and so does the signal history's append
		// script. On a tracking connection each read would make Redis remember the key for this
		// process, and the write send an invalidation of it back: thousands in a burst of writes,
		// on both sides, each voiding every confirmed read. Only the cache's reads need tracking;
		// the rest runs on connections without it. Those that read a key still hear of its writes.
		untrackedOpts := *opts
		untrackedOpts.ClientSideCache, untrackedOpts.ClientSideCacheConfig = nil, nil
		c.untracked = redis.NewUniversalClient(&untrackedOpts)
	}
	routeRedisLogs(log)
	c.checkHealth(context.Background())
	return c, nil
}

// Get reads Redis while it serves, memory otherwise.
func (c *Cache) Get(ctx context.Context, key string) (Entry, error) {
	e, err := c.get(ctx, key)
	if err == nil || errors.Is(err, ErrNotFound) {
		c.obs.ObserveCacheRequest(e.Backend, result(err == nil))
	}
	return e, err
}

func (c *Cache) get(ctx context.Context, key string) (Entry, error) {
	if c.up.Load() {
		generation := c.tracker.generation() // before the read: an invalidation during it voids it
		if value, ok := c.mem.confirmed(key, generation, c.cfg.ClientCacheMaxStaleness); ok {
			return Entry{Value: value, Backend: BackendRedis}, nil
		}
		value, ttl, err := c.read(ctx, key)
		switch {
		case err == nil:
			// The memory copy serves the next reads (with tracking) and an outage.
			return Entry{Value: c.mem.fill(key, value, ttl, generation, c.tracker != nil), Backend: BackendRedis}, nil
		case errors.Is(err, ErrNotFound):
			c.mem.delete(key)
			return Entry{Backend: BackendRedis}, err
		case ctx.Err() != nil:
			return Entry{}, ctx.Err()
		}
		c.failed(err)
	}
	c.countFallback()
	if value, ok := c.mem.get(key); ok {
		return Entry{Value: value, Backend: BackendMemory}, nil
	}
	return Entry{Backend: BackendMemory}, ErrNotFound
}

// Update replaces key's value with fn(current), atomically across replicas: an optimistic Redis
// transaction while Redis serves, under the memory lock otherwise. fn may run several times; its
// error (other than Keep) is returned unchanged and nothing is written. A ttl <= 0 deletes the key.
func (c *Cache) Update(ctx context.Context, key string, fn UpdateFunc) error {
	return c.UpdateAll(ctx, map[string]Change{key: {Fn: fn}})
}

// UpdateAll is Update of several keys together, changes by key: while Redis serves, one
// transaction over all of them (three round trips, where an Update per key takes three each).
// Redis Cluster takes the keys of one hash slot only in a transaction, so there, and in memory,
// each key is updated on its own. A Fn's error is returned unchanged and writes nothing more.
func (c *Cache) UpdateAll(ctx context.Context, changes map[string]Change) error {
	if _, cluster := c.client.(*redis.ClusterClient); cluster && len(changes) > 1 {
		for key, change := range changes {
			if err := c.UpdateAll(ctx, map[string]Change{key: change}); err != nil {
				return err
			}
		}
		return nil
	}
	c.writes.RLock()
	defer c.writes.RUnlock()
	if c.up.Load() {
		// The memory copy expires no later than Redis's, so the recovery never mistakes it for newer.
		start := c.mem.clock.Now()
		written, err := c.update(ctx, changes)
		var fnErr updateFuncError
		switch {
		case err == nil:
			for key, w := range written {
				c.mem.set(key, w.value, start.Add(w.ttl))
			}
			return nil
		case errors.As(err, &fnErr):
			return fnErr.err
		case errors.Is(err, ErrUpdateConflict):
			return err // contention, not an outage
		case ctx.Err() != nil:
			return ctx.Err()
		}
		c.failed(err)
	}
	c.countFallback()
	for key, change := range changes {
		if err := c.mem.update(key, change); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes keys from memory and Redis. While Redis is down it fails after the memory delete,
// so that its caller retries until the delete reaches Redis: memory alone cannot carry a delete.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	c.writes.RLock()
	defer c.writes.RUnlock()
	c.mem.delete(keys...)
	switch {
	case c.client == nil || len(keys) == 0:
		return nil
	case !c.up.Load():
		return fmt.Errorf("redis is down, the delete must reach it: %s", c.Stats().LastError)
	}
	_, err := c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys { // one DEL per key: keys of several Cluster slots
			p.Del(ctx, k)
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		c.failed(err)
	}
	return describe(err)
}

// Keys lists the keys under prefix: SCAN on Redis while it serves, memory's otherwise.
func (c *Cache) Keys(ctx context.Context, prefix string) ([]string, error) {
	if c.up.Load() {
		keys, err := c.scan(ctx, prefix)
		if err == nil || ctx.Err() != nil {
			return keys, err
		}
		c.failed(err)
	}
	c.countFallback()
	return c.mem.keys(prefix), nil
}

// Client is a Redis client of the cache's configuration, without client tracking, nil without
// Redis: for the few features that need Redis commands of their own (the signal history's stream,
// the notification queue), so that one configuration serves them all. Ask Degraded before calling
// it, as the cache stops calling Redis while it is down.
func (c *Cache) Client() redis.UniversalClient { return c.untracked }

// Degraded is true while Redis is enabled but not serving.
func (c *Cache) Degraded() bool { return c.client != nil && !c.up.Load() }

// Stats describes the cache.
func (c *Cache) Stats() Stats {
	s := Stats{Serving: BackendMemory, RedisEnabled: c.client != nil, RedisUp: c.up.Load(), Fallbacks: c.fallbacks.Load()}
	if s.RedisUp {
		s.Serving = BackendRedis
	}
	c.mu.Lock()
	s.LastError = c.lastErr
	c.mu.Unlock()
	return s
}

// MemoryEntries counts the live entries of the memory copy under prefix, for cache-stats (the
// original service reported its memory cache's size, which held only analyses).
func (c *Cache) MemoryEntries(prefix string) int { return len(c.mem.keys(prefix)) }

// Start runs the health loop until ctx ends; it fits controller-runtime's manager.Runnable.
func (c *Cache) Start(ctx context.Context) error {
	if c.client != nil {
		wait.UntilWithContext(ctx, c.checkHealth, c.cfg.HealthInterval)
	}
	<-ctx.Done()
	return nil
}

// NeedLeaderElection is false: every replica serves reads from its own cache.
func (c *Cache) NeedLeaderElection() bool { return false }

// Close closes the Redis connections.
func (c *Cache) Close() error {
	if c.client == nil {
		return nil
	}
	if c.untracked != c.client {
		_ = c.untracked.Close()
	}
	return c.client.Close()
}

// checkHealth asks Redis for its identity; when Redis answers again, or answers as another server
// (restarted, perhaps empty, or a replica promoted in a failover), it recovers.
func (c *Cache) checkHealth(ctx context.Context) {
	pingCtx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout+c.cfg.ReadTimeout)
	defer cancel()
	id, err := c.identity(pingCtx)
	if err == nil && (!c.up.Load() || id != c.serverID) {
		if c.up.Load() {
			c.log.Info("redis is another server than at the last health check; copying the memory copy back", "addrs", c.cfg.Addrs)
		}
		err = c.recover(ctx)
	}
	if err == nil {
		c.serverID = id
	}
	if err != nil && ctx.Err() == nil {
		c.failed(err)
	}
}

// recover copies this process's writes back to Redis, newer wins, then lets Redis serve.
func (c *Cache) recover(ctx context.Context) error {
	c.writes.Lock()
	defer c.writes.Unlock()
	copied, err := c.copyBack(ctx, c.mem.owned())
	if err != nil {
		return fmt.Errorf("copying the memory copy back to redis: %w", err)
	}
	c.up.Store(true)
	c.obs.SetBackendUp(true)
	c.log.Info("redis serves the cache", "addrs", c.cfg.Addrs, "copiedFromMemory", copied)
	return nil
}

// failed marks Redis down and records the error; the log is rate-limited.
func (c *Cache) failed(err error) {
	err = describe(err)
	wasUp := c.up.Swap(false)
	now := time.Now()
	c.mu.Lock()
	c.lastErr = err.Error()
	logIt := wasUp || now.Sub(c.lastLogAt) >= logEvery
	if logIt {
		c.lastLogAt = now
	}
	c.mu.Unlock()
	if wasUp {
		c.obs.SetBackendUp(false)
	}
	if logIt {
		c.log.Error(err, "redis is not serving the cache; the memory copy answers until it does", "addrs", c.cfg.Addrs)
	}
}

// countFallback counts a call memory answered in place of Redis.
func (c *Cache) countFallback() {
	if c.client != nil {
		c.fallbacks.Add(1)
		c.obs.ObserveFallback()
	}
}

func result(hit bool) string {
	if hit {
		return "hit"
	}
	return "miss"
}

type nopObserver struct{}

func (nopObserver) ObserveCacheRequest(Backend, string) {}
func (nopObserver) ObserveFallback()                    {}
func (nopObserver) SetBackendUp(bool)                   {}
