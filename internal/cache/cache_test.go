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

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

func testConfig(addr string) Config {
	c := DefaultConfig()
	c.RedisEnabled = true
	c.Addrs = []string{addr}
	c.HealthInterval = 50 * time.Millisecond
	c.ReadTimeout, c.WriteTimeout, c.DialTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
	return c
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

func startTiered(t *testing.T, cfg Config, obs Observer) *Tiered {
	t.Helper()
	c, err := NewTiered(cfg, obs, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = c.Start(ctx) }()
	t.Cleanup(func() { cancel(); _ = c.Close() })
	return c
}

func rawClient(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStoresBasicOperationsAndTTL(t *testing.T) {
	srv := redistest.Start(t)
	r, err := NewRedis(testConfig(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for name, s := range map[string]Store{"redis": r, "memory": NewMemory(100, 0)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("get of a missing key = %v", err)
			}
			if err := s.Set(ctx, "k", []byte("v1"), time.Minute); err != nil {
				t.Fatal(err)
			}
			e, err := s.Get(ctx, "k")
			if err != nil || string(e.Value) != "v1" || e.TTL <= 50*time.Second || e.TTL > time.Minute {
				t.Fatalf("get = %+v, %v", e, err)
			}
			if err := s.Set(ctx, "short", []byte("x"), 150*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the short-lived key expires", func() bool {
				_, err := s.Get(ctx, "short")
				return errors.Is(err, ErrNotFound)
			})
			if err := s.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
				t.Fatal("deleted key still there")
			}
		})
	}
}

