// Package klinestream receives closed candles from Binance's combined kline streams
// (<symbol>@kline_<interval>) over as many WebSocket connections as the streams need, within the
// exchange's limits: at most 1024 streams per connection, a few control messages per second per
// connection, connection attempts paced per IP. It answers the server's pings, pings the server to
// find dead connections, reconnects with jittered backoff and renews each connection before the
// exchange's 24-hour cut. It knows nothing of Kubernetes or the analysis.
package klinestream

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"

	"github.com/hama-operator/hama-operator/internal/market"
)

// Default public endpoints of the kline streams.
const (
	DefaultSpotURL    = "wss://stream.binance.com:9443"
	DefaultFuturesURL = "wss://fstream.binance.com"
)

// Stream is one symbol's kline stream on one interval.
type Stream struct {
	Symbol   string // uppercase, as the REST API and the cache spell it
	Interval string
}

// Name is the exchange's stream name, btcusdt@kline_15m.
func (s Stream) Name() string { return strings.ToLower(s.Symbol) + "@kline_" + s.Interval }

// Kline is a closed candle as a stream delivered it.
type Kline struct {
	Stream
	Candle market.Candle
	// EventTime is the exchange's time of the event; Received is when the message arrived here.
	EventTime, Received time.Time
}

// Message kinds, as counted by Observer.ObserveMessage.
const (
	KindClosed    = "closed"    // a closed kline, handed to OnClose
	KindOpen      = "open"      // an update of a candle still open, skipped
	KindControl   = "control"   // an answer to SUBSCRIBE / UNSUBSCRIBE
	KindMalformed = "malformed" // not JSON, or a kline with missing or unreadable fields
	KindUnknown   = "unknown"   // well-formed but not for us: another event, a stream not asked for, an error answer
)

// Observer is told about the streams' traffic, for metrics.
type Observer interface {
	ObserveStreamMessage(kind string)
	// ObserveStreamConnection is told +1 when a connection opens and -1 when it closes.
	ObserveStreamConnection(delta int)
	ObserveStreamReconnect()
}

// Config configures a Client; zero fields take the defaults noted.
type Config struct {
	// URL of the exchange's stream endpoint, without a path (DefaultSpotURL).
	URL string
	// MaxStreamsPerConn is the exchange's per-connection cap (1024).
	MaxStreamsPerConn int
	// StreamsPerMessage bounds the streams named in one SUBSCRIBE or in the dial URL (100).
	StreamsPerMessage int
	// MessagesPerSecond paces what the client sends on one connection: subscriptions and pings.
	// Binance disconnects above 5 per second (10 on futures) and counts the automatic pongs too (3).
	MessagesPerSecond float64
	// Dials paces connection attempts; share one per exchange IP (Binance allows 300 per 5 minutes:
	// the default is one per second with a burst of 10).
	Dials *rate.Limiter
	// PingInterval is how often the client pings the server, and IdleTimeout how long a connection
	// may stay silent (no message, ping or pong) before it is dropped (30s, 90s).
	PingInterval, IdleTimeout time.Duration
	// MaxConnAge renews a connection before the exchange cuts it at 24 hours (23h30m, minus up to
	// 10 minutes of jitter so that connections opened together do not renew together).
	MaxConnAge time.Duration
	// BackoffBase and BackoffMax shape the jittered exponential delay between reconnects (1s, 1m).
	BackoffBase, BackoffMax time.Duration
	// DialTimeout bounds one connection attempt (10s).
	DialTimeout time.Duration

	// OnClose receives each closed kline, on the connection's read goroutine: it must not block.
	OnClose func(Kline)
	// OnResume receives a connection's streams when it reconnected after a drop: candles that
	// closed while it was down must be fetched over REST. It runs on its own goroutine.
	OnResume func([]Stream)
	// OnChange is called when the number of open connections changes.
	OnChange func()

	Observer Observer
	Clock    clock.WithTicker
	Log      logr.Logger
}

// Client keeps a set of kline streams subscribed. It is safe for concurrent use.
type Client struct {
	cfg Config

	mu      sync.Mutex
	conns   []*conn
	ctx     context.Context // set by Run; nil before
	wg      sync.WaitGroup
	streams map[string]Stream // by name: every stream asked for

	connected   atomic.Int32
	lastMessage atomic.Int64 // unix nanoseconds
	reconnects  atomic.Int64
}

