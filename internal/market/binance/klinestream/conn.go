package klinestream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// maxMessageBytes bounds one message; kline events are under 1 KiB.
const maxMessageBytes = 1 << 20

var (
	errIdle  = errors.New("no message, ping or pong within the idle timeout")
	errRenew = errors.New("renewing the connection before the exchange's 24-hour cut")
)

// conn is one WebSocket connection and the streams it carries; it reconnects until it has none.
type conn struct {
	client  *Client
	changed chan struct{} // poked when want changes

	mu   sync.Mutex
	want map[string]Stream // by name
}

func (cn *conn) size() int {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return len(cn.want)
}

func (cn *conn) wanted() map[string]Stream {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return maps.Clone(cn.want)
}

func (cn *conn) poke() {
	select {
	case cn.changed <- struct{}{}:
	default:
	}
}

// run keeps the connection up while it has streams: a session at a time, with jittered backoff
// after failures. A renewal reconnects at once.
func (cn *conn) run(ctx context.Context) {
	c := cn.client
	failures := 0
	for resumed := false; ; resumed = true {
		if cn.size() == 0 || ctx.Err() != nil {
			return
		}
		err := cn.session(ctx, resumed)
		switch {
		case ctx.Err() != nil || cn.size() == 0:
			return
		case errors.Is(err, errRenew):
			failures = 0
			c.cfg.Log.V(1).Info("renewing a stream connection")
			continue
		}
		failures++
		c.reconnects.Add(1)
		if c.cfg.Observer != nil {
			c.cfg.Observer.ObserveStreamReconnect()
		}
		wait := c.backoff(failures)
		c.cfg.Log.Info("stream connection lost; reconnecting", "error", err.Error(), "after", wait)
		select {
		case <-c.cfg.Clock.After(wait):
		case <-ctx.Done():
			return
		}
	}
}

// session is one connection: dial with the first streams in the URL, subscribe the rest, then read
// until an error, an idle timeout or the renewal time. resumed says whether a previous session ran.
func (cn *conn) session(ctx context.Context, resumed bool) error {
	c := cn.client
	want := cn.wanted()
	names := slices.Sorted(maps.Keys(want))
	first := names[:min(len(names), c.cfg.StreamsPerMessage)]

	if err := c.cfg.Dials.Wait(ctx); err != nil {
		return err
	}
	var lastFrame atomic.Int64
	seen := func() { lastFrame.Store(c.cfg.Clock.Now().UnixNano()) }
	dialCtx, cancelDial := context.WithTimeout(ctx, c.cfg.DialTimeout)
	ws, _, err := websocket.Dial(dialCtx, c.cfg.URL+"/stream?streams="+strings.Join(first, "/"), &websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool { seen(); return true }, // the library sends the pong
		OnPongReceived: func(context.Context, []byte) { seen() },
	})
	cancelDial()
	if err != nil {
		return fmt.Errorf("dialing %s: %w", c.cfg.URL, err)
	}
	defer func() { _ = ws.CloseNow() }()
	ws.SetReadLimit(maxMessageBytes)
	seen()
	c.connectionsChanged(+1)
	defer c.connectionsChanged(-1)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	readErr := make(chan error, 1)
	go func() { readErr <- cn.read(sctx, ws, seen) }()

	out := rate.NewLimiter(rate.Limit(c.cfg.MessagesPerSecond), 1)
	subscribed := map[string]bool{}
	for _, n := range first {
		subscribed[n] = true
	}
	if err := cn.sync(sctx, ws, out, subscribed); err != nil {
		return err
	}
	if resumed && c.cfg.OnResume != nil {
		streams := slices.Collect(maps.Values(want))
		go c.cfg.OnResume(streams)
	}

	ping := c.cfg.Clock.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	renewAfter := c.cfg.MaxConnAge - time.Duration(rand.Int64N(int64(10*time.Minute)))
	renew := c.cfg.Clock.NewTimer(max(renewAfter, c.cfg.MaxConnAge/2))
	defer renew.Stop()
	for {
		select {
		case err := <-readErr:
			return err
		case <-cn.changed:
			if err := cn.sync(sctx, ws, out, subscribed); err != nil {
				return err
			}
			if len(subscribed) == 0 {
				_ = ws.Close(websocket.StatusNormalClosure, "no streams left")
				return nil
			}
		case <-ping.C():
			if c.cfg.Clock.Since(time.Unix(0, lastFrame.Load())) > c.cfg.IdleTimeout {
				return errIdle
			}
			if cn.pace(sctx, out) == nil {
				go func() { // the pong arrives through the reader and counts as a frame
					pctx, done := context.WithTimeout(sctx, c.cfg.PingInterval)
					defer done()
					_ = ws.Ping(pctx)
				}()
			}
		case <-renew.C():
			return errRenew
		case <-ctx.Done():
			_ = ws.Close(websocket.StatusGoingAway, "shutting down")
			return ctx.Err()
		}
	}
}

// sync sends SUBSCRIBE and UNSUBSCRIBE messages until the server's set is the wanted one.
func (cn *conn) sync(ctx context.Context, ws *websocket.Conn, out *rate.Limiter, subscribed map[string]bool) error {
	want := cn.wanted()
	var add, drop []string
	for name := range want {
		if !subscribed[name] {
			add = append(add, name)
		}
	}
	for name := range subscribed {
		if _, ok := want[name]; !ok {
			drop = append(drop, name)
		}
	}
	slices.Sort(add)
	slices.Sort(drop)
	for _, change := range []struct {
		method string
		names  []string
	}{{"UNSUBSCRIBE", drop}, {"SUBSCRIBE", add}} {
		for chunk := range slices.Chunk(change.names, cn.client.cfg.StreamsPerMessage) {
			if err := cn.pace(ctx, out); err != nil {
				return err
			}
			msg, _ := json.Marshal(map[string]any{"method": change.method, "params": chunk, "id": rand.Uint32()})
			if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
				return fmt.Errorf("%s: %w", strings.ToLower(change.method), err)
			}
			for _, name := range chunk {
				if change.method == "SUBSCRIBE" {
					subscribed[name] = true
				} else {
					delete(subscribed, name)
				}
			}
		}
	}
	return nil
}

// pace waits, on the client's clock, until the connection may send another message.
func (cn *conn) pace(ctx context.Context, out *rate.Limiter) error {
	clk := cn.client.cfg.Clock
	d := out.ReserveN(clk.Now(), 1).DelayFrom(clk.Now())
	if d <= 0 {
		return nil
	}
	select {
	case <-clk.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// read hands every message to handle until the connection fails. One buffer serves every message:
// the open-candle updates of a thousand streams arrive hundreds of times a second.
func (cn *conn) read(ctx context.Context, ws *websocket.Conn, seen func()) error {
	var buf bytes.Buffer
	for {
		_, r, err := ws.Reader(ctx)
		if err != nil {
			return err
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		seen()
		cn.handle(buf.Bytes(), cn.client.cfg.Clock.Now())
	}
}

// handle classifies one message and passes a closed kline on.
func (cn *conn) handle(data []byte, received time.Time) {
	c := cn.client
	k, kind := decode(data)
	if kind == KindClosed {
		cn.mu.Lock()
		s, ok := cn.want[k.Name()]
		cn.mu.Unlock()
		if !ok {
			kind = KindUnknown
		} else {
			k.Stream, k.Received = s, received
		}
	}
	c.lastMessage.Store(received.UnixNano())
	c.observeMessage(kind)
	if kind == KindClosed {
		c.cfg.OnClose(k)
	}
}
