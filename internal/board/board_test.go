package board

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/market/simulated"
)

var start = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t     testing.TB
	cache *cache.Cache
	clock *clocktesting.FakeClock
	board *Board
	url   string
}

func newFixture(t testing.TB, change ...func(*Config)) *fixture {
	t.Helper()
	c, err := cache.New(cache.DefaultConfig(), nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, cache: c, clock: clocktesting.NewFakeClock(start)}
	cfg := Config{Cache: c, Clock: f.clock, Log: logr.Discard(),
		Schedules: func(context.Context) (map[string][]string, error) {
			return map[string][]string{"BTCUSDT": {"default/majors"}, "ETHUSDT": {"default/majors", "team/eth"}}, nil
		}}
	for _, ch := range change {
		ch(&cfg)
	}
	f.board = New(cfg)
	ts := httptest.NewServer(f.board)
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

// analyse computes symbol's document on simulated candles that end at end.
func (f *fixture) analyse(symbol string, end time.Time, timeframes ...string) analysis.Document {
	f.t.Helper()
	if len(timeframes) == 0 {
		timeframes = []string{"15m", "1h"}
	}
	src := simulated.New(simulated.WithClock(clocktesting.NewFakePassiveClock(end)))
	doc, err := analysis.Analyze(context.Background(), src, analysis.Request{Symbol: symbol, Timeframes: timeframes,
		Candles: 450, Params: hama.DefaultParams(), TTL: time.Hour}, end)
	if err != nil {
		f.t.Fatal(err)
	}
	return doc
}

func (f *fixture) store(key string, doc analysis.Document) {
	f.t.Helper()
	b, err := analysis.Encode(doc)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.cache.Update(context.Background(), key, func([]byte) ([]byte, time.Duration, error) { return b, time.Hour, nil }); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) get(path string) (*http.Response, string) {
	f.t.Helper()
	resp, err := http.Get(f.url + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestBoardRowsAndCells(t *testing.T) {
	f := newFixture(t)
	docs := map[string]analysis.Document{}
	for _, sym := range []string{"BTCUSDT", "ETHUSDT", "SOLUSDT"} {
		docs[sym] = f.analyse(sym, start)
		f.store("hama:analysis:"+sym, docs[sym])
	}
	resp, body := f.get("/board/")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Go's client asks for gzip and unpacks it: Uncompressed says the page came compressed.
	if !resp.Uncompressed {
		t.Error("the page was not gzip-compressed for a client that accepts it")
	}
	for sym, doc := range docs {
		row := regexp.MustCompile(`(?s)<tr data-symbol="` + sym + `".*?</tr>`).FindString(body)
		if row == "" {
			t.Fatalf("no row for %s", sym)
		}
		for _, tf := range []string{"15m", "1h"} {
			r := doc.Timeframes[tf]
			want := fmt.Sprintf(`data-timeframe="%s" data-color="%s" data-summary="%s" data-trend="%s"`,
				tf, r.HAMA.Color, r.Signal.Summary, r.MA.Trend)
			if !strings.Contains(row, want) {
				t.Errorf("%s %s: the cell lacks %s:\n%s", sym, tf, want, row)
			}
		}
	}
	if !strings.Contains(body, `data-schedules="default/majors team/eth"`) || !strings.Contains(body, `<option value="team/eth">`) {
		t.Error("the schedules are not on the rows and in the filter")
	}
	if !strings.Contains(body, `data-watermark="`+start.Format(time.RFC3339Nano)+`"`) {
		t.Error("the page lacks its watermark (the newest updated_at)")
	}
	if strings.Index(body, `data-symbol="BTCUSDT"`) > strings.Index(body, `data-symbol="ETHUSDT"`) {
		t.Error("rows are not in symbol order")
	}
}

// A row is rendered when its document, its schedules or the columns change, and kept otherwise.
func TestRowsAreKeptUntilTheyChange(t *testing.T) {
	schedules := map[string][]string{"BTCUSDT": {"default/majors"}}
	f := newFixture(t, func(c *Config) {
		c.Schedules = func(context.Context) (map[string][]string, error) { return schedules, nil }
	})
	for _, sym := range []string{"BTCUSDT", "ETHUSDT", "SOLUSDT"} {
		f.store("hama:analysis:"+sym, f.analyse(sym, start))
	}
	ctx := context.Background()
	first, err := f.board.read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.store("hama:analysis:ETHUSDT", f.analyse("ETHUSDT", start.Add(15*time.Minute)))
	schedules = map[string][]string{"BTCUSDT": {"default/majors"}, "SOLUSDT": {"default/alts"}}
	second, err := f.board.read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same := func(sym string) bool { return &first.rows[sym][0] == &second.rows[sym][0] }
	if !same("BTCUSDT") {
		t.Error("an unchanged row was rendered again")
	}
	if same("ETHUSDT") || same("SOLUSDT") {
		t.Error("a row whose document or schedules changed was kept")
	}
	if !strings.Contains(string(second.rows["SOLUSDT"]), `data-schedules="default/alts"`) {
		t.Errorf("the new schedule is not in the row: %s", second.rows["SOLUSDT"])
	}
	f.store("hama:analysis:ETHUSDT", f.analyse("ETHUSDT", start, "15m", "1h", "4h"))
	third, err := f.board.read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if &third.rows["BTCUSDT"][0] == &second.rows["BTCUSDT"][0] || !strings.Contains(string(third.rows["BTCUSDT"]), `data-timeframe="4h"`) {
		t.Error("a new column did not render every row again")
	}
}

func TestAgreement(t *testing.T) {
	cell := func(summary string) hama.Result { r := hama.Result{}; r.Signal.Summary = summary; return r }
	doc := analysis.Document{Symbol: "X", Timeframes: map[string]hama.Result{"15m": cell("bullish"), "1h": cell("bullish")}}
	if a := rowOf(doc, []string{"15m", "1h", "4h"}, nil).Agreement; a.Summary != "bullish" || a.Total != 2 {
		t.Errorf("two bullish timeframes and a missing one: %+v", a)
	}
	doc.Timeframes["4h"] = cell("bearish")
	if a := rowOf(doc, []string{"15m", "1h", "4h"}, nil).Agreement; a.Summary != "mixed" || a.Count != 2 || a.Total != 3 {
		t.Errorf("two bullish and one bearish: %+v", a)
	}
}

func TestEveryCachedValueIsEscaped(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Schedules = nil })
	doc := f.analyse("EVILUSDT", start)
	r := doc.Timeframes["15m"]
	r.Signal.Summary = `"><script>alert("summary")</script>`
	r.HAMA.Color = `red" onmouseover="alert(1)`
	r.Bollinger.Zone = `<img src=x onerror=alert(2)>`
	doc.Timeframes["15m"] = r
	doc.Symbol = `<b>EVIL</b>`
	f.store("hama:analysis:<b>EVIL</b>", doc)
	_, body := f.get("/board/")
	for _, raw := range []string{`<script>alert`, `<img src=x`, `onmouseover="alert`, `<b>EVIL</b>`} {
		if strings.Contains(body, raw) {
			t.Errorf("the page carries %q unescaped", raw)
		}
	}
	for _, escaped := range []string{`&#34;&gt;&lt;script&gt;alert(&#34;summary&#34;)&lt;/script&gt;`, `&lt;img src=x onerror=alert(2)&gt;`, `&lt;b&gt;EVIL&lt;/b&gt;`} {
		if !strings.Contains(body, escaped) {
			t.Errorf("the page lacks the escaped %q", escaped)
		}
	}
	// The link to a symbol's page is a URL: the path is escaped as one.
	if !strings.Contains(body, `href="/board/symbol/%3cb%3eEVIL%3c/b%3e"`) {
		t.Error("the symbol link is not URL-escaped")
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	f.store("hama:analysis:BTCUSDT", f.analyse("BTCUSDT", start))
	for _, path := range []string{"/board/", "/board/symbol/BTCUSDT", "/board/static/board.js", "/board/symbol/nope", "/board/missing"} {
		resp, body := f.get(path)
		h := resp.Header
		if h.Get("Content-Security-Policy") != ContentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", path, h)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "<style") {
			t.Errorf("%s has inline script or style, which the policy refuses", path)
		}
	}
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'self'"} {
		if !strings.Contains(ContentSecurityPolicy, want) {
			t.Errorf("the policy lacks %s", want)
		}
	}
}

