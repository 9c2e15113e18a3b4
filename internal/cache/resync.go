package cache

import (
	"context"
	"errors"
	"time"
)

const (
	// resyncBatch is how many entries one pipeline copies.
	resyncBatch = 500
	// unlockedResyncRounds is how many times the resync drains the journal while writers go on;
	// the last round holds the lock, so the breaker closes on an empty journal.
	unlockedResyncRounds = 4
)

// journal records keys whose latest write (or delete) reached memory only, for the resync. It
// reports whether Redis is still down; when it is up again, the caller retries Redis.
func (t *Tiered) journal(deleted bool, keys ...string) (redisDown bool) {
	if t.redis == nil {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		if deleted {
			delete(t.dirty, k)
			t.deleted[k] = struct{}{}
		} else {
			delete(t.deleted, k)
			t.dirty[k] = struct{}{}
		}
	}
	return !t.up.Load()
}

// recover copies the journal to Redis and closes the breaker. An entry is copied with its
// remaining TTL unless Redis holds a newer value (see resyncScript); deletes are replayed.
func (t *Tiered) recover(ctx context.Context) error {
	copied, deletes := 0, 0
	for round := 0; ; round++ {
		last := round >= unlockedResyncRounds
		t.mu.Lock()
		dirty, deleted := t.dirty, t.deleted
		if len(dirty)+len(deleted) == 0 {
			t.closeBreakerLocked()
			t.mu.Unlock()
			break
		}
		t.dirty, t.deleted = map[string]struct{}{}, map[string]struct{}{}
		if !last {
			t.mu.Unlock()
		}
		n, err := t.replay(ctx, dirty, deleted)
		if !last {
			t.mu.Lock()
		}
		if err != nil {
			t.requeueLocked(dirty, deleted)
			t.mu.Unlock()
			return err
		}
		copied, deletes = copied+n, deletes+len(deleted)
		if last {
			t.closeBreakerLocked()
			t.mu.Unlock()
			break
		}
		t.mu.Unlock()
	}
	t.resynced.Add(uint64(copied))
	t.obs.SetBackendUp(true)
	t.log.Info("redis serves the cache", "addrs", t.cfg.Addrs, "copiedFromMemory", copied, "replayedDeletes", deletes)
	return nil
}

func (t *Tiered) closeBreakerLocked() { t.up.Store(true) }

// replay writes one drained journal to Redis and returns how many entries it copied.
func (t *Tiered) replay(ctx context.Context, dirty, deleted map[string]struct{}) (int, error) {
	entries := make([]memoryCopy, 0, len(dirty))
	now := time.Now()
	for key := range dirty {
		// An entry that expired or was evicted meanwhile has nothing left to copy.
		if value, expiresAt, ok := t.memory.lookup(key); ok {
			entries = append(entries, memoryCopy{key: key, value: value, ttl: expiresAt.Sub(now)})
		}
	}
	copied := 0
	for start := 0; start < len(entries); start += resyncBatch {
		n, failed, err := t.redis.copyIfNewer(ctx, entries[start:min(start+resyncBatch, len(entries))])
		copied += n
		if err != nil || len(failed) > 0 {
			return copied, errors.Join(err, errors.New("copying the outage's writes to redis failed; retrying on the next health check"))
		}
	}
	keys := make([]string, 0, len(deleted))
	for k := range deleted {
		keys = append(keys, k)
	}
	return copied, t.redis.Delete(ctx, keys...)
}

// requeueLocked puts back a journal that failed to replay, except keys written or deleted since,
// whose newer journal entry wins.
func (t *Tiered) requeueLocked(dirty, deleted map[string]struct{}) {
	for _, src := range []struct {
		keys map[string]struct{}
		dst  map[string]struct{}
	}{{dirty, t.dirty}, {deleted, t.deleted}} {
		for k := range src.keys {
			_, rewritten := t.dirty[k]
			_, redeleted := t.deleted[k]
			if !rewritten && !redeleted {
				src.dst[k] = struct{}{}
			}
		}
	}
}
