package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// UpdateAll is Update of several keys together, fns by key: while Redis serves, one optimistic
// transaction over all of them, which takes three round trips (watch, read, write) where an
// Update per key takes three each. On Redis Cluster, whose transactions take the keys of one hash
// slot only, and while memory serves, it is one Update per key. An error of a fn writes nothing
// more and is returned unchanged.
func (c *Cache) UpdateAll(ctx context.Context, fns map[string]UpdateFunc) error {
	if _, cluster := c.client.(*redis.ClusterClient); cluster || len(fns) == 1 {
		return c.updateEach(ctx, fns)
	}
	c.writes.RLock()
	if !c.up.Load() {
		c.writes.RUnlock()
		return c.updateEach(ctx, fns)
	}
	defer c.writes.RUnlock()
	start := c.mem.clock.Now()
	written, err := c.updateAll(ctx, fns)
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
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	}
	c.failed(err)
	c.countFallback()
	for key, fn := range fns {
		if err := c.mem.update(key, fn); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cache) updateEach(ctx context.Context, fns map[string]UpdateFunc) error {
	for key, fn := range fns {
		if err := c.Update(ctx, key, fn); err != nil {
			return err
		}
	}
	return nil
}

type write struct {
	value []byte
	ttl   time.Duration
}

// updateAll is update's transaction over several keys.
func (c *Cache) updateAll(ctx context.Context, fns map[string]UpdateFunc) (map[string]write, error) {
	keys := make([]string, 0, len(fns))
	for k := range fns {
		keys = append(keys, k)
	}
	var written map[string]write
	txf := func(tx *redis.Tx) error {
		gets := make([]*redis.StringCmd, len(keys))
		if _, err := tx.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				gets[i] = p.Get(ctx, k)
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
			value, ttl, err := fns[k](current)
			if err != nil {
				return updateFuncError{err}
			}
			written[k] = write{value, ttl}
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
		err := c.client.Watch(ctx, txf, keys...)
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
	return nil, fmt.Errorf("updating %d keys after %d attempts: %w", len(keys), maxUpdateRetries, ErrUpdateConflict)
}
