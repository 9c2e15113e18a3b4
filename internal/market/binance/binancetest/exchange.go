// Package binancetest is an exchange of the tests' own that speaks Binance's formats: the klines REST
// API and the combined kline streams over WebSocket (coder/websocket's server side). Its candles are
// a deterministic function of symbol, interval and open time, and its clock moves only when a test
// calls Advance, which pushes every candle that closed to the streams subscribed to it. Tests break
// it on purpose: DropConnections, Skip a candle, SendRaw garbage, SendSlow a frame in two halves.
//
// Its clock starts a day behind the real one and only closed candles are served, so a REST client
// that drops candles closing after its own time.Now keeps them all.
package binancetest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/hama-operator/hama-operator/internal/market"
)

// Exchange is a running test exchange; URL is its REST endpoint and StreamURL its WebSocket one.
type Exchange struct {
	Server    *httptest.Server
	URL       string
	StreamURL string

	mu      sync.Mutex
	now     time.Time
	conns   map[*wsConn]struct{}
	skips   map[string]bool // stream name + " " + open time (unix ms): not pushed
	dials   int
	weight  atomic.Int64
	rests   atomic.Int64
	control atomic.Int64 // SUBSCRIBE / UNSUBSCRIBE messages received
}

type wsConn struct {
	ws      *websocket.Conn
	cancel  context.CancelFunc
	writeMu sync.Mutex

	mu      sync.Mutex
	streams map[string]bool
}

