package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

// kill -9 of Redis in the middle of reads and writes from many goroutines: no caller sees an error
// and reads come from memory; restarted, Redis serves again by itself and holds the outage's writes.
func TestRedisKilledAndRestarted(t *testing.T) {
	srv := redistest.Start(t)
	obs := &countingObserver{}
	c := newTiered(t, testConfig(srv.Addr()), obs, discard, true)
	ctx := context.Background()
	const symbols = 20
	key := func(i int) string { return fmt.Sprintf("hama:analysis:S%d", i) }
	for i := range symbols {
		if err := c.Set(ctx, key(i), []byte("before"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if e, err := c.Get(ctx, key(0)); err != nil || e.Backend != BackendRedis {
		t.Fatalf("before the outage: %+v, %v", e, err)
	}

	var (
		stop      atomic.Bool
		ops       atomic.Int64
		errs      atomic.Int64
		firstErr  atomic.Value
		wg        sync.WaitGroup
		afterKill atomic.Bool
		memReads  atomic.Int64
		redisRead atomic.Int64
	)
	fail := func(err error) {
		errs.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	for g := range 16 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				k := key((g + i) % symbols)
				killed := afterKill.Load()
				e, err := c.Get(ctx, k)
				switch {
				case err != nil:
					fail(err)
				case killed && e.Backend == BackendRedis:
					redisRead.Add(1)
				case killed:
					memReads.Add(1)
				}
				if err := c.Set(ctx, k, []byte("during"), time.Hour); err != nil {
					fail(err)
				}
				err = c.Update(ctx, k, func(cur []byte) ([]byte, time.Duration, error) { return cur, time.Hour, nil })
				if err != nil {
					fail(err)
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

	if errs.Load() != 0 {
		t.Fatalf("%d calls failed around the kill (first: %v); want none", errs.Load(), firstErr.Load())
	}
	if memReads.Load() == 0 {
		t.Fatal("no read was served from memory after the kill")
	}
	e, err := c.Get(ctx, key(3))
	if err != nil || e.Backend != BackendMemory || string(e.Value) != "during" {
		t.Fatalf("during the outage: %+v, %v; want the memory copy", e, err)
	}
	stats := c.Stats(ctx)
	if stats.RedisUp || stats.Serving != BackendMemory || stats.Fallbacks == 0 || stats.RedisErrors == 0 ||
		stats.LastError == "" || stats.LastErrorAt.IsZero() || !c.Degraded() || stats.Keys != symbols {
		t.Fatalf("stats during the outage = %+v", stats)
	}
	if err := c.Set(ctx, "hama:analysis:OUTAGE", []byte("written while down"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, key(19)); err != nil {
		t.Fatal(err)
	}

	srv.Restart()
	eventually(t, "the cache serves from redis again", func() bool { return c.Stats(ctx).RedisUp })
	raw := rawClient(t, srv.Addr())
	if got, err := raw.Get(ctx, "hama:analysis:OUTAGE").Result(); err != nil || got != "written while down" {
		t.Fatalf("outage write in redis = %q, %v", got, err)
	}
	if ttl := raw.PTTL(ctx, "hama:analysis:OUTAGE").Val(); ttl < 55*time.Minute || ttl > time.Hour {
		t.Fatalf("resynced TTL %s: the remaining TTL was not kept", ttl)
	}
	if got := raw.Get(ctx, key(3)).Val(); got != "during" {
		t.Fatalf("%s in redis = %q, want the outage's value", key(3), got)
	}
	if n := raw.Exists(ctx, key(19)).Val(); n != 0 {
		t.Fatal("the delete made during the outage was replayed as a write")
	}
	if e, err := c.Get(ctx, key(3)); err != nil || e.Backend != BackendRedis {
		t.Fatalf("after recovery: %+v, %v", e, err)
	}
	if s := c.Stats(ctx); s.Resynced < symbols || s.Keys != symbols || c.Degraded() {
		t.Fatalf("stats after recovery = %+v", s)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.fallbacks == 0 || !obs.up || obs.requests["memory/hit"] == 0 || obs.requests["redis/hit"] == 0 {
		t.Fatalf("observer saw %+v", obs)
	}
}

// With the breaker open, calls go straight to memory: Redis is not tried on every call.
func TestBreakerSkipsADeadRedis(t *testing.T) {
	srv := redistest.Start(t)
	cfg := testConfig(srv.Addr())
	cfg.HealthInterval, cfg.BreakerCooldown = time.Hour, 0 // no probe during the test
	c := newTiered(t, cfg, nil, discard, true)
	attempts := &attemptCounter{}
	c.redis.client.AddHook(attempts)
	ctx := context.Background()
	if err := c.Set(ctx, "k", []byte("v"), time.Minute); err != nil || attempts.n.Load() != 1 {
		t.Fatalf("set with redis up: %v, %d attempts", err, attempts.n.Load())
	}
	srv.Kill()
	if _, err := c.Get(ctx, "k"); err != nil { // meets the dead Redis and opens the breaker
		t.Fatal(err)
	}
	before := attempts.n.Load()
	for i := range 100 {
		if _, err := c.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if err := c.Set(ctx, fmt.Sprintf("k%d", i), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if after := attempts.n.Load(); after != before {
		t.Fatalf("redis was tried %d times during 200 calls with the breaker open", after-before)
	}
	if s := c.Stats(ctx); s.Fallbacks < 200 || s.RedisErrors != 1 {
		t.Fatalf("stats = %+v; want every call counted as a fallback and one redis error", s)
	}
}

// Without the health loop, a call after the cooldown starts a probe that brings Redis back.
func TestBreakerCooldownProbeRecoversWithoutTheHealthLoop(t *testing.T) {
	srv := redistest.Start(t)
	cfg := testConfig(srv.Addr())
	cfg.BreakerCooldown = 50 * time.Millisecond
	c := newTiered(t, cfg, nil, discard, false)
	ctx := context.Background()
	srv.Kill()
	_ = c.Set(ctx, "k", []byte("outage"), time.Minute)
	if !c.Degraded() {
		t.Fatal("a failed write did not open the breaker")
	}
	srv.Restart()
	eventually(t, "a call-triggered probe closes the breaker", func() bool {
		e, err := c.Get(ctx, "k")
		return err == nil && e.Backend == BackendRedis && string(e.Value) == "outage"
	})
}

func TestWrongPasswordFallsBackWithAClearError(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "right")
	cfg := testConfig(srv.Addr())
	cfg.Password = "wrong"
	logs := &logBuffer{}
	c := newTiered(t, cfg, nil, logs.logger(), true)
	ctx := context.Background()
	if err := c.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if e, err := c.Get(ctx, "k"); err != nil || e.Backend != BackendMemory {
		t.Fatalf("get = %+v, %v; want the memory copy", e, err)
	}
	s := c.Stats(ctx)
	if s.RedisUp || !c.Degraded() || !strings.HasPrefix(s.LastError, "redis auth failed: WRONGPASS") {
		t.Fatalf("stats = %+v, want the authentication error", s)
	}
	t.Logf("last error: %s", s.LastError)
	if !strings.Contains(logs.String(), "redis auth failed: WRONGPASS") {
		t.Fatalf("the log does not name the authentication failure:\n%s", logs)
	}
}

func TestDisabledRedisIsMemoryOnlyAndNotDegraded(t *testing.T) {
	obs := &countingObserver{}
	c := newTiered(t, DefaultConfig(), obs, discard, true)
	ctx := context.Background()
	_ = c.Set(ctx, "hama:analysis:A", []byte("v"), time.Minute)
	e, err := c.Get(ctx, "hama:analysis:A")
	if err != nil || e.Backend != BackendMemory || c.Degraded() {
		t.Fatalf("get = %+v, %v, degraded %v", e, err, c.Degraded())
	}
	if s := c.Stats(ctx); s.RedisEnabled || s.Fallbacks != 0 || s.Keys != 1 || s.MemoryHits != 1 || s.Serving != BackendMemory {
		t.Fatalf("stats = %+v", s)
	}
	if obs.up || obs.fallbacks != 0 || obs.requests["memory/hit"] != 1 {
		t.Fatalf("observer saw %+v", obs)
	}
}

// A replica that only reads keeps a memory copy of what it read, to serve it during an outage.
func TestReadsFromRedisAreKeptForAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	cfg := testConfig(srv.Addr())
	cfg.HealthInterval = time.Hour
	c := newTiered(t, cfg, nil, discard, true)
	ctx := context.Background()
	rawClient(t, srv.Addr()).Set(ctx, "hama:analysis:BTCUSDT", "from the leader", time.Hour)
	if e, err := c.Get(ctx, "hama:analysis:BTCUSDT"); err != nil || e.Backend != BackendRedis {
		t.Fatalf("get = %+v, %v", e, err)
	}
	srv.Kill()
	e := readUntilMemoryServes(t, c, "hama:analysis:BTCUSDT", "from the leader")
	if e.TTL < 59*time.Minute {
		t.Fatalf("during the outage: %+v", e)
	}
}

func TestGetOrComputeComputesOncePerKey(t *testing.T) {
	for name, cfg := range map[string]Config{"memory-only": DefaultConfig(), "redis": testConfig(redistest.Start(t).Addr())} {
		t.Run(name, func(t *testing.T) {
			c := newTiered(t, cfg, nil, discard, true)
			var calls atomic.Int32
			var computedCount atomic.Int32
			release := make(chan struct{})
			var started, wg sync.WaitGroup
			for range 100 {
				started.Add(1)
				wg.Go(func() {
					started.Done()
					e, computed, err := c.GetOrCompute(context.Background(), "hama:analysis:BTCUSDT",
						func(context.Context) ([]byte, time.Duration, error) {
							calls.Add(1)
							<-release
							return []byte("doc"), 0, nil
						})
					if err != nil || string(e.Value) != "doc" {
						t.Errorf("GetOrCompute = %q, %v", e.Value, err)
					}
					if computed {
						computedCount.Add(1)
					}
				})
			}
			started.Wait()
			close(release)
			wg.Wait()
			if calls.Load() != 1 || computedCount.Load() == 0 {
				t.Fatalf("compute ran %d times for one key (want 1); %d callers saw computed", calls.Load(), computedCount.Load())
			}
			e, computed, err := c.GetOrCompute(context.Background(), "hama:analysis:BTCUSDT",
				func(context.Context) ([]byte, time.Duration, error) { return nil, 0, errors.New("must not run") })
			if err != nil || computed || string(e.Value) != "doc" || e.TTL > cfg.DefaultTTL || e.TTL < cfg.DefaultTTL-time.Minute {
				t.Fatalf("second call = %+v, computed %v, %v; want the cached value with the default TTL", e, computed, err)
			}
		})
	}
}

func TestGetOrComputeReturnsTheComputeError(t *testing.T) {
	c := newTiered(t, DefaultConfig(), nil, discard, true)
	boom := errors.New("exchange down")
	_, computed, err := c.GetOrCompute(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) { return nil, 0, boom })
	if !errors.Is(err, boom) || computed {
		t.Fatalf("err = %v, computed %v", err, computed)
	}
	if _, err := c.Get(context.Background(), "k"); !errors.Is(err, ErrNotFound) {
		t.Fatal("a failed computation was cached")
	}
}

func TestComputeRefreshesACachedValue(t *testing.T) {
	c := newTiered(t, DefaultConfig(), nil, discard, true)
	ctx := context.Background()
	_ = c.Set(ctx, "k", []byte("old"), time.Minute)
	e, err := c.Compute(ctx, "k", func(context.Context) ([]byte, time.Duration, error) { return []byte("new"), time.Hour, nil })
	if err != nil || string(e.Value) != "new" || e.TTL != time.Hour {
		t.Fatalf("compute = %+v, %v", e, err)
	}
	if got, _ := c.Get(ctx, "k"); string(got.Value) != "new" {
		t.Fatalf("cached = %q", got.Value)
	}
}
