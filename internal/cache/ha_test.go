package cache

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

// A Redis restarted empty between two health checks, with no call in between, is noticed by its new
// run_id: the next check copies back what this process wrote.
func TestHealthCheckNoticesARestartBetweenTwoChecks(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	c := newCache(t, testConfig(srv.Addr()), nil, discard, false) // the test runs the checks
	set(t, c, "hama:analysis:BTCUSDT", "v1", time.Minute)

	srv.Restart()
	raw := rawClient(t, srv.Addr())
	if n, _ := raw.Exists(ctx, "hama:analysis:BTCUSDT").Result(); n != 0 {
		t.Fatal("the restarted server should be empty")
	}
	c.checkHealth(ctx)
	if got, err := raw.Get(ctx, "hama:analysis:BTCUSDT").Result(); err != nil || got != "v1" {
		t.Fatalf("after the health check Redis holds %q, %v; want the value copied back", got, err)
	}
	if !c.Stats().RedisUp {
		t.Fatal("Redis should serve after the recovery")
	}
}

// load calls Get and Update from several goroutines until stop is closed, each writer on its own
// keys with a rising counter, and counts what failed.
type load struct {
	c          *Cache
	keys       []string
	stop       chan struct{}
	wg         sync.WaitGroup
	reads      atomic.Int64
	failedRead atomic.Int64
	failedErr  atomic.Value
	writes     atomic.Int64
	failedWrt  atomic.Int64
	last       sync.Map // key -> last value written
}