// New starts an exchange whose clock reads start (a day before now, truncated to the day, if zero).
func New(start time.Time) *Exchange {
	if start.IsZero() {
		start = time.Now().UTC().Add(-24 * time.Hour).Truncate(24 * time.Hour)
	}
	e := &Exchange{now: start, conns: map[*wsConn]struct{}{}, skips: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v3/klines", e.klines)
	mux.HandleFunc("GET /fapi/v1/klines", e.klines)
	mux.HandleFunc("GET /stream", e.stream)
	e.Server = httptest.NewServer(mux)
	e.URL = e.Server.URL
	e.StreamURL = "ws" + strings.TrimPrefix(e.Server.URL, "http")
	return e
}

// Close drops every connection and stops the server.
func (e *Exchange) Close() {
	e.DropConnections()
	e.Server.Close()
}

// Now is the exchange's clock.
func (e *Exchange) Now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// Candle is the candle of symbol and interval that opened at open.
func Candle(symbol, interval string, open time.Time) market.Candle {
	h := fnv.New32a()
	_, _ = h.Write([]byte(symbol))
	phase := float64(h.Sum32()%1000) / 100
	base := 10 + float64(h.Sum32()%5000)
	price := func(t time.Time) float64 {
		x := float64(t.Unix()/60) / 17
		return base * (1 + 0.05*math.Sin(x/7+phase) + 0.02*math.Sin(x/1.3+2*phase))
	}
	next := market.NextOpen(interval, open)
	o, c := round8(price(open)), round8(price(next))
	return market.Candle{
		OpenTime: open, CloseTime: next.Add(-time.Millisecond),
		Open: o, Close: c, High: round8(math.Max(o, c) * 1.002), Low: round8(math.Min(o, c) * 0.998),
		Volume: 100 + float64(open.Unix()%97),
	}
}

// round8 keeps 8 decimals, as the exchange's decimal strings do, so candles survive the wire exactly.
func round8(x float64) float64 { return math.Round(x*1e8) / 1e8 }

// lastClosedOpen is the open time of the newest candle closed at now.
func lastClosedOpen(interval string, now time.Time) time.Time {
	d := market.NextOpen(interval, now).Sub(now)
	return now.Truncate(d).Add(-d)
}

// Advance moves the clock by d and pushes every candle that closed meanwhile, in time order, to the
// streams subscribed to it, except the skipped ones.
func (e *Exchange) Advance(d time.Duration) { e.PrepareAdvance(d)() }

// PrepareAdvance is Advance in two steps, for a benchmark that times the push and not the making of
// the messages (the exchange's work, not on the client's machine): it builds the messages of the
// candles closing in the next d; the push it returns moves the clock and sends them, every
// connection at once as the exchange's servers do, and returns once all are written. Nothing else
// may move the clock in between.
func (e *Exchange) PrepareAdvance(d time.Duration) (push func()) {
	e.mu.Lock()
	from := e.now
	to := from.Add(d)
	conns := make([]*wsConn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	skips := make(map[string]bool, len(e.skips))
	for k := range e.skips {
		skips[k] = true
	}
	e.mu.Unlock()
	batches := make([][][]byte, len(conns))
	for i, c := range conns {
		c.mu.Lock()
		names := make([]string, 0, len(c.streams))
		for n := range c.streams {
			names = append(names, n)
		}
		c.mu.Unlock()
		for _, name := range names {
			symbol, interval, ok := parseStream(name)
			if !ok {
				continue
			}
			dur := market.NextOpen(interval, from).Sub(from)
			for open := lastClosedOpen(interval, from).Add(dur); !open.Add(dur).After(to); open = open.Add(dur) {
				if skips[name+" "+strconv.FormatInt(open.UnixMilli(), 10)] {
					continue
				}
				batches[i] = append(batches[i], KlineMessage(symbol, interval, Candle(symbol, interval, open), true, open.Add(dur)))
			}
		}
	}
	return func() {
		e.mu.Lock()
		e.now = to
		e.mu.Unlock()
		var wg sync.WaitGroup
		for i, c := range conns {
			wg.Go(func() {
				for _, msg := range batches[i] {
					c.write(msg)
				}
			})
		}
		wg.Wait()
	}
}

// PushOpen sends every subscribed stream an update of its still-open candle, as the exchange does
// every second or two per stream between closes; it returns how many it sent.
func (e *Exchange) PushOpen() int {
	now := e.Now()
	sent := 0
	for _, c := range e.connections() {
		c.mu.Lock()
		names := make([]string, 0, len(c.streams))
		for n := range c.streams {
			names = append(names, n)
		}
		c.mu.Unlock()
		for _, name := range names {
			symbol, interval, ok := parseStream(name)
			if !ok {
				continue
			}
			open := lastClosedOpen(interval, now).Add(market.NextOpen(interval, now).Sub(now))
			c.write(KlineMessage(symbol, interval, Candle(symbol, interval, open), false, now))
			sent++
		}
	}
	return sent
}

// KlineMessage is a combined-stream kline event in the exchange's format.
func KlineMessage(symbol, interval string, k market.Candle, closed bool, eventTime time.Time) []byte {
	lower := strings.ToLower(symbol)
	return fmt.Appendf(nil, `{"stream":"%s@kline_%s","data":{"e":"kline","E":%d,"s":"%s",`+
		`"k":{"t":%d,"T":%d,"s":"%s","i":"%s","f":100,"L":200,`+
		`"o":"%.8f","c":"%.8f","h":"%.8f","l":"%.8f","v":"%.8f","n":100,"x":%t,"q":"1.0","V":"500","Q":"0.5","B":"0"}}}`,
		lower, interval, eventTime.UnixMilli(), symbol, k.OpenTime.UnixMilli(), k.CloseTime.UnixMilli(), symbol, interval,
		k.Open, k.Close, k.High, k.Low, k.Volume, closed)
}

func parseStream(name string) (symbol, interval string, ok bool) {
	sym, iv, found := strings.Cut(name, "@kline_")
	if !found || sym == "" || !market.ValidInterval(iv) {
		return "", "", false
	}
	return strings.ToUpper(sym), iv, true
}

// Skip keeps the candle of symbol and interval that opens at open off the streams; REST still has it.
func (e *Exchange) Skip(symbol, interval string, open time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.skips[strings.ToLower(symbol)+"@kline_"+interval+" "+strconv.FormatInt(open.UnixMilli(), 10)] = true
}

// DropConnections closes every WebSocket connection abruptly, as a network failure would.
func (e *Exchange) DropConnections() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.conns {
		c.cancel()
		_ = c.ws.CloseNow()
		delete(e.conns, c)
	}
}

// SendRaw sends data as one text message on every connection.
func (e *Exchange) SendRaw(data []byte) {
	for _, c := range e.connections() {
		c.write(data)
	}
}

// SendSlow sends data on every connection as one message in two frames, pause apart.
func (e *Exchange) SendSlow(data []byte, pause time.Duration) {
	for _, c := range e.connections() {
		c.writeMu.Lock()
		w, err := c.ws.Writer(context.Background(), websocket.MessageText)
		if err == nil {
			half := len(data) / 2
			_, _ = w.Write(data[:half])
			time.Sleep(pause)
			_, _ = w.Write(data[half:])
			_ = w.Close()
		}
		c.writeMu.Unlock()
	}
}

func (e *Exchange) connections() []*wsConn {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*wsConn, 0, len(e.conns))
	for c := range e.conns {
		out = append(out, c)
	}
	return out
}

