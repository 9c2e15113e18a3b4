package cache

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// memory is the process's one copy of the values: what it wrote and what it read from Redis.
// Bounded: when full, expired entries go, then the one closest to expiry.
type memory struct {
	maxEntries int
	clock      clock.PassiveClock // the real clock; a fake one in tests
	mu         sync.RWMutex
	items      map[string]item
}

type item struct {
	value     []byte
	expiresAt time.Time
	// own marks a value this process wrote: the recovery copies it back to Redis.
	own bool
	// readAt and generation confirm a value read from Redis: it answers reads without a round
	// trip while the tracker's generation is unchanged. Zero readAt: not confirmed.
	readAt     time.Time
	generation uint64
}

func newMemory(maxEntries int) *memory {
	return &memory{maxEntries: max(maxEntries, 1), clock: clock.RealClock{}, items: map[string]item{}}
}

func (m *memory) lookup(key string, now time.Time) (item, bool) {
	m.mu.RLock()
	it, ok := m.items[key]
	m.mu.RUnlock()
	return it, ok && it.expiresAt.After(now)
}

func (m *memory) get(key string) ([]byte, bool) {
	it, ok := m.lookup(key, m.clock.Now())
	return it.value, ok
}

// confirmed answers a value read from Redis if nothing was invalidated since and it is younger
// than maxAge, the bound should an invalidation be lost.
func (m *memory) confirmed(key string, generation uint64, maxAge time.Duration) ([]byte, bool) {
	now := m.clock.Now()
	it, ok := m.lookup(key, now)
	if !ok || it.readAt.IsZero() || it.generation != generation || now.Sub(it.readAt) >= maxAge {
		return nil, false
	}
	return it.value, true
}

// fill keeps a value read from Redis, confirmed in generation when tracked. An unchanged value keeps
// its bytes and its ownership; fill returns the bytes kept.
func (m *memory) fill(key string, value []byte, ttl time.Duration, generation uint64, tracked bool) []byte {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if ttl <= 0 { // a key without expiry was not written by this cache: not kept
		delete(m.items, key)
		return value
	}
	it, ok := m.items[key]
	if !ok || !bytes.Equal(it.value, value) {
		it = item{value: value}
	}
	it.expiresAt = now.Add(ttl)
	it.readAt, it.generation = time.Time{}, 0
	if tracked {
		it.readAt, it.generation = now, generation
	}
	m.putLocked(key, it)
	return it.value
}

// set stores a value this process wrote, unconfirmed: the next read asks Redis.
func (m *memory) set(key string, value []byte, expiresAt time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !expiresAt.After(m.clock.Now()) {
		delete(m.items, key)
		return
	}
	m.putLocked(key, item{value: value, expiresAt: expiresAt, own: true})
}

// update applies the change under the write lock, so updates of any key serialise.
func (m *memory) update(key string, change Change) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var current []byte
	if it, ok := m.items[key]; ok && it.expiresAt.After(m.clock.Now()) {
		current = head(it.value, change.Head)
	}
	value, ttl, err := change.Fn(current)
	if errors.Is(err, Keep) {
		return nil
	}
	if err != nil {
		return err
	}
	if ttl <= 0 {
		delete(m.items, key)
		return nil
	}
	m.putLocked(key, item{value: value, expiresAt: m.clock.Now().Add(ttl), own: true})
	return nil
}

// head is what a Change with Head n sees of value: all of it when n <= 0, else its first n bytes,
// and nil for an empty value, as Redis's GETRANGE answers an absent key and an empty value alike.
func head(value []byte, n int) []byte {
	switch {
	case n <= 0:
		return value
	case len(value) == 0:
		return nil
	}
	return value[:min(n, len(value))]
}

func (m *memory) putLocked(key string, it item) {
	if _, ok := m.items[key]; !ok && len(m.items) >= m.maxEntries {
		m.evictLocked()
	}
	m.items[key] = it
}

// evictLocked removes the expired entries, or else the one closest to expiry.
func (m *memory) evictLocked() {
	now := m.clock.Now()
	var first string
	var firstAt time.Time
	for k, it := range m.items {
		if !it.expiresAt.After(now) {
			delete(m.items, k)
		} else if first == "" || it.expiresAt.Before(firstAt) {
			first, firstAt = k, it.expiresAt
		}
	}
	if len(m.items) >= m.maxEntries {
		delete(m.items, first)
	}
}

func (m *memory) delete(keys ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.items, k)
	}
}

func (m *memory) keys(prefix string) []string {
	now := m.clock.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for k, it := range m.items {
		if strings.HasPrefix(k, prefix) && it.expiresAt.After(now) {
			out = append(out, k)
		}
	}
	return out
}

// ownedEntry is a value this process wrote, with its remaining TTL.
type ownedEntry struct {
	key   string
	value []byte
	ttl   time.Duration
}

func (m *memory) owned() []ownedEntry {
	now := m.clock.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []ownedEntry
	for k, it := range m.items {
		if it.own && it.expiresAt.After(now) {
			out = append(out, ownedEntry{key: k, value: it.value, ttl: it.expiresAt.Sub(now)})
		}
	}
	return out
}