func startLoad(t *testing.T, cfg Config, nKeys, readers int) (*Cache, *load) {
	t.Helper()
	c := newCache(t, cfg, nil, discard, true)
	if !c.Stats().RedisUp {
		t.Fatalf("the cache does not reach Redis (%s): %s", cfg.Mode, c.Stats().LastError)
	}
	keys := make([]string, nKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("hama:analysis:SYM%dUSDT", i)
	}
	l := &load{c: c, keys: keys, stop: make(chan struct{})}
	ctx := context.Background()
	for _, k := range keys {
		set(t, c, k, "0", time.Hour)
		l.last.Store(k, "0")
	}
	for r := range readers {
		l.wg.Go(func() {
			for i := r; i < 1_000_000 && !l.stopped(); i++ {
				l.reads.Add(1)
				if _, err := c.Get(ctx, keys[i%len(keys)]); err != nil {
					l.failedRead.Add(1)
					l.failedErr.Store(err.Error())
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	for w, k := range keys[:min(4, len(keys))] { // four writers, one key each: no contention
		l.wg.Go(func() {
			for i := 1; i < 1_000_000 && !l.stopped(); i++ {
				v := strconv.Itoa(w*1_000_000 + i)
				l.writes.Add(1)
				if err := c.Update(ctx, k, func([]byte) ([]byte, time.Duration, error) { return []byte(v), time.Hour, nil }); err != nil {
					l.failedWrt.Add(1)
				} else {
					l.last.Store(k, v)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	t.Cleanup(l.end)
	return c, l
}

func (l *load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// check fails the test on any failed call, and checks that Redis holds every key's last write.
func (l *load) check(t *testing.T, redisHolds func(key string) string) {
	t.Helper()
	l.end()
	if n := l.failedRead.Load(); n != 0 {
		t.Errorf("%d of %d reads failed, e.g. %v", n, l.reads.Load(), l.failedErr.Load())
	}
	if n := l.failedWrt.Load(); n != 0 {
		t.Errorf("%d of %d writes failed", n, l.writes.Load())
	}
	l.last.Range(func(k, v any) bool {
		if got := redisHolds(k.(string)); got != v.(string) {
			t.Errorf("redis holds %s = %q, want the last write %q", k, got, v)
		}
		return true
	})
	t.Logf("reads %d (failed %d), writes %d (failed %d)", l.reads.Load(), l.failedRead.Load(), l.writes.Load(), l.failedWrt.Load())
}

// waitUntil polls cond and returns when it held.
func waitUntil(t *testing.T, what string, cond func() bool) time.Time {
	t.Helper()
	eventually(t, what, cond)
	return time.Now()
}

func TestSentinelFailoverUnderLoad(t *testing.T) {
	ctx := context.Background()
	st := redistest.StartSentinel(t, "hama", 1)
	cfg := testConfig("")
	cfg.Mode, cfg.MasterName, cfg.Addrs = ModeSentinel, "hama", st.Addrs()
	c, l := startLoad(t, cfg, 20, 4)
	replica := st.Replicas[0]
	time.Sleep(300 * time.Millisecond) // load on a healthy master first

	killed := time.Now()
	st.Master.Kill()
	down := waitUntil(t, "the cache notices the outage", func() bool { return !c.Stats().RedisUp })
	promoted := waitUntil(t, "the sentinels promote the replica", func() bool { return st.MasterAddr(ctx) == replica.Addr() })
	resumed := waitUntil(t, "the cache writes to the new master", func() bool { return c.Stats().RedisUp })
	time.Sleep(300 * time.Millisecond) // load on the new master
	if role := replica.Role(ctx); role != "master" {
		t.Fatalf("the promoted replica reports role %q", role)
	}
	raw := rawClient(t, replica.Addr())
	l.check(t, func(k string) string { return raw.Get(ctx, k).Val() })
	t.Logf("outage noticed after %v; failover (kill to promotion) %v; writes reached Redis again after %v (memory took them meanwhile)",
		down.Sub(killed).Round(time.Millisecond), promoted.Sub(killed).Round(time.Millisecond), resumed.Sub(killed).Round(time.Millisecond))
}

func TestClusterSpreadsKeysAndFailsOverUnderLoad(t *testing.T) {
	ctx := context.Background()
	cl := redistest.StartCluster(t, 3, 1)
	cfg := testConfig("")
	cfg.Mode, cfg.Addrs = ModeCluster, cl.Addrs()
	c, l := startLoad(t, cfg, 200, 4)
	keys := l.keys

	// The documents spread over slots and every master; Keys finds them all.
	slots := map[int64]bool{}
	for _, k := range keys {
		slots[rawClient(t, cl.Nodes[0].Addr()).ClusterKeySlot(ctx, k).Val()] = true
	}
	var masters []*redistest.Server
	for _, n := range cl.Nodes {
		if n.Role(ctx) == "master" {
			masters = append(masters, n)
			if size := rawClient(t, n.Addr()).DBSize(ctx).Val(); size == 0 {
				t.Errorf("master %s holds no key", n.Addr())
			}
		}
	}
	if len(slots) < 150 || len(masters) != 3 {
		t.Fatalf("%d keys in %d slots on %d masters; want them spread over many slots and 3 masters", len(keys), len(slots), len(masters))
	}
	if got, err := c.Keys(ctx, "hama:analysis:"); err != nil || len(got) != len(keys) {
		t.Fatalf("Keys = %d keys, %v; want %d", len(got), err, len(keys))
	}

	victim := masters[0]
	var replica *redistest.Server
	for _, n := range cl.Nodes {
		if n.MasterOf(ctx) == victim.Addr() {
			replica = n
		}
	}
	if replica == nil {
		t.Fatalf("no replica of %s", victim.Addr())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster nodes as %s sees them:\n%s", replica.Addr(), rawClient(t, replica.Addr()).ClusterNodes(ctx).Val())
		}
	})
	killed := time.Now()
	victim.Kill()
	down := waitUntil(t, "the cache notices the outage", func() bool { return !c.Stats().RedisUp })
	promoted := waitUntil(t, "the replica is promoted and the cluster ok", func() bool {
		return replica.Role(ctx) == "master" && replica.ClusterOK()
	})
	resumed := waitUntil(t, "the cache writes to the cluster again", func() bool { return c.Stats().RedisUp })
	time.Sleep(300 * time.Millisecond)

	before := c.Stats().Fallbacks
	got, err := c.Keys(ctx, "hama:analysis:")
	if err != nil || len(got) != len(keys) || c.Stats().Fallbacks != before {
		t.Fatalf("Keys after the failover = %d keys, %v, from memory: %v; want %d from Redis", len(got), err, c.Stats().Fallbacks != before, len(keys))
	}
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{replica.Addr()}})
	t.Cleanup(func() { _ = cluster.Close() })
	l.check(t, func(k string) string { return cluster.Get(ctx, k).Val() })
	t.Logf("outage noticed after %v; replica promoted after %v; writes reached Redis again after %v (memory took them meanwhile)",
		down.Sub(killed).Round(time.Millisecond), promoted.Sub(killed).Round(time.Millisecond), resumed.Sub(killed).Round(time.Millisecond))
}
