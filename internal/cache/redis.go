package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
)

// ErrUpdateConflict means other writers kept changing a key during Update until its retries ran
// out. Redis is healthy; the caller may retry later.
var ErrUpdateConflict = errors.New("cache: too many concurrent writers of the key")

// maxUpdateRetries bounds Update's optimistic transaction under contention. Every round lets at
// least one writer of the key through, and the backoff spreads the others out.
const maxUpdateRetries = 100

// copyBackBatch is how many entries one recovery pipeline copies.
const copyBackBatch = 500

// read is one round trip: the value and its remaining TTL (0 without expiry). Pipelines bypass
// go-redis's client-side cache, so this is always Redis's answer.
func (c *Cache) read(ctx context.Context, key string) ([]byte, time.Duration, error) {
	var get *redis.StringCmd
	var ttl *redis.DurationCmd
	_, err := c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		get, ttl = p.Get(ctx, key), p.PTTL(ctx, key)
		return nil
	})
	if errors.Is(get.Err(), redis.Nil) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, describe(err)
	}
	value, _ := get.Bytes()
	return value, max(ttl.Val(), 0), nil
}

// write is what update wrote to a key.
type write struct {
	value []byte
	ttl   time.Duration
}

// update is one WATCH/GET…/MULTI/SET…/EXEC transaction over the keys of changes (GETRANGE for a
// Change with a Head), retried with a jittered backoff while other writers change any of them in
// between. It returns what it wrote, kept keys left out; a Fn's error comes back as
// updateFuncError.
func (c *Cache) update(ctx context.Context, changes map[string]Change) (map[string]write, error) {
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	var written map[string]write
	txf := func(tx *redis.Tx) error {
		gets := make([]*redis.StringCmd, len(keys))
		if _, err := tx.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				if n := changes[k].Head; n > 0 {
					gets[i] = p.GetRange(ctx, k, 0, int64(n)-1)
				} else {
					gets[i] = p.Get(ctx, k)
				}
			}
			return nil
		}); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		written = make(map[string]write, len(keys))
		for i, k := range keys {
			current, err := gets[i].Bytes()
			if errors.Is(err, redis.Nil) {
				current, err = nil, nil
			}
			if err != nil {
				return err
			}
			value, ttl, err := changes[k].Fn(head(current, changes[k].Head))
			switch {
			case errors.Is(err, Keep):
				continue
			case err != nil:
				return updateFuncError{err}
			}
			written[k] = write{value, ttl}
		}
		if len(written) == 0 {
			return nil
		}
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for k, w := range written {
				if w.ttl <= 0 {
					p.Del(ctx, k)
				} else {
					p.Set(ctx, k, w.value, w.ttl)
				}
			}
			return nil
		})
		return err
	}
	for attempt := range maxUpdateRetries {
		err := c.untracked.Watch(ctx, txf, keys...)
		if !errors.Is(err, redis.TxFailedErr) {
			return written, err
		}
		backoff := time.Duration(rand.Int64N(int64(time.Millisecond) * int64(min(attempt+1, 10))))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("updating %s after %d attempts: %w", strings.Join(keys, ", "), maxUpdateRetries, ErrUpdateConflict)
}

// updateFuncError carries fn's error through the transaction, so that it is not taken for a Redis
// failure.
type updateFuncError struct{ err error }

func (e updateFuncError) Error() string { return e.err.Error() }

// scan walks the key space with SCAN MATCH prefix* (on every master in Cluster mode), never KEYS,
// which would block Redis while it walks every key.
func (c *Cache) scan(ctx context.Context, prefix string) ([]string, error) {
	var mu sync.Mutex
	seen := map[string]struct{}{} // SCAN may return a key twice while Redis rehashes
	scanNode := func(ctx context.Context, node redis.Cmdable) error {
		iter := node.Scan(ctx, 0, escapeGlob(prefix)+"*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			seen[iter.Val()] = struct{}{}
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cluster, ok := c.client.(*redis.ClusterClient); ok {
		err = cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return scanNode(ctx, node) })
	} else {
		err = scanNode(ctx, c.client)
	}
	if err != nil {
		return nil, describe(err)
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	return keys, nil
}

// identity is the run_id of the server answering (of every master in Cluster mode), which changes
// when a server restarts or another takes over. A user without the right to INFO gets a plain
// PING and no identity.
func (c *Cache) identity(ctx context.Context) (string, error) {
	cluster, ok := c.client.(*redis.ClusterClient)
	if !ok {
		return runID(ctx, c.client)
	}
	var mu sync.Mutex
	var ids []string
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		id, err := runID(ctx, node)
		mu.Lock()
		ids = append(ids, id)
		mu.Unlock()
		return err
	})
	slices.Sort(ids)
	return strings.Join(ids, ","), describe(err)
}

