package cache

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

// benchValue is about the size of a two-timeframe analysis document.
var benchValue = make([]byte, 4096)

// benchParallelism × GOMAXPROCS goroutines run the parallel benchmarks, like concurrent API requests.
const benchParallelism = 8

// benchKeys are the keys of a realistic watch list.
var benchKeys = func() []string {
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("hama:analysis:S%03dUSDT", i)
	}
	return keys
}()

// benchStores returns the stores under test, filled with benchKeys. The tiered stores read what
// another client (the "redis" store, as a leader would) wrote: with the client cache, and without.
func benchStores(b *testing.B) map[string]Store {
	b.Helper()
	srv := redistest.Start(b)
	r, err := NewRedis(testConfig(srv.Addr()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	noClientCache := testConfig(srv.Addr())
	noClientCache.ClientCache = false
	stores := map[string]Store{
		"memory":                 NewMemory(20000, 0),
		"redis":                  r,
		"tiered":                 newTiered(b, testConfig(srv.Addr()), nil, discard, true),
		"tiered-no-client-cache": newTiered(b, noClientCache, nil, discard, true),
	}
	for _, s := range []Store{stores["memory"], r} {
		for _, k := range benchKeys {
			if err := s.Set(context.Background(), k, benchValue, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	}
	return stores
}

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"memory", "redis", "tiered", "tiered-no-client-cache"} {
		s := benchStores(b)[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.Get(ctx, benchKeys[i%len(benchKeys)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkSet(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"memory", "redis", "tiered"} {
		s := benchStores(b)[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := s.Set(ctx, benchKeys[i%len(benchKeys)], benchValue, time.Hour); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkParallelGet reads from all goroutines at once: lock contention on memory, connection
// pool contention on Tiered (Redis serving) and on Tiered during an outage (memory serving).
func BenchmarkParallelGet(b *testing.B) {
	ctx := context.Background()
	stores := benchStores(b)
	down := newTiered(b, testConfig(redistest.Start(b).Addr()), nil, discard, false)
	down.redisFailed(fmt.Errorf("benchmark: breaker forced open"))
	for _, k := range benchKeys {
		_ = down.Set(ctx, k, benchValue, time.Hour)
	}
	for name, s := range map[string]Store{"memory": stores["memory"], "tiered": stores["tiered"],
		"tiered-no-client-cache": stores["tiered-no-client-cache"], "tiered-redis-down": down} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(benchParallelism)
			var seed atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(7))
				for pb.Next() {
					if _, err := s.Get(ctx, benchKeys[i%len(benchKeys)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}

// BenchmarkMemoryParallelMixed is 90% reads, 10% writes: writers take the exclusive lock.
func BenchmarkMemoryParallelMixed(b *testing.B) {
	ctx := context.Background()
	m := NewMemory(20000, 0)
	for _, k := range benchKeys {
		_ = m.Set(ctx, k, benchValue, time.Hour)
	}
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	var seed atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(7))
		for pb.Next() {
			k := benchKeys[i%len(benchKeys)]
			if i%10 == 0 {
				_ = m.Set(ctx, k, benchValue, time.Hour)
			} else if _, err := m.Get(ctx, k); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
