package cache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/redis/go-redis/v9"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

// caches are a memory-only cache and one on a fresh redis-server.
func caches(t *testing.T) map[string]*Cache {
	return map[string]*Cache{
		"memory": newCache(t, DefaultConfig(), nil, discard, true),
		"redis":  newCache(t, testConfig(redistest.Start(t).Addr()), nil, discard, true),
	}
}

func TestUpdateGetDeleteKeysAndTTL(t *testing.T) {
	for name, c := range caches(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("get of a missing key = %v, want ErrNotFound", err)
			}
			set(t, c, "k", "v1", time.Minute)
			e, err := c.Get(ctx, "k")
			if want := Backend(name); err != nil || string(e.Value) != "v1" || e.Backend != want {
				t.Fatalf("get = %q from %s, %v; want v1 from %s", e.Value, e.Backend, err, want)
			}
			set(t, c, "k", "v2", time.Minute)
			if e, _ := c.Get(ctx, "k"); string(e.Value) != "v2" {
				t.Fatalf("after a rewrite: %q", e.Value)
			}
			set(t, c, "short", "x", 150*time.Millisecond)
			eventually(t, "the short-lived key expires", func() bool {
				_, err := c.Get(ctx, "short")
				return errors.Is(err, ErrNotFound)
			})
			for _, k := range []string{"hama:analysis:BTCUSDT", "hama:analysis:ETHUSDT", "hama:analysisX"} {
				set(t, c, k, "x", time.Minute)
			}
			if keys, err := c.Keys(ctx, "hama:analysis:"); err != nil || len(keys) != 2 {
				t.Fatalf("keys = %v, %v; want the two under the prefix", keys, err)
			}
			if keys, _ := c.Keys(ctx, "hama:analysis*"); len(keys) != 0 {
				t.Fatalf("a prefix with * matched %v; glob characters must be literal", keys)
			}
			if err := c.Delete(ctx, "k", "hama:analysis:BTCUSDT", "never-set"); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"k", "hama:analysis:BTCUSDT"} {
				if _, err := c.Get(ctx, k); !errors.Is(err, ErrNotFound) {
					t.Fatalf("deleted key %s still there", k)
				}
			}
			set(t, c, "hama:analysis:ETHUSDT", "x", 0)
			if _, err := c.Get(ctx, "hama:analysis:ETHUSDT"); !errors.Is(err, ErrNotFound) {
				t.Fatal("an update returning ttl 0 must delete the key")
			}
		})
	}
}

func TestUpdateMergesUnderConcurrency(t *testing.T) {
	for name, c := range caches(t) {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			for i := range 50 {
				wg.Go(func() {
					err := c.Update(context.Background(), "merged", func(cur []byte) ([]byte, time.Duration, error) {
						return append(append([]byte(nil), cur...), fmt.Sprintf("[%d]", i)...), time.Minute, nil
					})
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			e, err := c.Get(context.Background(), "merged")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				if strings.Count(string(e.Value), fmt.Sprintf("[%d]", i)) != 1 {
					t.Fatalf("writer %d's field is missing or doubled: %s", i, e.Value)
				}
			}
		})
	}
}

func TestUpdateReturnsTheFunctionsErrorAndWritesNothing(t *testing.T) {
	boom := errors.New("merge refused")
	for name, c := range caches(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			set(t, c, "doc", "old", time.Minute)
			err := c.Update(ctx, "doc", func([]byte) ([]byte, time.Duration, error) { return []byte("new"), time.Minute, boom })
			if !errors.Is(err, boom) {
				t.Fatalf("update = %v, want the function's error", err)
			}
			if e, _ := c.Get(ctx, "doc"); string(e.Value) != "old" || c.Degraded() {
				t.Fatalf("after a refused update: %q, degraded %v", e.Value, c.Degraded())
			}
		})
	}
}

