package cache

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

// With a local TTL a replica answers a key it read from Redis again without a round trip, sees
// another replica's write once the window has passed, and its own writes at once.
func TestLocalTTLServesRecentReadsWithoutARoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	cfg := DefaultConfig()
	cfg.RedisEnabled, cfg.Addrs, cfg.LocalTTL = true, []string{srv.Addr()}, 300*time.Millisecond
	c, err := NewTiered(cfg, nil, discard)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	other := redis.NewClient(&redis.Options{Addr: srv.Addr()}) // another replica's writes
	defer func() { _ = other.Close() }()
	ctx := context.Background()

	if err := other.Set(ctx, "k", "v1", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if e, err := c.Get(ctx, "k"); err != nil || string(e.Value) != "v1" {
		t.Fatalf("first read = %q, %v", e.Value, err)
	}
	_ = other.Set(ctx, "k", "v2", time.Hour)
	if e, _ := c.Get(ctx, "k"); string(e.Value) != "v1" || e.Backend != BackendRedis {
		t.Fatalf("within the window = %q from %s, want the remembered v1", e.Value, e.Backend)
	}
	time.Sleep(350 * time.Millisecond)
	if e, _ := c.Get(ctx, "k"); string(e.Value) != "v2" {
		t.Fatalf("after the window = %q, want v2 from Redis", e.Value)
	}
	if err := c.Set(ctx, "k", []byte("v3"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Get(ctx, "k"); string(e.Value) != "v3" {
		t.Fatalf("after this replica's own write = %q, want v3 at once", e.Value)
	}
	_ = c.Delete(ctx, "k")
	if _, err := c.Get(ctx, "k"); err == nil {
		t.Fatal("a deleted key was served from the local window")
	}
}
