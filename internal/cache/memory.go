package cache

import (
	"container/list"
	"context"
	"strings"
	"sync"
	"time"
)

// Memory is a bounded, TTL-aware in-process store: when full, the oldest inserted entry goes.
type Memory struct {
	maxEntries int
	now        func() time.Time

	mu    sync.RWMutex
	items map[string]*list.Element
	order *list.List // insertion order, oldest at the front

	stop chan struct{}
	once sync.Once
}

type memoryItem struct {
	key       string
	value     []byte
	expiresAt time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns a store holding at most maxEntries; expired entries are swept every sweepEvery
// (0: never, they are still invisible to reads).
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
	now := m.now()
	m.mu.RLock()
	el, ok := m.items[key]
	var it memoryItem
	if ok {
		it = *el.Value.(*memoryItem)
	}
	m.mu.RUnlock()
	if !ok || !it.expiresAt.After(now) {
		return Entry{}, ErrNotFound
	}
	return Entry{Value: it.value, Backend: BackendMemory, TTL: it.expiresAt.Sub(now)}, nil
}

// Set stores value for ttl.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setLocked(key, value, ttl)
	return nil
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

// Update applies fn under the store's lock.
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
func (m *Memory) Len() int {
	keys, _ := m.Keys(context.Background(), "")
	return len(keys)
}

// entry returns a live entry with its expiry, for the resync after an outage.
func (m *Memory) entry(key string) (value []byte, expiresAt time.Time, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	el, found := m.items[key]
	if !found {
		return nil, time.Time{}, false
	}
	it := el.Value.(*memoryItem)
	return it.value, it.expiresAt, it.expiresAt.After(m.now())
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
