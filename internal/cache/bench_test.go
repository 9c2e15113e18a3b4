package cache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

// BenchmarkGet reads 100 keys of 4 KiB (about a two-timeframe analysis document) that another
// client wrote, as a replica reads what the leader wrote: from memory only, from Redis with client
// tracking (answered from memory until invalidated), and from Redis with a round trip per read.
func BenchmarkGet(b *testing.B) {
	srv := redistest.Start(b)
	untracked := testConfig(srv.Addr())
	untracked.ClientCache = false
	writer := newCache(b, testConfig(srv.Addr()), nil, discard, false)
	memoryOnly := newCache(b, DefaultConfig(), nil, discard, false)
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("hama:analysis:S%03dUSDT", i)
		set(b, writer, keys[i], string(make([]byte, 4096)), time.Hour)
		set(b, memoryOnly, keys[i], string(make([]byte, 4096)), time.Hour)
	}
	for name, c := range map[string]*Cache{
		"memory":          memoryOnly,
		"redis-tracked":   newCache(b, testConfig(srv.Addr()), nil, discard, true),
		"redis-untracked": newCache(b, untracked, nil, discard, true),
	} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if _, err := c.Get(ctx, keys[i%len(keys)]); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