func TestKeysScansTenThousandKeysWithoutKEYS(t *testing.T) {
	// KEYS is renamed away: any use of it would fail this test.
	srv := redistest.Start(t, "--rename-command", "KEYS", "")
	r, err := NewRedis(testConfig(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 10000 {
			p.Set(ctx, fmt.Sprintf("hama:analysis:S%05d", i), "x", time.Hour)
		}
		p.Set(ctx, "other:key", "x", time.Hour)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := r.Keys(ctx, "hama:analysis:")
	if err != nil {
		t.Fatal(err)
	}
	unique := map[string]bool{}
	for _, k := range keys {
		unique[k] = true
	}
	if len(unique) != 10000 || unique["other:key"] {
		t.Fatalf("SCAN found %d distinct keys under the prefix, want 10000", len(unique))
	}
}

func TestUpdateIsAtomicUnderConcurrency(t *testing.T) {
	srv := redistest.Start(t)
	r, err := NewRedis(testConfig(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for name, s := range map[string]Store{"redis": r, "memory": NewMemory(10, 0)} {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			for i := range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := s.Update(context.Background(), "merged", func(cur []byte) ([]byte, time.Duration, error) {
						return append(append([]byte(nil), cur...), fmt.Sprintf("[%d]", i)...), time.Minute, nil
					})
					if err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			e, err := s.Get(context.Background(), "merged")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				if !strings.Contains(string(e.Value), fmt.Sprintf("[%d]", i)) {
					t.Fatalf("writer %d's field was lost: %s", i, e.Value)
				}
			}
		})
	}
}

func TestMemoryBoundEvictsTheOldest(t *testing.T) {
	m := NewMemory(100, 0)
	for i := range 130 {
		_ = m.Set(context.Background(), fmt.Sprintf("k%d", i), []byte("v"), time.Hour)
	}
	if m.Len() != 100 {
		t.Fatalf("memory holds %d entries, bound is 100", m.Len())
	}
	if _, err := m.Get(context.Background(), "k29"); !errors.Is(err, ErrNotFound) {
		t.Fatal("k29, among the 30 oldest, was not evicted")
	}
	if _, err := m.Get(context.Background(), "k30"); err != nil {
		t.Fatal("k30 was evicted but is not among the oldest")
	}
}

func TestSingleFlightComputesOnce(t *testing.T) {
	c := startTiered(t, DefaultConfig(), nil)
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, _, err := c.GetOrCompute(context.Background(), "hama:analysis:BTCUSDT", func(context.Context) ([]byte, time.Duration, error) {
				calls.Add(1)
				<-release
				return []byte("doc"), time.Minute, nil
			})
			if err != nil || string(e.Value) != "doc" {
				t.Errorf("GetOrCompute = %q, %v", e.Value, err)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // let the callers pile up on the one computation
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("compute ran %d times for one key, want 1", calls.Load())
	}
}

// kill -9 of Redis in the middle of reads and writes from many goroutines: no caller sees an error,
// reads come from memory; restarted, Redis serves again and holds the outage's writes.
func TestRedisKilledAndRestarted(t *testing.T) {
	srv := redistest.Start(t)
	obs := &countingObserver{}
	c := startTiered(t, testConfig(srv.Addr()), obs)
	ctx := context.Background()
	for i := range 20 {
		if err := c.Set(ctx, fmt.Sprintf("hama:analysis:S%d", i), []byte("before"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if e, err := c.Get(ctx, "hama:analysis:S0"); err != nil || e.Backend != BackendRedis {
		t.Fatalf("before the outage: %+v, %v", e, err)
	}

	var (
		stop       atomic.Bool
		callErrors atomic.Int32
		reads      atomic.Int32
		wg         sync.WaitGroup
	)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				key := fmt.Sprintf("hama:analysis:S%d", (g+i)%20)
				if _, err := c.Get(ctx, key); err != nil {
					callErrors.Add(1)
				}
				reads.Add(1)
				if err := c.Set(ctx, key, []byte("during"), time.Hour); err != nil {
					callErrors.Add(1)
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	srv.Kill()
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	if callErrors.Load() != 0 {
		t.Fatalf("%d of %d calls failed during the outage; want none", callErrors.Load(), reads.Load())
	}
	e, err := c.Get(ctx, "hama:analysis:S3")
	if err != nil || e.Backend != BackendMemory || string(e.Value) != "during" {
		t.Fatalf("during the outage: %+v, %v; want the memory copy", e, err)
	}
	stats := c.Stats()
	if stats.RedisUp || stats.Fallbacks == 0 || stats.LastError == "" || !c.Degraded() {
		t.Fatalf("stats during the outage = %+v", stats)
	}
	if err := c.Set(ctx, "hama:analysis:OUTAGE", []byte("written while down"), time.Hour); err != nil {
		t.Fatal(err)
	}
	_ = c.Delete(ctx, "hama:analysis:S19")

	srv.Restart()
	eventually(t, "the cache serves from redis again", func() bool { return c.Stats().RedisUp })
	raw := rawClient(t, srv.Addr())
	got, err := raw.Get(ctx, "hama:analysis:OUTAGE").Result()
	if err != nil || got != "written while down" {
		t.Fatalf("outage write in redis = %q, %v", got, err)
	}
	if ttl := raw.PTTL(ctx, "hama:analysis:OUTAGE").Val(); ttl < 55*time.Minute {
		t.Fatalf("resynced TTL %s: the remaining TTL was not kept", ttl)
	}
	if n := raw.Exists(ctx, "hama:analysis:S19").Val(); n != 0 {
		t.Fatal("the delete made during the outage was not replayed")
	}
	if e, err := c.Get(ctx, "hama:analysis:S3"); err != nil || e.Backend != BackendRedis {
		t.Fatalf("after recovery: %+v, %v", e, err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.fallbacks == 0 || !obs.up || obs.requests["memory/hit"] == 0 || obs.requests["redis/hit"] == 0 {
		t.Fatalf("observer saw %+v", obs)
	}
}

// An open breaker sends calls straight to memory: with Redis dead, reads do not try Redis each time.
func TestBreakerSkipsADeadRedis(t *testing.T) {
	srv := redistest.Start(t)
	cfg := testConfig(srv.Addr())
	cfg.HealthInterval = time.Hour // no recovery probe during the test
	c := startTiered(t, cfg, nil)
	srv.Kill()
	ctx := context.Background()
	_ = c.Set(ctx, "k", []byte("v"), time.Minute) // this call meets the dead Redis and opens the breaker
	before := c.Stats().Fallbacks
	for range 100 {
		if _, err := c.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if after := c.Stats().Fallbacks; after != before || before != 1 {
		t.Fatalf("fallbacks went from %d to %d over 100 reads: Redis was tried again", before, after)
	}
}

func TestWrongPasswordFallsBackWithAClearError(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "right")
	cfg := testConfig(srv.Addr())
	cfg.Password = "wrong"
	c := startTiered(t, cfg, nil)
	ctx := context.Background()
	if err := c.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if e, err := c.Get(ctx, "k"); err != nil || e.Backend != BackendMemory {
		t.Fatalf("get = %+v, %v; want the memory copy", e, err)
	}
	if s := c.Stats(); s.RedisUp || !strings.Contains(s.LastError, "WRONGPASS") {
		t.Fatalf("stats = %+v, want the authentication error", s)
	}
}

func TestDisabledRedisIsMemoryOnlyAndNotDegraded(t *testing.T) {
	c := startTiered(t, DefaultConfig(), nil)
	_ = c.Set(context.Background(), "k", []byte("v"), time.Minute)
	e, err := c.Get(context.Background(), "k")
	if err != nil || e.Backend != BackendMemory || c.Degraded() {
		t.Fatalf("get = %+v, %v, degraded %v", e, err, c.Degraded())
	}
}
