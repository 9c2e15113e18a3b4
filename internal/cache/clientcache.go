package cache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// invalidationCounter is go-redis's client-side cache, counting what may make a value it served
// stale: an invalidation from Redis, a flush, or a connection whose tracking ended. go-redis
// calls these methods; the counter lets Tiered tell, with one atomic load, that nothing changed
// since it last asked.
type invalidationCounter struct {
	*redis.LocalCache
	n atomic.Uint64
}

var _ redis.Cache = (*invalidationCounter)(nil)

func newInvalidationCounter(cfg redis.CacheConfig) *invalidationCounter {
	return &invalidationCounter{LocalCache: redis.NewLocalCache(cfg)}
}

func (c *invalidationCounter) DeleteByRedisKey(redisKey string) int {
	c.n.Add(1)
	return c.LocalCache.DeleteByRedisKey(redisKey)
}

func (c *invalidationCounter) DeleteByCacheKey(cacheKey string) bool {
	c.n.Add(1)
	return c.LocalCache.DeleteByCacheKey(cacheKey)
}

func (c *invalidationCounter) EvictByConn(connID uint64) int {
	c.n.Add(1)
	return c.LocalCache.EvictByConn(connID)
}

func (c *invalidationCounter) Flush() int {
	c.n.Add(1)
	return c.LocalCache.Flush()
}

// generation changes whenever a value go-redis served may have become stale.
func (c *invalidationCounter) generation() uint64 { return c.n.Load() }

// confirmedValues are values go-redis's client cache answered, each with the invalidation
// generation it was read in. While the generation is unchanged (no key was invalidated since) and
// the value is younger than the max staleness, a read is answered here: no command, no copy.
// go-redis copies a value out of its cache on every hit, a few KiB per API request.
type confirmedValues struct {
	maxAge time.Duration
	m      sync.Map // key → *confirmedValue
}

type confirmedValue struct {
	value      []byte
	generation uint64
	readAt     time.Time
	expiresAt  time.Time
}

// get answers key if nothing was invalidated since it was read and it is fresh enough.
func (c *confirmedValues) get(key string, generation uint64, now time.Time) (Entry, bool) {
	v, ok := c.m.Load(key)
	if !ok {
		return Entry{}, false
	}
	cv := v.(*confirmedValue)
	if cv.generation != generation || now.Sub(cv.readAt) >= c.maxAge || !cv.expiresAt.After(now) {
		return Entry{}, false
	}
	return Entry{Value: cv.value, Backend: BackendRedis, TTL: cv.expiresAt.Sub(now)}, true
}

// put remembers a value read in generation, loaded before the read: an invalidation during the
// read then makes the next read ask again.
func (c *confirmedValues) put(key string, value []byte, generation uint64, now time.Time, ttl time.Duration) {
	if ttl <= 0 {
		c.m.Delete(key)
		return
	}
	c.m.Store(key, &confirmedValue{value: value, generation: generation, readAt: now, expiresAt: now.Add(ttl)})
}

func (c *confirmedValues) forget(keys ...string) {
	for _, k := range keys {
		c.m.Delete(k)
	}
}
