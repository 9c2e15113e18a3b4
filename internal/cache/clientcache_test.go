package cache

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

// getCalls is how many GET commands the Redis server has executed.
func getCalls(t *testing.T, admin *redis.Client) int {
	t.Helper()
	info, err := admin.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_get:calls=")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return 0
}

// With the client cache, repeated reads of a key cost Redis nothing, another replica's write
// reaches this replica through Redis's invalidation, and the value and its TTL stay right.
func TestClientCacheAnswersRepeatedReadsWithoutARoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	c := newTiered(t, testConfig(srv.Addr()), nil, discard, true)
	other := rawClient(t, srv.Addr()) // another replica
	ctx := context.Background()

	if err := other.Set(ctx, "k", "v1", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if e, err := c.Get(ctx, "k"); err != nil || string(e.Value) != "v1" {
		t.Fatalf("first read = %q, %v", e.Value, err)
	}
	before := getCalls(t, other)
	for range 200 {
		e, err := c.Get(ctx, "k")
		if err != nil || string(e.Value) != "v1" || e.Backend != BackendRedis {
			t.Fatalf("repeated read = %q from %s, %v", e.Value, e.Backend, err)
		}
		if e.TTL <= 59*time.Minute || e.TTL > time.Hour {
			t.Fatalf("repeated read's TTL = %s, want Redis's (just under 1h)", e.TTL)
		}
	}
	if n := getCalls(t, other) - before; n != 0 {
		t.Fatalf("200 repeated reads sent %d GETs to Redis, want 0", n)
	}

	if err := other.Set(ctx, "k", "v2", 30*time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "another replica's write is read", func() bool {
		e, err := c.Get(ctx, "k")
		return err == nil && string(e.Value) == "v2"
	})
	e, _ := c.Get(ctx, "k")
	if e.TTL <= 29*time.Minute || e.TTL > 30*time.Minute {
		t.Fatalf("TTL after the change = %s, want the new write's (just under 30m)", e.TTL)
	}

	if err := other.Del(ctx, "k").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "another replica's delete is seen", func() bool {
		_, err := c.Get(ctx, "k")
		return errors.Is(err, ErrNotFound)
	})
}

// A replica reads its own writes and deletes at once, before Redis's invalidation could arrive.
func TestClientCacheReadsOwnWritesAtOnce(t *testing.T) {
	srv := redistest.Start(t)
	c := newTiered(t, testConfig(srv.Addr()), nil, discard, true)
	ctx := context.Background()
	for i := range 50 {
		want := "v" + strconv.Itoa(i)
		if err := c.Set(ctx, "k", []byte(want), time.Hour); err != nil {
			t.Fatal(err)
		}
		for range 3 { // the first read fills the client cache; the next ones are served from it
			if e, err := c.Get(ctx, "k"); err != nil || string(e.Value) != want {
				t.Fatalf("write %d: read %q, %v", i, e.Value, err)
			}
		}
	}
	if err := c.Update(ctx, "k", func([]byte) ([]byte, time.Duration, error) { return []byte("merged"), time.Hour, nil }); err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Get(ctx, "k"); string(e.Value) != "merged" {
		t.Fatalf("after Update: %q", e.Value)
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Delete: %v, want ErrNotFound", err)
	}
}

// A value that reached this replica only through the client cache is still what memory serves
// when Redis dies: the outage copy follows other replicas' writes.
func TestClientCacheKeepsTheOutageCopyCurrent(t *testing.T) {
	srv := redistest.Start(t)
	c := newTiered(t, testConfig(srv.Addr()), nil, discard, true)
	other := rawClient(t, srv.Addr())
	ctx := context.Background()
	_ = other.Set(ctx, "k", "v1", time.Hour)
	_, _ = c.Get(ctx, "k")
	_ = other.Set(ctx, "k", "v2", time.Hour)
	eventually(t, "the new value is read", func() bool {
		e, _ := c.Get(ctx, "k")
		return string(e.Value) == "v2"
	})

	srv.Kill()
	if e := readUntilMemoryServes(t, c, "k", "v2"); e.TTL <= 59*time.Minute {
		t.Fatalf("outage copy's TTL = %s, want Redis's", e.TTL)
	}
}

// Without the client cache every read is a round trip.
func TestClientCacheOffReadsRedisEveryTime(t *testing.T) {
	srv := redistest.Start(t)
	cfg := testConfig(srv.Addr())
	cfg.ClientCache = false
	c := newTiered(t, cfg, nil, discard, true)
	other := rawClient(t, srv.Addr())
	ctx := context.Background()
	_ = other.Set(ctx, "k", "v1", time.Hour)
	before := getCalls(t, other)
	for range 20 {
		if e, err := c.Get(ctx, "k"); err != nil || string(e.Value) != "v1" {
			t.Fatalf("read = %q, %v", e.Value, err)
		}
	}
	if n := getCalls(t, other) - before; n != 20 {
		t.Fatalf("20 reads sent %d GETs, want 20", n)
	}
}

// go-redis offers client-side caching for a standalone server's database 0; elsewhere the
// option is left off rather than failing.
func TestClientCacheAppliesToStandaloneDatabaseZeroOnly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		wants bool
	}{
		{"standalone db 0", func(*Config) {}, true},
		{"turned off", func(c *Config) { c.ClientCache = false }, false},
		{"db 3", func(c *Config) { c.DB = 3 }, false},
		{"sentinel", func(c *Config) { c.MasterName = "mymaster" }, false},
		{"cluster", func(c *Config) { c.Addrs = []string{"n1:6379", "n2:6379"} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.RedisEnabled = true
			tc.edit(&c)
			o, err := c.universalOptions()
			if err != nil {
				t.Fatal(err)
			}
			_, counted := o.ClientSideCache.(*invalidationCounter)
			if got := o.ClientSideCache != nil; got != tc.wants || got != counted {
				t.Fatalf("client cache configured = %v (ours: %v), want %v", got, counted, tc.wants)
			}
			if tc.wants && o.Protocol != 3 {
				t.Fatalf("client cache with protocol %d, want RESP3", o.Protocol)
			}
		})
	}
	c := DefaultConfig()
	c.ClientCacheMaxStaleness = 0
	if err := c.validate(); err == nil || !strings.Contains(err.Error(), "max staleness") {
		t.Fatalf("a zero max staleness with the client cache on: %v", err)
	}
}

// Without any invalidation, a value is still read from Redis again once it is older than the max
// staleness: the bound that covers a lost invalidation.
func TestClientCacheAsksRedisAgainAfterTheMaxStaleness(t *testing.T) {
	srv := redistest.Start(t)
	cfg := testConfig(srv.Addr())
	cfg.ClientCacheMaxStaleness = 100 * time.Millisecond
	c := newTiered(t, cfg, nil, discard, true)
	other := rawClient(t, srv.Addr())
	ctx := context.Background()
	_ = other.Set(ctx, "k", "v1", time.Hour)
	_, _ = c.Get(ctx, "k")
	before := getCalls(t, other)
	_, _ = c.Get(ctx, "k")
	if n := getCalls(t, other) - before; n != 0 {
		t.Fatalf("a read within the max staleness sent %d GETs", n)
	}
	time.Sleep(150 * time.Millisecond)
	if e, err := c.Get(ctx, "k"); err != nil || string(e.Value) != "v1" {
		t.Fatalf("read after the max staleness = %q, %v", e.Value, err)
	}
	if n := getCalls(t, other) - before; n != 1 {
		t.Fatalf("a read after the max staleness sent %d GETs, want 1", n)
	}
}