func TestKeysScansTenThousandKeysWithoutKEYS(t *testing.T) {
	srv := redistest.Start(t, "--rename-command", "KEYS", "") // any use of KEYS fails
	ctx := context.Background()
	raw := rawClient(t, srv.Addr())
	_, err := raw.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 10000 {
			p.Set(ctx, fmt.Sprintf("hama:analysis:S%05d", i), "x", time.Hour)
		}
		p.Set(ctx, "other:key", "x", time.Hour)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := newCache(t, testConfig(srv.Addr()), nil, discard, false)
	keys, err := c.Keys(ctx, "hama:analysis:")
	if err != nil || len(keys) != 10000 || c.Degraded() {
		t.Fatalf("SCAN returned %d keys under the prefix, %v; want 10000", len(keys), err)
	}
}

// kill -9 of Redis in the middle of reads and updates from many goroutines: no call fails and reads
// come from memory. Restarted empty, Redis gets back what this replica wrote, the outage's
// writes included, with their remaining TTLs.
func TestRedisKilledAndRestarted(t *testing.T) {
	srv := redistest.Start(t)
	obs := &countingObserver{}
	c := newCache(t, testConfig(srv.Addr()), obs, discard, true)
	ctx := context.Background()
	const symbols = 20
	key := func(i int) string { return fmt.Sprintf("hama:analysis:S%d", i) }
	for i := range symbols {
		set(t, c, key(i), "before", time.Hour)
	}
	var (
		stop, afterKill     atomic.Bool
		ops, errs, memReads atomic.Int64
		firstErr            atomic.Value
		wg                  sync.WaitGroup
	)
	for g := range 16 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				k := key((g + i) % symbols)
				killed := afterKill.Load()
				e, err := c.Get(ctx, k)
				if err == nil && killed && e.Backend == BackendMemory {
					memReads.Add(1)
				}
				if err == nil {
					err = c.Update(ctx, k, func([]byte) ([]byte, time.Duration, error) { return []byte("during"), time.Hour, nil })
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				ops.Add(1)
			}
		})
	}
	eventually(t, "the stream runs against redis", func() bool { return ops.Load() > 200 })
	srv.Kill()
	afterKill.Store(true)
	mark := ops.Load()
	eventually(t, "the stream goes on after the kill", func() bool { return ops.Load() > mark+500 })
	stop.Store(true)
	wg.Wait()
	if errs.Load() != 0 || memReads.Load() == 0 {
		t.Fatalf("%d calls failed around the kill (first: %v), %d reads from memory; want none failed", errs.Load(), firstErr.Load(), memReads.Load())
	}
	if s := c.Stats(); s.RedisUp || s.Serving != BackendMemory || s.Fallbacks == 0 || s.LastError == "" || !c.Degraded() {
		t.Fatalf("stats during the outage = %+v", s)
	}
	if keys, _ := c.Keys(ctx, "hama:analysis:"); len(keys) != symbols {
		t.Fatalf("memory lists %d keys during the outage, want %d", len(keys), symbols)
	}
	set(t, c, "hama:analysis:OUTAGE", "written while down", time.Hour)
	if err := c.Delete(ctx, key(19)); err == nil {
		t.Fatal("a delete during the outage succeeded; it must fail so that its caller retries")
	}

	srv.Restart()
	eventually(t, "the cache serves from redis again", func() bool { return c.Stats().RedisUp })
	raw := rawClient(t, srv.Addr())
	if got := raw.Get(ctx, "hama:analysis:OUTAGE").Val(); got != "written while down" {
		t.Fatalf("outage write in redis = %q", got)
	}
	if ttl := raw.PTTL(ctx, "hama:analysis:OUTAGE").Val(); ttl < 55*time.Minute || ttl > time.Hour {
		t.Fatalf("copied TTL %s: the remaining TTL was not kept", ttl)
	}
	if n := raw.Exists(ctx, key(19)).Val(); n != 0 {
		t.Fatal("a key deleted from memory during the outage was copied back")
	}
	if got := raw.Get(ctx, key(3)).Val(); got != "during" {
		t.Fatalf("%s in redis = %q, want the value written before and during the outage", key(3), got)
	}
	if err := c.Delete(ctx, key(19)); err != nil {
		t.Fatalf("the retried delete: %v", err)
	}
	if e, err := c.Get(ctx, key(3)); err != nil || e.Backend != BackendRedis {
		t.Fatalf("after recovery: %+v, %v", e, err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.fallbacks == 0 || !obs.up || obs.requests["memory/hit"] == 0 || obs.requests["redis/hit"] == 0 {
		t.Fatalf("observer saw %+v", obs)
	}
}

// The recovery's rule: Redis keeps the same value, one that lives at least as long (written at the
// same time or later) or one without expiry; it gets what it lacks or holds older.
func TestRecoveryCopiesBackWhatRedisLacksOrHoldsOlder(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	raw := rawClient(t, srv.Addr())
	raw.Set(ctx, "newer-in-redis", "redis", time.Hour)
	raw.Set(ctx, "older-in-redis", "redis", time.Minute)
	raw.Set(ctx, "same-in-redis", "memory", time.Minute)
	raw.Set(ctx, "persistent", "redis", 0)
	c := newCache(t, testConfig(srv.Addr()), nil, discard, false)
	entries := make([]ownedEntry, 0, 5)
	for _, k := range []string{"newer-in-redis", "older-in-redis", "same-in-redis", "persistent", "missing-in-redis"} {
		entries = append(entries, ownedEntry{key: k, value: []byte("memory"), ttl: 10 * time.Minute})
	}
	if copied, err := c.copyBack(ctx, entries); err != nil || copied != 2 {
		t.Fatalf("copied %d, %v; want 2", copied, err)
	}
	want := map[string]string{"newer-in-redis": "redis", "older-in-redis": "memory", "same-in-redis": "memory",
		"persistent": "redis", "missing-in-redis": "memory"}
	for k, v := range want {
		if got := raw.Get(ctx, k).Val(); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if ttl := raw.PTTL(ctx, "missing-in-redis").Val(); ttl < 9*time.Minute || ttl > 10*time.Minute {
		t.Errorf("copied TTL %s, want the remaining 10m", ttl)
	}
}

// A replica that only reads keeps a copy of what it read for an outage, but copies back only what
// it wrote: the writer restores its own values, and nothing deleted meanwhile comes back.
func TestReaderServesItsCopyInAnOutageAndTheWriterRestoresIt(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	writer := newCache(t, testConfig(srv.Addr()), nil, discard, true)
	reader := newCache(t, testConfig(srv.Addr()), nil, discard, true)
	set(t, writer, "hama:analysis:BTCUSDT", "from the leader", time.Hour)
	rawClient(t, srv.Addr()).Set(ctx, "hama:analysis:OTHER", "written by someone gone", time.Hour)
	for _, k := range []string{"hama:analysis:BTCUSDT", "hama:analysis:OTHER"} {
		if e, err := reader.Get(ctx, k); err != nil || e.Backend != BackendRedis {
			t.Fatalf("get %s = %+v, %v", k, e, err)
		}
	}
	srv.Kill()
	eventually(t, "the reader's copy serves", func() bool {
		e, err := reader.Get(ctx, "hama:analysis:BTCUSDT")
		if err != nil || string(e.Value) != "from the leader" {
			t.Fatalf("read during the outage = %q, %v", e.Value, err)
		}
		return e.Backend == BackendMemory
	})
	eventually(t, "the writer's health check notices the outage", writer.Degraded)
	srv.Restart()
	eventually(t, "both serve from redis again", func() bool { return writer.Stats().RedisUp && reader.Stats().RedisUp })
	raw := rawClient(t, srv.Addr())
	if got := raw.Get(ctx, "hama:analysis:BTCUSDT").Val(); got != "from the leader" {
		t.Fatalf("the writer did not restore its value: %q", got)
	}
	if n := raw.Exists(ctx, "hama:analysis:OTHER").Val(); n != 0 {
		t.Fatal("the reader copied back a value it only read")
	}
}

// While Redis is down, calls go straight to memory: Redis is not tried on every call.
func TestADownRedisIsNotTriedPerCall(t *testing.T) {
	srv := redistest.Start(t)
	cfg := testConfig(srv.Addr())
	cfg.HealthInterval = time.Hour // no recovery attempt during the test
	c := newCache(t, cfg, nil, discard, true)
	attempts := &attemptCounter{}
	c.client.AddHook(attempts)
	ctx := context.Background()
	srv.Kill()
	if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrNotFound) { // meets the dead Redis and marks it down
		t.Fatal(err)
	}
	before := attempts.n.Load()
	for i := range 100 {
		if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		set(t, c, fmt.Sprintf("k%d", i), "v", time.Minute)
	}
	if after := attempts.n.Load(); after != before {
		t.Fatalf("redis was tried %d times during 200 calls while down", after-before)
	}
	if s := c.Stats(); s.Fallbacks < 200 {
		t.Fatalf("stats = %+v; want every call counted as a fallback", s)
	}
}

func TestWrongPasswordFallsBackWithAClearError(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "right")
	cfg := testConfig(srv.Addr())
	cfg.Password = "wrong"
	var logs strings.Builder
	var mu sync.Mutex
	log := funcr.New(func(_, args string) { mu.Lock(); logs.WriteString(args + "\n"); mu.Unlock() }, funcr.Options{})
	c := newCache(t, cfg, nil, log, true)
	set(t, c, "k", "v", time.Minute)
	if e, err := c.Get(context.Background(), "k"); err != nil || e.Backend != BackendMemory {
		t.Fatalf("get = %+v, %v; want the memory copy", e, err)
	}
	if s := c.Stats(); s.RedisUp || !c.Degraded() || !strings.HasPrefix(s.LastError, "redis auth failed: WRONGPASS") {
		t.Fatalf("stats = %+v, want the authentication error", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "redis auth failed: WRONGPASS") {
		t.Fatalf("the log does not name the authentication failure:\n%s", logs.String())
	}
}

func TestDisabledRedisIsMemoryOnlyAndNotDegraded(t *testing.T) {
	obs := &countingObserver{}
	c := newCache(t, DefaultConfig(), obs, discard, true)
	set(t, c, "k", "v", time.Minute)
	if e, err := c.Get(context.Background(), "k"); err != nil || e.Backend != BackendMemory || c.Degraded() {
		t.Fatalf("get = %+v, %v, degraded %v", e, err, c.Degraded())
	}
	if s := c.Stats(); s.RedisEnabled || s.Fallbacks != 0 || s.Serving != BackendMemory {
		t.Fatalf("stats = %+v", s)
	}
	if obs.up || obs.fallbacks != 0 || obs.requests["memory/hit"] != 1 {
		t.Fatalf("observer saw %+v", obs)
	}
}

func TestMemoryBoundEvictsTheEntryClosestToExpiry(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MemoryMaxEntries = 3
	c := newCache(t, cfg, nil, discard, false)
	set(t, c, "a", "x", time.Hour)
	set(t, c, "b", "x", time.Minute)
	set(t, c, "c", "x", time.Hour)
	set(t, c, "a", "y", time.Hour) // a rewrite takes no new room
	set(t, c, "d", "x", time.Hour)
	keys, _ := c.Keys(context.Background(), "")
	slices.Sort(keys)
	if strings.Join(keys, ",") != "a,c,d" {
		t.Fatalf("keys = %v, want b, the closest to expiry, evicted", keys)
	}
}

type countingObserver struct {
	mu        sync.Mutex
	requests  map[string]int
	fallbacks int
	up        bool
}

func (o *countingObserver) ObserveCacheRequest(b Backend, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.requests == nil {
		o.requests = map[string]int{}
	}
	o.requests[string(b)+"/"+result]++
}
func (o *countingObserver) ObserveFallback()     { o.mu.Lock(); o.fallbacks++; o.mu.Unlock() }
func (o *countingObserver) SetBackendUp(up bool) { o.mu.Lock(); o.up = up; o.mu.Unlock() }

// attemptCounter is a go-redis hook counting every command and pipeline sent (or tried) to Redis.
type attemptCounter struct{ n atomic.Int64 }

func (a *attemptCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (a *attemptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { a.n.Add(1); return next(ctx, cmd) }
}

func (a *attemptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { a.n.Add(1); return next(ctx, cmds) }
}