// Stats are what the exchange saw.
type Stats struct {
	// Connections open now, Dials accepted since the start, Streams subscribed now over all connections.
	Connections, Dials, Streams int
	// ControlMessages are the SUBSCRIBE / UNSUBSCRIBE messages received.
	ControlMessages int64
	// RESTRequests and RESTWeight are the klines calls and the weight Binance would charge for them.
	RESTRequests, RESTWeight int64
}

// Stats returns the exchange's counters now.
func (e *Exchange) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Stats{Connections: len(e.conns), Dials: e.dials, ControlMessages: e.control.Load(),
		RESTRequests: e.rests.Load(), RESTWeight: e.weight.Load()}
	for c := range e.conns {
		c.mu.Lock()
		s.Streams += len(c.streams)
		c.mu.Unlock()
	}
	return s
}

// klines answers GET /api/v3/klines: the closed candles up to endTime (or now), from startTime or
// the newest limit, with Binance's weight per limit counted.
func (e *Exchange) klines(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	symbol, interval := q.Get("symbol"), q.Get("interval")
	limit, err := strconv.Atoi(cmp.Or(q.Get("limit"), "500"))
	if symbol == "" || !market.ValidInterval(interval) || interval == "1M" || err != nil || limit < 1 || limit > 1000 {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"code":-1120,"msg":"Invalid request."}`))
		return
	}
	e.rests.Add(1)
	e.weight.Add(int64(weight(limit)))
	now := e.Now()
	last := lastClosedOpen(interval, now)
	if s := q.Get("endTime"); s != "" {
		ms, _ := strconv.ParseInt(s, 10, 64)
		if end := time.UnixMilli(ms).UTC(); end.Before(last) {
			last = end
		}
	}
	dur := market.NextOpen(interval, now).Sub(now)
	last = last.Truncate(dur)
	first := last.Add(-time.Duration(limit-1) * dur)
	if s := q.Get("startTime"); s != "" {
		ms, _ := strconv.ParseInt(s, 10, 64)
		start := time.UnixMilli(ms).UTC()
		if rem := start.Sub(start.Truncate(dur)); rem > 0 {
			start = start.Truncate(dur).Add(dur)
		}
		first = start
		if limitLast := first.Add(time.Duration(limit-1) * dur); limitLast.Before(last) {
			last = limitLast
		}
	}
	rows := make([]string, 0, limit)
	for open := first; !open.After(last); open = open.Add(dur) {
		c := Candle(symbol, interval, open)
		rows = append(rows, fmt.Sprintf(`[%d,"%.8f","%.8f","%.8f","%.8f","%.8f",%d,"1.0",100,"0.5","0.5","0"]`,
			c.OpenTime.UnixMilli(), c.Open, c.High, c.Low, c.Close, c.Volume, c.CloseTime.UnixMilli()))
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("[" + strings.Join(rows, ",") + "]"))
}

// weight is Binance's published weight of a klines call (limits above 1000 are refused here), kept
// apart from the client's own table so that a test sees the client count what the exchange charges.
func weight(limit int) int {
	switch {
	case limit < 100:
		return 1
	case limit < 500:
		return 2
	default:
		return 5
	}
}

// stream serves /stream?streams=a/b: the combined streams, and SUBSCRIBE / UNSUBSCRIBE messages.
func (e *Exchange) stream(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &wsConn{ws: ws, cancel: cancel, streams: map[string]bool{}}
	for _, name := range strings.Split(r.URL.Query().Get("streams"), "/") {
		if name != "" {
			c.streams[name] = true
		}
	}
	e.mu.Lock()
	e.conns[c] = struct{}{}
	e.dials++
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
		cancel()
		_ = ws.CloseNow()
	}()
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		var req struct {
			Method string   `json:"method"`
			Params []string `json:"params"`
			ID     uint64   `json:"id"`
		}
		if json.Unmarshal(data, &req) != nil {
			c.write([]byte(`{"code":2,"msg":"Invalid JSON"}`))
			continue
		}
		e.control.Add(1)
		c.mu.Lock()
		for _, name := range req.Params {
			switch req.Method {
			case "SUBSCRIBE":
				c.streams[name] = true
			case "UNSUBSCRIBE":
				delete(c.streams, name)
			}
		}
		c.mu.Unlock()
		c.write(fmt.Appendf(nil, `{"result":null,"id":%d}`, req.ID))
	}
}

func (c *wsConn) write(msg []byte) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.ws.Write(ctx, websocket.MessageText, msg)
}
