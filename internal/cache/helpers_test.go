package cache

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

var discard = logr.Discard()

// testConfig points at a test server with short timeouts, so outages are noticed fast.
func testConfig(addr string) Config {
	c := DefaultConfig()
	c.RedisEnabled = true
	c.Addrs = []string{addr}
	c.HealthInterval = 50 * time.Millisecond
	c.ReadTimeout, c.WriteTimeout, c.DialTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
	return c
}

// newCache builds a Cache; with healthLoop it also runs Start until the test ends.
func newCache(t testing.TB, cfg Config, obs Observer, log logr.Logger, healthLoop bool) *Cache {
	t.Helper()
	c, err := New(cfg, obs, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if healthLoop {
			_ = c.Start(ctx)
		}
	}()
	t.Cleanup(func() { cancel(); <-done; _ = c.Close() })
	return c
}

// set writes a value through Update, the cache's only write.
func set(t testing.TB, c *Cache, key, value string, ttl time.Duration) {
	t.Helper()
	if err := c.Update(context.Background(), key, func([]byte) ([]byte, time.Duration, error) { return []byte(value), ttl, nil }); err != nil {
		t.Fatal(err)
	}
}

func rawClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// eventually polls cond until it holds, failing the test after a generous deadline.
var eventually = redistest.Eventually
