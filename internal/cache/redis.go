package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxUpdateRetries bounds the optimistic transaction of Update under contention.
const maxUpdateRetries = 50

// Redis is a Store on a go-redis UniversalClient: standalone, Sentinel or Cluster.
type Redis struct {
	client redis.UniversalClient
}

var _ Store = (*Redis)(nil)

// NewRedis connects lazily: the first command dials.
func NewRedis(cfg Config) (*Redis, error) {
	opts, err := cfg.universalOptions()
	if err != nil {
		return nil, err
	}
	return &Redis{client: redis.NewUniversalClient(opts)}, nil
}

// Ping checks the connection.
func (r *Redis) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }

// Get reads a value and its remaining TTL in one round trip.
func (r *Redis) Get(ctx context.Context, key string) (Entry, error) {
	var get *redis.StringCmd
	var ttl *redis.DurationCmd
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, key)
		ttl = p.PTTL(ctx, key)
		return nil
	})
	if errors.Is(err, redis.Nil) || errors.Is(get.Err(), redis.Nil) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, err
	}
	value, _ := get.Bytes()
	return Entry{Value: value, Backend: BackendRedis, TTL: max(ttl.Val(), 0)}, nil
}

// Set writes value with ttl.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return r.Delete(ctx, key)
	}
	return r.client.Set(ctx, key, value, ttl).Err()
}

// Update is an optimistic WATCH/MULTI transaction, retried while another writer gets in between.
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
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if ttl <= 0 {
				p.Del(ctx, key)
				return nil
			}
			p.Set(ctx, key, value, ttl)
			return nil
		})
		return err
	}
	for range maxUpdateRetries {
		err := r.client.Watch(ctx, txf, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return fmt.Errorf("updating %s: gave up after %d conflicting writers", key, maxUpdateRetries)
}

// Delete removes keys one by one, so it also works across Cluster slots.
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
	return err
}

// Keys walks the key space with SCAN (on every master in Cluster mode).
func (r *Redis) Keys(ctx context.Context, prefix string) ([]string, error) {
	match := escapeGlob(prefix) + "*"
	scan := func(ctx context.Context, c redis.Cmdable) ([]string, error) {
		var keys []string
		iter := c.Scan(ctx, 0, match, 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		return keys, iter.Err()
	}
	cluster, ok := r.client.(*redis.ClusterClient)
	if !ok {
		return scan(ctx, r.client)
	}
	var (
		mu  sync.Mutex
		out []string
	)
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		keys, err := scan(ctx, c)
		mu.Lock()
		out = append(out, keys...)
		mu.Unlock()
		return err
	})
	return out, err
}

// resyncScript writes a value unless Redis holds one that lives longer, that is, one written later
// with the same TTL: an outage's memory copy must not overwrite a newer value from another replica.
var resyncScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

// setIfNewer copies an entry written during an outage, keeping its remaining TTL.
func (r *Redis) setIfNewer(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	n, err := resyncScript.Run(ctx, r.client, []string{key}, value, ttl.Milliseconds()).Int()
	return n == 1, err
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
