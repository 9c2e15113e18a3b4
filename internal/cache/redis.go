package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxUpdateRetries bounds the optimistic transaction of Update under contention. Every round lets
// at least one writer of the key through, and the backoff spreads the others out.
const maxUpdateRetries = 100

// Redis is a Store on a go-redis UniversalClient: standalone, Sentinel or Cluster.
type Redis struct {
	client       redis.UniversalClient
	prefix       string
	clientCache  *invalidationCounter // go-redis's client-side cache; nil when reads always go to Redis
	hits, misses atomic.Uint64
}

var _ Store = (*Redis)(nil)

// NewRedis builds the client from cfg; it connects lazily, on the first command.
func NewRedis(cfg Config) (*Redis, error) {
	opts, err := cfg.universalOptions()
	if err != nil {
		return nil, err
	}
	clientCache, _ := opts.ClientSideCache.(*invalidationCounter)
	return &Redis{client: redis.NewUniversalClient(opts), prefix: cfg.KeyPrefix, clientCache: clientCache}, nil
}

// Ping checks the connection; an authentication failure says so.
func (r *Redis) Ping(ctx context.Context) error { return describe(r.client.Ping(ctx).Err()) }

// Get reads a value and its remaining TTL in one round trip. Pipelines bypass the client cache, so
// this is always Redis's answer.
func (r *Redis) Get(ctx context.Context, key string) (Entry, error) {
	var get *redis.StringCmd
	var ttl *redis.DurationCmd
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, key)
		ttl = p.PTTL(ctx, key)
		return nil
	})
	if errors.Is(get.Err(), redis.Nil) {
		r.misses.Add(1)
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, describe(err)
	}
	r.hits.Add(1)
	value, _ := get.Bytes()
	return Entry{Value: value, Backend: BackendRedis, TTL: max(ttl.Val(), 0)}, nil
}

// getCached reads a value through the client cache when it is on: no round trip when this client
// read the key before and Redis has not invalidated it since. It does not know the TTL.
func (r *Redis) getCached(ctx context.Context, key string) ([]byte, error) {
	value, err := r.client.Get(ctx, key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		r.misses.Add(1)
		return nil, ErrNotFound
	case err != nil:
		return nil, describe(err)
	}
	r.hits.Add(1)
	return value, nil
}

// ttl is a key's remaining TTL; ErrNotFound when the key is gone, 0 when it has none.
func (r *Redis) ttl(ctx context.Context, key string) (time.Duration, error) {
	d, err := r.client.PTTL(ctx, key).Result()
	switch {
	case err != nil:
		return 0, describe(err)
	case d == -2: // go-redis passes PTTL's -2 (no such key) and -1 (no expiry) through unscaled
		return 0, ErrNotFound
	}
	return max(d, 0), nil
}

// Set writes value with ttl; ttl <= 0 deletes the key.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return r.Delete(ctx, key)
	}
	return describe(r.client.Set(ctx, key, value, ttl).Err())
}

// Update is an optimistic WATCH/GET/MULTI/SET/EXEC transaction, retried with a jittered backoff
// while other writers change the key in between. Errors of fn come back unchanged.
func (r *Redis) Update(ctx context.Context, key string, fn UpdateFunc) error {
	txf := func(tx *redis.Tx) error {
		current, err := tx.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			current, err = nil, nil
		}
		if err != nil {
			return err
		}
		value, ttl, err := fn(current)
		if err != nil {
			return updateFuncError{err}
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if ttl <= 0 {
				p.Del(ctx, key)
			} else {
				p.Set(ctx, key, value, ttl)
			}
			return nil
		})
		return err
	}
	for attempt := range maxUpdateRetries {
		err := r.client.Watch(ctx, txf, key)
		var fnErr updateFuncError
		switch {
		case errors.As(err, &fnErr):
			return fnErr.err
		case !errors.Is(err, redis.TxFailedErr):
			return describe(err)
		}
		backoff := time.Duration(rand.Int64N(int64(time.Millisecond) * int64(min(attempt+1, 10))))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fmt.Errorf("updating %s after %d attempts: %w", key, maxUpdateRetries, ErrUpdateConflict)
}

