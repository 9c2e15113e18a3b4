package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

// appendTo is an UpdateFunc that appends tag to the current value.
func appendTo(tag string) UpdateFunc {
	return func(cur []byte) ([]byte, time.Duration, error) {
		return append(append([]byte(nil), cur...), tag...), time.Minute, nil
	}
}

// UpdateAll merges every key like Update does, concurrent writers included, on a standalone
// Redis (one transaction), on a Cluster (one Update per key) and in memory.
func TestUpdateAllMergesEveryKeyUnderConcurrency(t *testing.T) {
	all := caches(t)
	all["cluster"] = newCache(t, func() Config {
		c := testConfig("")
		c.Addrs, c.Mode = redistest.StartCluster(t, 3, 0).Addrs(), ModeCluster
		return c
	}(), nil, discard, true)
	keys := []string{"hama:analysis:BTCUSDT", "hama:series:BTCUSDT:1m", "hama:series:BTCUSDT:1h"}
	for name, c := range all {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			for i := range 30 {
				wg.Go(func() {
					changes := map[string]Change{}
					for _, k := range keys {
						changes[k] = Change{Fn: appendTo(fmt.Sprintf("[%d]", i))}
					}
					if err := c.UpdateAll(context.Background(), changes); err != nil {
						t.Error(err)
					}
				})
				wg.Go(func() { // a writer of one of the keys alone
					if err := c.Update(context.Background(), keys[1], appendTo(fmt.Sprintf("<%d>", i))); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			for _, k := range keys {
				e, err := c.Get(context.Background(), k)
				if err != nil {
					t.Fatal(err)
				}
				for i := range 30 {
					if strings.Count(string(e.Value), fmt.Sprintf("[%d]", i)) != 1 {
						t.Fatalf("%s: writer %d's part is missing or doubled: %s", k, i, e.Value)
					}
					if want := 0; k == keys[1] {
						want = 1
						if strings.Count(string(e.Value), fmt.Sprintf("<%d>", i)) != want {
							t.Fatalf("%s: the single-key writer %d's part is missing or doubled: %s", k, i, e.Value)
						}
					}
				}
			}
		})
	}
}

// A standalone Redis takes the keys in one transaction: a change of any of them between the read
// and the write runs every function again, and a function's error writes none of them.
func TestUpdateAllIsOneTransaction(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, testConfig(srv.Addr()), nil, discard, true)
	raw := rawClient(t, srv.Addr())
	ctx := context.Background()
	calls := 0
	err := c.UpdateAll(ctx, map[string]Change{
		"a": {Fn: func(cur []byte) ([]byte, time.Duration, error) {
			calls++
			if calls == 1 {
				raw.Set(ctx, "b", "changed", 0) // another writer, after the read
			}
			return []byte("A"), time.Minute, nil
		}},
		"b": {Fn: appendTo("+B")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.MGet(ctx, "a", "b").Val(); calls != 2 || got[0] != "A" || got[1] != "changed+B" {
		t.Fatalf("after %d runs: %v; want the write retried on the other writer's value", calls, got)
	}
	if ttl := raw.PTTL(ctx, "b").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("ttl %s", ttl)
	}
	boom := errors.New("merge refused")
	err = c.UpdateAll(ctx, map[string]Change{
		"a": {Fn: appendTo("x")},
		"b": {Fn: func([]byte) ([]byte, time.Duration, error) { return nil, 0, boom }},
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateAll = %v, want the function's error", err)
	}
	if got := raw.MGet(ctx, "a", "b").Val(); got[0] != "A" || got[1] != "changed+B" {
		t.Fatalf("a failed UpdateAll wrote %v", got)
	}
	// The memory copy has what Redis has: it answers when Redis is gone.
	srv.Kill()
	if e, err := c.Get(ctx, "b"); err != nil || string(e.Value) != "changed+B" || e.Backend != BackendMemory {
		t.Fatalf("with Redis down: %q from %s, %v", e.Value, e.Backend, err)
	}
	if err := c.UpdateAll(ctx, map[string]Change{"a": {Fn: appendTo("1")}, "b": {Fn: appendTo("2")}}); err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Get(ctx, "a"); string(e.Value) != "A1" {
		t.Fatalf("a written while Redis is down: %q", e.Value)
	}
}

// A Change with a Head hands its function only the value's first bytes, and Keep leaves the key
// as it is: a large value kept is neither read whole from Redis nor written back.
func TestUpdateAllReadsOnlyTheHeadOfAKeptValue(t *testing.T) {
	srv := redistest.Start(t)
	all := caches(t)
	all["redis"] = newCache(t, testConfig(srv.Addr()), nil, discard, true)
	raw := rawClient(t, srv.Addr())
	large := "v1:" + strings.Repeat("x", 100_000)
	for name, c := range all {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			set(t, c, "chart", large, time.Minute)
			sentBefore := netOutput(t, raw)
			var seen, seenAbsent []byte
			err := c.UpdateAll(ctx, map[string]Change{
				"chart": {Head: 3, Fn: func(cur []byte) ([]byte, time.Duration, error) {
					seen = cur
					return nil, 0, Keep
				}},
				"absent": {Head: 3, Fn: func(cur []byte) ([]byte, time.Duration, error) {
					seenAbsent = cur
					return nil, 0, Keep
				}},
				"doc": {Fn: appendTo("d")},
			})
			if err != nil {
				t.Fatal(err)
			}
			if string(seen) != "v1:" || seenAbsent != nil {
				t.Fatalf("the functions saw %q and %q; want the head v1: and nil for the absent key", seen, seenAbsent)
			}
			if name == "redis" {
				if sent := netOutput(t, raw) - sentBefore; sent > int64(len(large)/2) { // the health checks' answers aside
					t.Fatalf("redis sent %d bytes for the update; the kept value is %d bytes and must not be read", sent, len(large))
				}
			}
			if e, err := c.Get(ctx, "chart"); err != nil || string(e.Value) != large {
				t.Fatalf("the kept value changed: %d bytes, %v", len(e.Value), err)
			}
			if _, err := c.Get(ctx, "absent"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a kept absent key was written: %v", err)
			}
			if e, err := c.Get(ctx, "doc"); err != nil || string(e.Value) != "d" {
				t.Fatalf("the other key of the update: %q, %v", e.Value, err)
			}
		})
	}
}

// netOutput is how many bytes the Redis server has sent to its clients so far.
func netOutput(t *testing.T, raw *redis.Client) int64 {
	t.Helper()
	n, err := strconv.ParseInt(infoField(t, raw, "stats", "total_net_output_bytes"), 10, 64)
	if err != nil {
		t.Fatalf("total_net_output_bytes: %v", err)
	}
	return n
}