func TestStaticFiles(t *testing.T) {
	f := newFixture(t)
	for path, ctype := range map[string]string{
		"/board/static/board.js":  "text/javascript; charset=utf-8",
		"/board/static/symbol.js": "text/javascript; charset=utf-8",
		"/board/static/board.css": "text/css; charset=utf-8",
		"/board/static/vendor/lightweight-charts.standalone.production.js": "text/javascript; charset=utf-8",
	} {
		resp, body := f.get(path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ctype || len(body) < 100 {
			t.Errorf("%s: %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	if _, body := f.get("/board/static/vendor/lightweight-charts.LICENSE"); !strings.Contains(body, "Apache License") {
		t.Error("the chart library's licence is not served beside it")
	}
}

func TestSymbolPage(t *testing.T) {
	f := newFixture(t)
	doc := f.analyse("BTCUSDT", start)
	for tf, r := range doc.Timeframes {
		r.Source = "binance"
		doc.Timeframes[tf] = r
	}
	f.store("hama:analysis:BTCUSDT", doc)
	resp, body := f.get("/board/symbol/BTCUSDT?timeframe=1h")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, want := range []string{`data-symbol="BTCUSDT" data-timeframe="1h"`, `href="https://www.tradingview.com/chart/?symbol=BINANCE%3aBTCUSDT"`,
		`<div id="chart"`, `/board/static/vendor/lightweight-charts.standalone.production.js`, `<tr data-symbol="BTCUSDT"`,
		`<a href="/board/symbol/BTCUSDT?timeframe=1h" aria-current="page">1h</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if _, body := f.get("/board/symbol/BTCUSDT"); !strings.Contains(body, `data-timeframe="15m"`) {
		t.Error("without ?timeframe the page does not chart the shortest timeframe")
	}
	for path, status := range map[string]int{"/board/symbol/ETHUSDT": 404, "/board/symbol/btcusdt": 400,
		"/board/symbol/BTCUSDT?timeframe=4h": 404, "/board/symbol/BTCUSDT?timeframe=%3Cx%3E": 404} {
		resp, body := f.get(path)
		if resp.StatusCode != status || !strings.Contains(body, `<p id="message">`) || strings.Contains(body, "<x>") {
			t.Errorf("%s: %d, want %d: %s", path, resp.StatusCode, status, body)
		}
	}
}

// sse reads a Server-Sent Events stream into events.
type sse struct {
	name, id string
	data     string
}

func (f *fixture) stream(query string, header http.Header) (<-chan sse, func()) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/board/events"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		f.t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sse, 100)
	go func() {
		defer close(out)
		defer func() { _ = resp.Body.Close() }()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					out <- ev
				}
				ev = sse{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out, cancel
}

func next(t *testing.T, events <-chan sse) sse {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sse{}
}

// tick steps the fake clock by one poll once the hub's ticker waits for it.
func (f *fixture) tick() {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f.clock.HasWaiters() {
		if time.Now().After(deadline) {
			f.t.Fatal("the hub never started polling")
		}
		time.Sleep(time.Millisecond)
	}
	f.clock.Step(time.Second)
}

func TestStreamSendsOnlyWhatChanged(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Signals = func(context.Context, int) ([]Signal, error) { return nil, nil }
	})
	for _, sym := range []string{"BTCUSDT", "ETHUSDT", "SOLUSDT"} {
		f.store("hama:analysis:"+sym, f.analyse(sym, start))
	}
	if f.board.hub.listening() {
		t.Fatal("the hub polls with nobody listening")
	}
	events, stop := f.stream("?since="+start.Format(time.RFC3339Nano), nil)
	if ev := next(t, events); ev.name != "ready" || ev.id != start.Format(time.RFC3339Nano) {
		t.Fatalf("first event %+v, want ready at the page's watermark (nothing changed since)", ev)
	}

	later := start.Add(15 * time.Minute)
	fresh := f.analyse("ETHUSDT", later)
	f.store("hama:analysis:ETHUSDT", fresh)
	f.tick()
	ev := next(t, events)
	var row rowEvent
	if ev.name != "row" || json.Unmarshal([]byte(ev.data), &row) != nil || row.Symbol != "ETHUSDT" ||
		!strings.HasPrefix(row.HTML, `<tr data-symbol="ETHUSDT"`) || ev.id != start.Format(time.RFC3339Nano) {
		t.Fatalf("after one write: %+v", ev)
	}
	if !strings.Contains(row.HTML, `data-candle="`+fresh.Timeframes["15m"].CandleCloseTime.UTC().Format(time.RFC3339)) {
		t.Errorf("the row does not carry the new candle: %s", row.HTML)
	}

	if err := f.cache.Delete(context.Background(), "hama:analysis:SOLUSDT"); err != nil {
		t.Fatal(err)
	}
	f.tick()
	if ev := next(t, events); ev.name != "remove" || !strings.Contains(ev.data, `"SOLUSDT"`) {
		t.Fatalf("after a delete: %+v", ev)
	}
	// Nothing else was sent: one tick more without a write sends nothing.
	f.tick()
	select {
	case ev := <-events:
		t.Fatalf("an event without a change: %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}

	// A new timeframe changes the columns: the page reloads rather than patching rows.
	f.store("hama:analysis:BTCUSDT", f.analyse("BTCUSDT", later, "15m", "1h", "4h"))
	f.tick()
	if ev := next(t, events); ev.name != "columns" {
		t.Fatalf("after a new timeframe: %+v", ev)
	}

	stop()
	deadline := time.Now().Add(10 * time.Second)
	for f.board.hub.listening() {
		if time.Now().After(deadline) {
			t.Fatal("the hub still polls after the last browser left")
		}
		time.Sleep(time.Millisecond)
	}
}

// A refresh that computes the same values (no new candle) moves only the documents' times: the
// stream sends those times, one event for all the rows, not the rows.
func TestStreamSendsOnlyTheTimeOfAnUnchangedRow(t *testing.T) {
	f := newFixture(t)
	docs := map[string]analysis.Document{}
	for _, sym := range []string{"BTCUSDT", "ETHUSDT"} {
		docs[sym] = f.analyse(sym, start)
		f.store("hama:analysis:"+sym, docs[sym])
	}
	all, stopAll := f.stream("?since="+start.Format(time.RFC3339Nano), nil)
	defer stopAll()
	one, stopOne := f.stream("?symbol=ETHUSDT&since="+start.Format(time.RFC3339Nano), nil)
	defer stopOne()
	for _, events := range []<-chan sse{all, one} {
		if ev := next(t, events); ev.name != "ready" {
			t.Fatalf("%+v", ev)
		}
	}

	later := start.Add(30 * time.Second)
	for sym, doc := range docs {
		doc.UpdatedAt = later
		for tf, r := range doc.Timeframes {
			r.ComputedAt, r.ExpiresAt = later, later.Add(time.Hour)
			doc.Timeframes[tf] = r
		}
		f.store("hama:analysis:"+sym, doc)
	}
	f.tick()
	want := updatedText(later)
	ev := next(t, all)
	var times map[string]string
	if ev.name != "updated" || json.Unmarshal([]byte(ev.data), &times) != nil ||
		times["BTCUSDT"] != want || times["ETHUSDT"] != want || len(times) != 2 {
		t.Fatalf("after rewriting two documents with the same values: %+v", ev)
	}
	if ev := next(t, one); ev.name != "updated" || ev.data != `{"ETHUSDT":"`+want+`"}` {
		t.Fatalf("the one-symbol stream: %+v", ev)
	}
	// The page renders the same rows, with the new time in the data age.
	if _, body := f.get("/board/"); !strings.Contains(body, `<time datetime="`+want+`">`) {
		t.Error("the page does not show the new updated_at")
	}

	// A new candle changes the row: the row is sent.
	f.store("hama:analysis:BTCUSDT", f.analyse("BTCUSDT", start.Add(15*time.Minute)))
	f.tick()
	if ev := next(t, all); ev.name != "row" || !strings.Contains(ev.data, `"symbol":"BTCUSDT"`) {
		t.Fatalf("after a new candle: %+v", ev)
	}
	select {
	case ev := <-one:
		t.Fatalf("the ETHUSDT stream got %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestStreamResumesFromTheLastEventID(t *testing.T) {
	f := newFixture(t)
	f.store("hama:analysis:BTCUSDT", f.analyse("BTCUSDT", start))
	f.store("hama:analysis:ETHUSDT", f.analyse("ETHUSDT", start.Add(time.Minute)))
	// The browser saw everything up to start; ETHUSDT was written after.
	events, stop := f.stream("?since=garbage", http.Header{"Last-Event-Id": {start.Format(time.RFC3339Nano)}})
	defer stop()
	if ev := next(t, events); ev.name != "row" || !strings.Contains(ev.data, `"symbol":"ETHUSDT"`) {
		t.Fatalf("catch-up: %+v", ev)
	}
	if ev := next(t, events); ev.name != "ready" || ev.id != start.Add(time.Minute).Format(time.RFC3339Nano) {
		t.Fatalf("after the catch-up: %+v", ev)
	}

	// ?symbol= keeps one symbol's rows; without a watermark the catch-up is all of them.
	only, stopOnly := f.stream("?symbol=BTCUSDT", nil)
	defer stopOnly()
	if ev := next(t, only); ev.name != "row" || !strings.Contains(ev.data, `"symbol":"BTCUSDT"`) {
		t.Fatalf("one symbol: %+v", ev)
	}
	if ev := next(t, only); ev.name != "ready" {
		t.Fatalf("one symbol, after the catch-up: %+v", ev)
	}
	if resp, _ := f.get("/board/events?symbol=%3Cx%3E"); resp.StatusCode != 400 {
		t.Errorf("a bad symbol: %d", resp.StatusCode)
	}
}

func TestStreamSendsNewSignals(t *testing.T) {
	feed := []Signal{{ID: "BTCUSDT:15m:crossUp:1", Data: map[string]string{"id": "BTCUSDT:15m:crossUp:1"}}}
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	f := newFixture(t, func(c *Config) {
		c.Signals = func(context.Context, int) ([]Signal, error) {
			<-mu
			defer func() { mu <- struct{}{} }()
			return append([]Signal(nil), feed...), nil
		}
	})
	events, stop := f.stream("", nil)
	defer stop()
	if ev := next(t, events); ev.name != "ready" {
		t.Fatalf("%+v", ev)
	}
	f.tick() // the baseline is taken; the signal known then is not news
	<-mu
	feed = append([]Signal{{ID: "ETHUSDT:1h:crossDown:2", Data: map[string]string{"id": "ETHUSDT:1h:crossDown:2"}}}, feed...)
	mu <- struct{}{}
	f.tick()
	if ev := next(t, events); ev.name != "signal" || ev.data != `{"id":"ETHUSDT:1h:crossDown:2"}` {
		t.Fatalf("%+v", ev)
	}
}

func TestSlowBrowserIsDropped(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ClientBuffer = 2 })
	slow := f.board.hub.subscribe("")
	fast := f.board.hub.subscribe("")
	defer f.board.hub.unsubscribe(fast)
	for i := range 3 {
		f.board.hub.broadcast(event{name: "row", id: fmt.Sprint(i)}, "BTCUSDT")
		<-fast.events
	}
	select {
	case <-slow.dropped:
	default:
		t.Fatal("a browser three events behind with a buffer of two is still subscribed")
	}
	if len(slow.events) != 2 {
		t.Errorf("the dropped browser's buffer grew to %d", len(slow.events))
	}
	f.board.hub.unsubscribe(slow) // its handler returning: harmless after the drop
	if !f.board.hub.listening() {
		t.Error("dropping one browser stopped the stream of the others")
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{"": false, "gzip": true, "br, gzip;q=0.8": true, "GZIP": true,
		"gzip;q=0": false, "gzip; q=0": false, "identity": false, "deflate, br": false} {
		r := httptest.NewRequest(http.MethodGet, "/board/", nil)
		r.Header.Set("Accept-Encoding", header)
		if got := acceptsGzip(r); got != want {
			t.Errorf("Accept-Encoding %q: gzip=%v, want %v", header, got, want)
		}
	}
}
