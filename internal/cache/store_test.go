package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

// stores returns each Store implementation, the Redis one on a fresh test server.
func stores(t *testing.T) map[string]Store {
	srv := redistest.Start(t)
	r, err := NewRedis(testConfig(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return map[string]Store{
		"redis":  r,
		"memory": NewMemory(100, 0),
		"tiered": newTiered(t, testConfig(redistest.Start(t).Addr()), nil, discard, true),
	}
}

func TestStoresBasicOperationsAndTTL(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("get of a missing key = %v, want ErrNotFound", err)
			}
			if err := s.Set(ctx, "k", []byte("v1"), time.Minute); err != nil {
				t.Fatal(err)
			}
			e, err := s.Get(ctx, "k")
			if err != nil || string(e.Value) != "v1" || e.TTL <= 50*time.Second || e.TTL > time.Minute {
				t.Fatalf("get = %+v, %v; want v1 with about a minute left", e, err)
			}
			if want := map[string]Backend{"redis": BackendRedis, "memory": BackendMemory, "tiered": BackendRedis}[name]; e.Backend != want {
				t.Fatalf("served by %s, want %s", e.Backend, want)
			}
			if err := s.Set(ctx, "k", []byte("v2"), time.Minute); err != nil {
				t.Fatal(err)
			}
			if e, _ := s.Get(ctx, "k"); string(e.Value) != "v2" {
				t.Fatalf("after overwrite: %q", e.Value)
			}
			if err := s.Set(ctx, "short", []byte("x"), 150*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the short-lived key expires", func() bool {
				_, err := s.Get(ctx, "short")
				return errors.Is(err, ErrNotFound)
			})
			if err := s.Set(ctx, "k2", []byte("x"), time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "k", "k2", "never-set"); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"k", "k2"} {
				if _, err := s.Get(ctx, k); !errors.Is(err, ErrNotFound) {
					t.Fatalf("deleted key %s still there", k)
				}
			}
			if err := s.Set(ctx, "gone", []byte("x"), time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := s.Set(ctx, "gone", []byte("x"), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, "gone"); !errors.Is(err, ErrNotFound) {
				t.Fatal("a zero TTL must delete the key")
			}
		})
	}
}

func TestStoresKeysListsThePrefixOnly(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for _, k := range []string{"hama:analysis:BTCUSDT", "hama:analysis:ETHUSDT", "hama:analysisX", "other"} {
				if err := s.Set(ctx, k, []byte("x"), time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			keys, err := s.Keys(ctx, "hama:analysis:")
			if err != nil || len(keys) != 2 {
				t.Fatalf("keys = %v, %v; want the two under the prefix", keys, err)
			}
			// Glob characters in a prefix are literal.
			if keys, _ := s.Keys(ctx, "hama:analysis*"); len(keys) != 0 {
				t.Fatalf("prefix with * matched %v", keys)
			}
		})
	}
}

func TestKeysScansTenThousandKeysWithoutKEYS(t *testing.T) {
	// KEYS is renamed away on this server, so any use of it fails.
	srv := redistest.Start(t, "--rename-command", "KEYS", "")
	ctx := context.Background()
	raw := rawClient(t, srv.Addr())
	if err := raw.Keys(ctx, "*").Err(); err == nil {
		t.Fatal("KEYS still works on the test server; the test could not catch its use")
	}
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
	r, err := NewRedis(testConfig(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	keys, err := r.Keys(ctx, "hama:analysis:")
	if err != nil {
		t.Fatal(err)
	}
	unique := map[string]bool{}
	for _, k := range keys {
		unique[k] = true
	}
	if len(keys) != 10000 || len(unique) != 10000 || unique["other:key"] {
		t.Fatalf("SCAN returned %d keys (%d distinct) under the prefix, want 10000", len(keys), len(unique))
	}
	if s := r.Stats(ctx); !s.RedisUp || s.Keys != 10000 {
		t.Fatalf("stats = %+v, want 10000 keys", s)
	}
}

func TestUpdateMergesUnderConcurrency(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			for i := range 50 {
				wg.Go(func() {
					err := s.Update(context.Background(), "merged", func(cur []byte) ([]byte, time.Duration, error) {
						return append(append([]byte(nil), cur...), fmt.Sprintf("[%d]", i)...), time.Minute, nil
					})
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			e, err := s.Get(context.Background(), "merged")
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
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := s.Set(ctx, "doc", []byte("old"), time.Minute); err != nil {
				t.Fatal(err)
			}
			err := s.Update(ctx, "doc", func([]byte) ([]byte, time.Duration, error) { return []byte("new"), time.Minute, boom })
			if !errors.Is(err, boom) {
				t.Fatalf("update = %v, want the function's error", err)
			}
			if e, _ := s.Get(ctx, "doc"); string(e.Value) != "old" {
				t.Fatalf("value after a failed update = %q", e.Value)
			}
			if s, ok := s.(*Tiered); ok && s.Degraded() {
				t.Fatal("the function's error was taken for a Redis failure")
			}
			err = s.Update(ctx, "doc", func(cur []byte) ([]byte, time.Duration, error) {
				if string(cur) != "old" {
					t.Errorf("current = %q", cur)
				}
				return nil, 0, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, "doc"); !errors.Is(err, ErrNotFound) {
				t.Fatal("an update returning ttl 0 must delete the key")
			}
		})
	}
}

// copyIfNewer is the resync rule: Redis keeps a value that lives at least as long as the memory
// copy (written at the same time or later) or that has no expiry.
func TestResyncCopiesOnlyWhatRedisLacksOrHoldsOlder(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	raw := rawClient(t, srv.Addr())
	raw.Set(ctx, "newer-in-redis", "redis", time.Hour)
	raw.Set(ctx, "older-in-redis", "redis", time.Minute)
	raw.Set(ctx, "persistent", "redis", 0)
	r, err := NewRedis(testConfig(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	entries := make([]memoryCopy, 0, 4)
	for _, k := range []string{"newer-in-redis", "older-in-redis", "persistent", "missing-in-redis"} {
		entries = append(entries, memoryCopy{key: k, value: []byte("memory"), ttl: 10 * time.Minute})
	}
	copied, failed, err := r.copyIfNewer(ctx, entries)
	if err != nil || len(failed) != 0 || copied != 2 {
		t.Fatalf("copied %d, failed %v, %v; want 2 copied", copied, failed, err)
	}
	want := map[string]string{"newer-in-redis": "redis", "older-in-redis": "memory", "persistent": "redis", "missing-in-redis": "memory"}
	for k, v := range want {
		if got := raw.Get(ctx, k).Val(); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if ttl := raw.PTTL(ctx, "missing-in-redis").Val(); ttl < 9*time.Minute || ttl > 10*time.Minute {
		t.Errorf("copied TTL %s, want the remaining 10m", ttl)
	}
}
