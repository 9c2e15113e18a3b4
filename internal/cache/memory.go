package cache

import (
	"container/list"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Memory is a bounded, TTL-aware in-process store. When full, the entry inserted (or last
// rewritten) longest ago goes first. One RWMutex guards it: reads share the lock and copy a few
// words out, so they scale across cores; see docs/cache.md for the measurements.
type Memory struct {
	maxEntries int
	now        func() time.Time

	mu    sync.RWMutex
	items map[string]*list.Element
	order *list.List // of *memoryItem, oldest write at the front

	hits, misses atomic.Uint64

	stop chan struct{}
	once sync.Once
}

type memoryItem struct {
	key       string
	value     []byte
	expiresAt time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns a store holding at most maxEntries (at least 1). Expired entries are invisible
// at once and removed by a sweeper every sweepEvery (0: no sweeper; eviction still bounds the size).
func NewMemory(maxEntries int, sweepEvery time.Duration) *Memory {
	m := &Memory{maxEntries: max(maxEntries, 1), now: time.Now, items: map[string]*list.Element{},
		order: list.New(), stop: make(chan struct{})}
	if sweepEvery > 0 {
		go m.sweepLoop(sweepEvery)
	}
	return m
}

// Get returns a live entry.
func (m *Memory) Get(_ context.Context, key string) (Entry, error) {
	now := m.now() // once: time.Now costs about 100 ns on some VMs, a third of a Get
	value, expiresAt, ok := m.lookupAt(key, now)
	if !ok {
		m.misses.Add(1)
		return Entry{}, ErrNotFound
	}
	m.hits.Add(1)
	return Entry{Value: value, Backend: BackendMemory, TTL: expiresAt.Sub(now)}, nil
}

// lookup returns a live entry without counting a read.
func (m *Memory) lookup(key string) (value []byte, expiresAt time.Time, ok bool) {
	return m.lookupAt(key, m.now())
}

func (m *Memory) lookupAt(key string, now time.Time) (value []byte, expiresAt time.Time, ok bool) {
	m.mu.RLock()
	el, found := m.items[key]
	if found {
		it := el.Value.(*memoryItem)
		value, expiresAt = it.value, it.expiresAt
	}
	m.mu.RUnlock()
	if !found || !expiresAt.After(now) {
		return nil, time.Time{}, false
	}
	return value, expiresAt, true
}

// Set stores value for ttl; ttl <= 0 deletes the key.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setLocked(key, value, ttl)
	return nil
}

// fill stores a copy read from Redis unless memory already holds one expiring at about the same
// time, that is, the same write: steady-state reads then only take the read lock.
func (m *Memory) fill(key string, value []byte, ttl time.Duration) {
	const sameWrite = time.Second
	if ttl <= 0 {
		return
	}
	now := m.now()
	if _, expiresAt, ok := m.lookupAt(key, now); ok && expiresAt.After(now.Add(ttl-sameWrite)) {
		return
	}
	_ = m.Set(context.Background(), key, value, ttl)
}

func (m *Memory) setLocked(key string, value []byte, ttl time.Duration) {
	if ttl <= 0 {
		m.deleteLocked(key)
		return
	}
	it := &memoryItem{key: key, value: value, expiresAt: m.now().Add(ttl)}
	if el, ok := m.items[key]; ok {
		m.order.Remove(el)
	}
	m.items[key] = m.order.PushBack(it)
	for len(m.items) > m.maxEntries {
		oldest := m.order.Front()
		m.order.Remove(oldest)
		delete(m.items, oldest.Value.(*memoryItem).key)
	}
}

func (m *Memory) deleteLocked(key string) {
	if el, ok := m.items[key]; ok {
		m.order.Remove(el)
		delete(m.items, key)
	}
}

// Update applies fn under the store's write lock, so concurrent updates of any key serialise.
func (m *Memory) Update(_ context.Context, key string, fn UpdateFunc) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var current []byte
	if el, ok := m.items[key]; ok {
		if it := el.Value.(*memoryItem); it.expiresAt.After(m.now()) {
			current = it.value
		}
	}
	value, ttl, err := fn(current)
	if err != nil {
		return err
	}
	m.setLocked(key, value, ttl)
	return nil
}

// Delete removes keys.
func (m *Memory) Delete(_ context.Context, keys ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		m.deleteLocked(k)
	}
	return nil
}

// Keys lists live keys under prefix.
func (m *Memory) Keys(_ context.Context, prefix string) ([]string, error) {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for k, el := range m.items {
		if strings.HasPrefix(k, prefix) && el.Value.(*memoryItem).expiresAt.After(now) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Len counts live entries.
func (m *Memory) Len() int { return m.count("") }

func (m *Memory) count(prefix string) int {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for k, el := range m.items {
		if strings.HasPrefix(k, prefix) && el.Value.(*memoryItem).expiresAt.After(now) {
			n++
		}
	}
	return n
}

// Stats reports the live entries and the reads.
func (m *Memory) Stats(context.Context) Stats {
	n := m.Len()
	return Stats{Serving: BackendMemory, MemoryEntries: n, Keys: n, MemoryHits: m.hits.Load(), MemoryMisses: m.misses.Load()}
}

// Sweep removes expired entries.
func (m *Memory) Sweep() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, el := range m.items {
		if !el.Value.(*memoryItem).expiresAt.After(now) {
			m.order.Remove(el)
			delete(m.items, k)
		}
	}
}

func (m *Memory) sweepLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.Sweep()
		case <-m.stop:
			return
		}
	}
}

// Close stops the sweeper.
func (m *Memory) Close() error {
	m.once.Do(func() { close(m.stop) })
	return nil
}