// updateFuncError carries an error of the caller's function through the transaction, so that it
// is not mistaken for a Redis failure.
type updateFuncError struct{ err error }

func (e updateFuncError) Error() string { return e.err.Error() }
func (e updateFuncError) Unwrap() error { return e.err }

// Delete removes keys with one DEL each in a pipeline, so it also works across Cluster slots.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, k)
		}
		return nil
	})
	return describe(err)
}

// Keys walks the key space with SCAN MATCH prefix* (on every master in Cluster mode), never KEYS,
// which would block Redis while it walks every key.
func (r *Redis) Keys(ctx context.Context, prefix string) ([]string, error) {
	var (
		mu  sync.Mutex
		out []string
	)
	err := r.scan(ctx, prefix, func(key string) {
		mu.Lock()
		out = append(out, key)
		mu.Unlock()
	})
	return out, err
}

func (r *Redis) countKeys(ctx context.Context, prefix string) (int, error) {
	var n atomic.Int64
	err := r.scan(ctx, prefix, func(string) { n.Add(1) })
	return int(n.Load()), err
}

func (r *Redis) scan(ctx context.Context, prefix string, each func(key string)) error {
	match := escapeGlob(prefix) + "*"
	scanNode := func(ctx context.Context, c redis.Cmdable) error {
		// SCAN may return a key twice while Redis rehashes; the seen set keeps one.
		seen := map[string]struct{}{}
		iter := c.Scan(ctx, 0, match, 1000).Iterator()
		for iter.Next(ctx) {
			if _, dup := seen[iter.Val()]; !dup {
				seen[iter.Val()] = struct{}{}
				each(iter.Val())
			}
		}
		return iter.Err()
	}
	if cluster, ok := r.client.(*redis.ClusterClient); ok {
		return describe(cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scanNode(ctx, c) }))
	}
	return describe(scanNode(ctx, r.client))
}

// Stats pings Redis and counts the keys under the configured prefix.
func (r *Redis) Stats(ctx context.Context) Stats {
	s := Stats{Serving: BackendRedis, RedisEnabled: true, RedisHits: r.hits.Load(), RedisMisses: r.misses.Load()}
	n, err := r.countKeys(ctx, r.prefix)
	if err != nil {
		s.LastError, s.LastErrorAt = err.Error(), time.Now()
		return s
	}
	s.RedisUp, s.Keys = true, n
	return s
}

// resyncScript writes a value unless Redis holds one that lives at least as long — with the same
// TTL per key, one written at the same time or later — or one without expiry, set on purpose.
var resyncScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 or (ttl >= 0 and ttl < tonumber(ARGV[2])) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

// memoryCopy is an entry written to memory while Redis was down.
type memoryCopy struct {
	key   string
	value []byte
	ttl   time.Duration
}

// copyIfNewer writes the outage's entries in one pipeline, each unless Redis holds a newer value.
// It returns the keys copied and the keys that failed.
func (r *Redis) copyIfNewer(ctx context.Context, entries []memoryCopy) (copied int, failed []string, err error) {
	if len(entries) == 0 {
		return 0, nil, nil
	}
	if err := resyncScript.Load(ctx, r.client).Err(); err != nil {
		return 0, keysOf(entries), describe(err)
	}
	cmds := make([]*redis.Cmd, len(entries))
	_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range entries {
			cmds[i] = resyncScript.EvalSha(ctx, p, []string{e.key}, e.value, max(e.ttl.Milliseconds(), 1))
		}
		return nil
	})
	for i, cmd := range cmds {
		n, cmdErr := cmd.Int()
		switch {
		case cmdErr != nil:
			failed = append(failed, entries[i].key)
		case n == 1:
			copied++
		}
	}
	return copied, failed, describe(err)
}

func keysOf(entries []memoryCopy) []string {
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.key
	}
	return keys
}

// Close closes the connection pool.
func (r *Redis) Close() error { return r.client.Close() }

// escapeGlob quotes SCAN MATCH metacharacters in a literal prefix.
func escapeGlob(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
