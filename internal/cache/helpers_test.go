package cache

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/redis/go-redis/v9"
)

var discard = logr.Discard()

// testConfig points at a test server with short timeouts, so outages are noticed fast.
func testConfig(addr string) Config {
	c := DefaultConfig()
	c.RedisEnabled = true
	c.Addrs = []string{addr}
	c.HealthInterval = 50 * time.Millisecond
	c.BreakerCooldown = 0
	c.ReadTimeout, c.WriteTimeout, c.DialTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
	return c
}

// newTiered builds a Tiered; with healthLoop it also runs Start until the test ends.
func newTiered(t testing.TB, cfg Config, obs Observer, log logr.Logger, healthLoop bool) *Tiered {
	t.Helper()
	c, err := NewTiered(cfg, obs, log)
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

func rawClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// eventually polls cond up to a generous deadline: it checks that something happens, not how fast.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readUntilMemoryServes reads key after Redis died: every read must answer want without an error
// (the client cache may answer the first ones, until go-redis sees its connections closed), until
// memory answers. It returns memory's answer.
func readUntilMemoryServes(t testing.TB, c *Tiered, key, want string) Entry {
	t.Helper()
	var e Entry
	eventually(t, "memory serves "+key, func() bool {
		var err error
		e, err = c.Get(context.Background(), key)
		if err != nil || string(e.Value) != want {
			t.Fatalf("read during the outage = %q from %s, %v; want %q", e.Value, e.Backend, err, want)
		}
		return e.Backend == BackendMemory
	})
	return e
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

// logBuffer collects log lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		b.mu.Lock()
		b.lines = append(b.lines, args)
		b.mu.Unlock()
	}, funcr.Options{})
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}