func runID(ctx context.Context, node redis.Cmdable) (string, error) {
	info, err := node.Info(ctx, "server").Result()
	if err != nil && strings.HasPrefix(err.Error(), "NOPERM") {
		return "", node.Ping(ctx).Err()
	}
	if err != nil {
		return "", describe(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if id, ok := strings.CutPrefix(line, "run_id:"); ok {
			return id, nil
		}
	}
	return "", nil
}

// escapeGlob quotes SCAN MATCH metacharacters, so the prefix is literal.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// copyBackScript writes a value unless Redis holds the same value, or one that lives at least as
// long (with one TTL per key, one written at the same time or later), or one without expiry.
var copyBackScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 or (ttl >= 0 and ttl < tonumber(ARGV[2])) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

// copyBack writes entries to Redis, newer wins, and returns how many it wrote.
func (c *Cache) copyBack(ctx context.Context, entries []ownedEntry) (int, error) {
	copied := 0
	for start := 0; start < len(entries); start += copyBackBatch {
		batch := entries[start:min(start+copyBackBatch, len(entries))]
		cmds := make([]*redis.Cmd, len(batch))
		_, err := c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, e := range batch {
				cmds[i] = copyBackScript.Eval(ctx, p, []string{e.key}, e.value, max(e.ttl.Milliseconds(), 1))
			}
			return nil
		})
		if err != nil {
			return copied, describe(err)
		}
		for _, cmd := range cmds {
			if n, _ := cmd.Int(); n == 1 {
				copied++
			}
		}
	}
	return copied, nil
}

// tracker is go-redis's client-side cache, counting what may make a value read from Redis stale:
// an invalidation from Redis, a flush, or a connection whose tracking ended. go-redis calls these
// methods; the count is the generation memory confirms values in. go-redis's own cache stays empty:
// every read is a pipeline, which it does not cache.
type tracker struct {
	*redis.LocalCache
	n atomic.Uint64
}

func (t *tracker) DeleteByRedisKey(redisKey string) int {
	t.n.Add(1)
	return t.LocalCache.DeleteByRedisKey(redisKey)
}

func (t *tracker) DeleteByCacheKey(cacheKey string) bool {
	t.n.Add(1)
	return t.LocalCache.DeleteByCacheKey(cacheKey)
}

func (t *tracker) EvictByConn(connID uint64) int {
	t.n.Add(1)
	return t.LocalCache.EvictByConn(connID)
}

func (t *tracker) Flush() int {
	t.n.Add(1)
	return t.LocalCache.Flush()
}

// generation changes whenever a value read from Redis may have become stale; nil: no tracking.
func (t *tracker) generation() uint64 {
	if t == nil {
		return 0
	}
	return t.n.Load()
}

// authFailure prefixes an authentication error, which an operator must fix (unlike an outage).
const authFailure = "redis auth failed"

// describe prefixes authentication failures (WRONGPASS, NOAUTH) so that logs and stats say what to fix.
func describe(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, marker := range []string{"WRONGPASS", "NOAUTH", "invalid password", "invalid username-password"} {
		if strings.Contains(msg, marker) && !strings.HasPrefix(msg, authFailure) {
			return fmt.Errorf("%s: %w", authFailure, err)
		}
	}
	return err
}

var routeRedisLogsOnce sync.Once

// routeRedisLogs sends go-redis's own messages (one per failed dial) to the cache's logger at debug
// verbosity instead of stderr; the cache logs outages itself, rate-limited. go-redis's logger is
// process-wide, so the first cache sets it.
func routeRedisLogs(log logr.Logger) {
	routeRedisLogsOnce.Do(func() { redis.SetLogger(redisLogger{log.WithName("go-redis").V(1)}) })
}

type redisLogger struct{ log logr.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Info(fmt.Sprintf(format, v...))
}
