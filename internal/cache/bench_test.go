package cache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

var benchValue = make([]byte, 4096) // about the size of a two-timeframe document

func benchStores(b *testing.B) map[string]Store {
	srv := redistest.Start(b)
	r, err := NewRedis(testConfig(srv.Addr()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	t, err := NewTiered(testConfig(srv.Addr()), nil, logr.Discard())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = t.Close() })
	return map[string]Store{"memory": NewMemory(100000, 0), "redis": r, "tiered": t}
}

func BenchmarkGet(b *testing.B) {
	for name, s := range benchStores(b) {
		ctx := context.Background()
		for i := range 78 {
			_ = s.Set(ctx, fmt.Sprintf("hama:analysis:S%d", i), benchValue, time.Hour)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.Get(ctx, fmt.Sprintf("hama:analysis:S%d", i%78)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := s.Get(ctx, fmt.Sprintf("hama:analysis:S%d", i%78)); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}

func BenchmarkSet(b *testing.B) {
	for name, s := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := s.Set(ctx, fmt.Sprintf("hama:analysis:S%d", i%1000), benchValue, time.Hour); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
