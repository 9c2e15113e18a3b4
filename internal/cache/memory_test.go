package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestMemoryBoundEvictsTheOldest(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(100, 0)
	for i := range 130 {
		_ = m.Set(ctx, fmt.Sprintf("k%d", i), []byte("v"), time.Hour)
	}
	if m.Len() != 100 {
		t.Fatalf("memory holds %d entries, bound is 100", m.Len())
	}
	for i := range 130 {
		_, err := m.Get(ctx, fmt.Sprintf("k%d", i))
		if evicted := errors.Is(err, ErrNotFound); evicted != (i < 30) {
			t.Fatalf("k%d evicted = %v; want only the 30 oldest gone", i, evicted)
		}
	}
	// Rewriting a key makes it the newest: k30 survives the next insertion, k31 goes.
	_ = m.Set(ctx, "k30", []byte("v"), time.Hour)
	_ = m.Set(ctx, "new", []byte("v"), time.Hour)
	if _, err := m.Get(ctx, "k30"); err != nil {
		t.Fatal("a rewritten key was evicted as if it were old")
	}
	if _, err := m.Get(ctx, "k31"); !errors.Is(err, ErrNotFound) {
		t.Fatal("k31, now the oldest, was not evicted")
	}
}

func TestMemoryExpiresAndSweeps(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	m := NewMemory(10, 0)
	m.now = func() time.Time { return now }
	_ = m.Set(ctx, "short", []byte("v"), time.Second)
	_ = m.Set(ctx, "long", []byte("v"), time.Hour)
	if e, err := m.Get(ctx, "short"); err != nil || e.TTL != time.Second {
		t.Fatalf("get = %+v, %v", e, err)
	}
	now = now.Add(2 * time.Second)
	if _, err := m.Get(ctx, "short"); !errors.Is(err, ErrNotFound) {
		t.Fatal("an expired entry was served")
	}
	if e, _ := m.Get(ctx, "long"); e.TTL != time.Hour-2*time.Second {
		t.Fatalf("remaining TTL = %s", e.TTL)
	}
	if m.Len() != 1 || len(m.items) != 2 {
		t.Fatalf("before the sweep: %d live, %d stored", m.Len(), len(m.items))
	}
	m.Sweep()
	if len(m.items) != 1 || m.order.Len() != 1 {
		t.Fatalf("after the sweep %d entries are stored, want 1", len(m.items))
	}
	if s := m.Stats(ctx); s.MemoryHits != 2 || s.MemoryMisses != 1 || s.MemoryEntries != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestMemoryBackgroundSweeperStopsOnClose(t *testing.T) {
	m := NewMemory(10, 5*time.Millisecond)
	_ = m.Set(context.Background(), "k", []byte("v"), time.Millisecond)
	eventually(t, "the sweeper removes the expired entry", func() bool {
		m.mu.RLock()
		defer m.mu.RUnlock()
		return len(m.items) == 0
	})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	_ = m.Close() // idempotent
}

// Many readers and writers at once, bound respected and no race (run with -race).
func TestMemoryUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(500, time.Millisecond)
	defer func() { _ = m.Close() }()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 2000 {
				key := fmt.Sprintf("k%d", (g*7919+i)%1000)
				switch i % 4 {
				case 0:
					_ = m.Set(ctx, key, []byte(key), time.Duration(i%3+1)*time.Millisecond)
				case 1:
					if e, err := m.Get(ctx, key); err == nil && string(e.Value) != key {
						t.Errorf("%s holds %q", key, e.Value)
					}
				case 2:
					_ = m.Update(ctx, key, func([]byte) ([]byte, time.Duration, error) { return []byte(key), time.Hour, nil })
				default:
					_, _ = m.Keys(ctx, "k1")
				}
			}
		})
	}
	wg.Wait()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.items) > 500 || m.order.Len() != len(m.items) {
		t.Fatalf("%d entries, %d in the eviction order; bound is 500", len(m.items), m.order.Len())
	}
}
