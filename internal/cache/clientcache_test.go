package cache

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

// With client tracking, repeated reads of a key cost Redis nothing, and another replica's write
// and delete reach this replica through Redis's invalidation.
func TestClientCacheAnswersRepeatedReadsWithoutARoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, testConfig(srv.Addr()), nil, discard, true)
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
		if e, err := c.Get(ctx, "k"); err != nil || string(e.Value) != "v1" || e.Backend != BackendRedis {
			t.Fatalf("repeated read = %q from %s, %v", e.Value, e.Backend, err)
		}
	}
	if n := getCalls(t, other) - before; n != 0 {
		t.Fatalf("200 repeated reads sent %d GETs to Redis, want 0", n)
	}
	if err := other.Set(ctx, "k", "v2", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "another replica's write is read", func() bool {
		e, err := c.Get(ctx, "k")
		return err == nil && string(e.Value) == "v2"
	})
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
	c := newCache(t, testConfig(redistest.Start(t).Addr()), nil, discard, true)
	ctx := context.Background()
	for i := range 50 {
		want := "v" + strconv.Itoa(i)
		set(t, c, "k", want, time.Hour)
		for range 3 { // the first read confirms the value with Redis; the next ones are answered from memory
			if e, err := c.Get(ctx, "k"); err != nil || string(e.Value) != want {
				t.Fatalf("write %d: read %q, %v", i, e.Value, err)
			}
		}
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Delete: %v, want ErrNotFound", err)
	}
}

// Without any invalidation, a value is read from Redis again once it is older than the max
// staleness: the bound should an invalidation be lost.
func TestClientCacheAsksRedisAgainAfterTheMaxStaleness(t *testing.T) {
	srv := redistest.Start(t)
	cfg := testConfig(srv.Addr())
	cfg.ClientCacheMaxStaleness = 100 * time.Millisecond
	c := newCache(t, cfg, nil, discard, true)
	clock := testingclock.NewFakePassiveClock(time.Now())
	c.mem.clock = clock
	other := rawClient(t, srv.Addr())
	ctx := context.Background()
	other.Set(ctx, "k", "v1", time.Hour)
	_, _ = c.Get(ctx, "k")
	before := getCalls(t, other)
	_, _ = c.Get(ctx, "k")
	if n := getCalls(t, other) - before; n != 0 {
		t.Fatalf("a read within the max staleness sent %d GETs", n)
	}
	clock.SetTime(clock.Now().Add(100 * time.Millisecond))
	if e, err := c.Get(ctx, "k"); err != nil || string(e.Value) != "v1" {
		t.Fatalf("read after the max staleness = %q, %v", e.Value, err)
	}
	if n := getCalls(t, other) - before; n != 1 {
		t.Fatalf("a read after the max staleness sent %d GETs, want 1", n)
	}
}

// Without the client cache every read is a round trip.
func TestClientCacheOffReadsRedisEveryTime(t *testing.T) {
	srv := redistest.Start(t)
	cfg := testConfig(srv.Addr())
	cfg.ClientCache = false
	c := newCache(t, cfg, nil, discard, true)
	other := rawClient(t, srv.Addr())
	ctx := context.Background()
	other.Set(ctx, "k", "v1", time.Hour)
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

// getCalls is how many GET commands the Redis server has executed.
func getCalls(t *testing.T, admin *redis.Client) int {
	t.Helper()
	stat := infoField(t, admin, "commandstats", "cmdstat_get") // calls=N,usec=…
	if stat == "" {
		return 0
	}
	calls, _, _ := strings.Cut(strings.TrimPrefix(stat, "calls="), ",")
	n, err := strconv.Atoi(calls)
	if err != nil {
		t.Fatalf("cmdstat_get %q: %v", stat, err)
	}
	return n
}

// infoField is a field of a section of Redis's INFO ("" when Redis does not report it).
func infoField(t *testing.T, admin *redis.Client, section, field string) string {
	t.Helper()
	info, err := admin.InfoMap(context.Background(), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, fields := range info {
		if v, ok := fields[field]; ok {
			return v
		}
	}
	return ""
}

// A write's own reads are not tracked, nor those of Client's users: Redis sends this process no
// invalidation of what it writes (thousands in a burst of writes), while a key the cache read is
// still invalidated by its own write.
func TestClientCacheWritesDoNotInvalidateThemselves(t *testing.T) {
	cfg := testConfig(redistest.Start(t).Addr())
	cfg.PoolSize = 1 // one reading connection: an invalidation sent to it is taken at its next command
	c := newCache(t, cfg, nil, discard, true)
	ctx := context.Background()
	if _, err := c.Get(ctx, "other"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	before := c.tracker.generation() // the reading connection's start counts as one
	for i := range 20 {
		set(t, c, "written:"+strconv.Itoa(i), "v", time.Hour)
	}
	if _, err := c.Get(ctx, "other"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	// The signal history's append: a script that reads a key, then writes it.
	readThenWrite := redis.NewScript(`redis.call('GET', KEYS[1]); return redis.call('SET', KEYS[1], 'v')`)
	for i := range 20 {
		if err := readThenWrite.Run(ctx, c.Client(), []string{"scripted:" + strconv.Itoa(i)}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Get(ctx, "other"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if n := c.tracker.generation() - before; n != 0 {
		t.Fatalf("20 writes and 20 scripts through Client brought %d invalidations of their own keys, want none", n)
	}
	if _, err := c.Get(ctx, "written:0"); err != nil { // read, so tracked
		t.Fatal(err)
	}
	set(t, c, "written:0", "v2", time.Hour)
	eventually(t, "the write of a key this process read invalidates it", func() bool {
		_, _ = c.Get(ctx, "other")
		return c.tracker.generation() > 0
	})
}