// New returns a client with cfg's gaps filled by the defaults. Call Run to connect.
func New(cfg Config) *Client {
	if cfg.URL == "" {
		cfg.URL = DefaultSpotURL
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.MaxStreamsPerConn <= 0 {
		cfg.MaxStreamsPerConn = 1024
	}
	if cfg.StreamsPerMessage <= 0 {
		cfg.StreamsPerMessage = 100
	}
	if cfg.MessagesPerSecond <= 0 {
		cfg.MessagesPerSecond = 3
	}
	if cfg.Dials == nil {
		cfg.Dials = rate.NewLimiter(1, 10)
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 3 * cfg.PingInterval
	}
	if cfg.MaxConnAge <= 0 {
		cfg.MaxConnAge = 23*time.Hour + 30*time.Minute
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Minute
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.OnClose == nil {
		cfg.OnClose = func(Kline) {}
	}
	return &Client{cfg: cfg, streams: map[string]Stream{}}
}

// Set makes streams the subscribed set: new streams go to connections with room (or new
// connections), dropped ones are unsubscribed; the other streams stay on their connections.
func (c *Client) Set(streams []Stream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := make(map[string]Stream, len(streams))
	for _, s := range streams {
		want[s.Name()] = s
	}
	c.streams = want
	placed := map[string]bool{}
	for _, cn := range c.conns {
		cn.mu.Lock()
		for name := range cn.want {
			if _, ok := want[name]; ok {
				placed[name] = true
			} else {
				delete(cn.want, name)
			}
		}
		cn.mu.Unlock()
		cn.poke()
	}
	var fresh []*conn
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if placed[name] {
			continue
		}
		cn := c.roomy()
		if cn == nil {
			cn = &conn{client: c, want: map[string]Stream{}, changed: make(chan struct{}, 1)}
			c.conns = append(c.conns, cn)
			fresh = append(fresh, cn)
		}
		cn.mu.Lock()
		cn.want[name] = want[name]
		cn.mu.Unlock()
		cn.poke()
	}
	// Connections left without streams close themselves; forget them here.
	c.conns = slices.DeleteFunc(c.conns, func(cn *conn) bool { return cn.size() == 0 })
	if c.ctx != nil {
		for _, cn := range fresh {
			c.start(cn)
		}
	}
}

// roomy is a connection with room for one more stream.
func (c *Client) roomy() *conn {
	for _, cn := range c.conns {
		if cn.size() < c.cfg.MaxStreamsPerConn {
			return cn
		}
	}
	return nil
}

// Run connects and keeps the streams until ctx ends; it returns when every connection is closed.
func (c *Client) Run(ctx context.Context) {
	c.mu.Lock()
	c.ctx = ctx
	for _, cn := range c.conns {
		c.start(cn)
	}
	c.mu.Unlock()
	<-ctx.Done()
	c.wg.Wait()
}

func (c *Client) start(cn *conn) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		cn.run(c.ctx)
	}()
}

// Stats are the client's health, for status.
type Stats struct {
	Connections int
	Streams     int
	// LastMessage is when the last message arrived; zero before the first.
	LastMessage time.Time
	Reconnects  int64
}

// Stats returns the client's health now.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	n := len(c.streams)
	c.mu.Unlock()
	s := Stats{Connections: int(c.connected.Load()), Streams: n, Reconnects: c.reconnects.Load()}
	if ns := c.lastMessage.Load(); ns != 0 {
		s.LastMessage = time.Unix(0, ns).UTC()
	}
	return s
}

// Connections is how many connections the streams need: ceil(streams / MaxStreamsPerConn).
func (c *Client) Connections() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

// backoff is the delay before reconnect attempt n (1, 2, …): exponential, with half of it random.
func (c *Client) backoff(n int) time.Duration {
	ceiling := min(c.cfg.BackoffMax, c.cfg.BackoffBase<<min(n-1, 20))
	return ceiling/2 + time.Duration(rand.Int64N(int64(ceiling/2)+1))
}

func (c *Client) observeMessage(kind string) {
	if c.cfg.Observer != nil {
		c.cfg.Observer.ObserveStreamMessage(kind)
	}
}

func (c *Client) connectionsChanged(delta int) {
	c.connected.Add(int32(delta))
	if c.cfg.Observer != nil {
		c.cfg.Observer.ObserveStreamConnection(delta)
	}
	if c.cfg.OnChange != nil {
		c.cfg.OnChange()
	}
}
