package refresh

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/cache/redistest"
	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// waveExchange serves 15m candles of a wave whose last closed bar is end: each advance closes one more.
type waveExchange struct {
	*httptest.Server
	end atomic.Int64
}

var waveStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newWaveExchange(t *testing.T, end int64) *waveExchange {
	e := &waveExchange{}
	e.end.Store(end)
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		shift := float64(len(r.URL.Query().Get("symbol")))
		last := e.end.Load()
		var b strings.Builder
		b.WriteString("[")
		for k := last - int64(limit) + 1; k <= last; k++ {
			if b.Len() > 1 {
				b.WriteString(",")
			}
			// Waves of 37 and 101 bars (crosses and flips, too calm for the Bollinger Bands: a squeeze)
			// and two plateaus 20 higher: the first leaves the bands' 400-bar window at bar 1050 (a
			// squeeze starts), the second enters at 1100 (it ends).
			p := 100 + shift + math.Sin(float64(k)/37*2*math.Pi) + 0.6*math.Sin(float64(k)/101*2*math.Pi)
			if (k >= 620 && k < 650) || (k >= 1100 && k < 1130) {
				p += 20
			}
			open := waveStart.Add(time.Duration(k) * 15 * time.Minute)
			fmt.Fprintf(&b, `[%d,"%s","%s","%s","%s","10",%d,"1000",1,"1","1","0"]`, open.UnixMilli(),
				ftoa(p-0.1), ftoa(p+0.4), ftoa(p-0.4), ftoa(p+0.1), open.Add(15*time.Minute).UnixMilli()-1)
		}
		_, _ = fmt.Fprint(w, b.String()+"]")
	}))
	t.Cleanup(e.Close)
	return e
}

// Refresh after refresh, one new candle each, the history holds exactly the events the charts
// show — every cross, colour flip and squeeze boundary after the first run, once — with the
// schedule that found them; running a candle again, from a restarted replica or with the cached
// document lost, appends nothing twice.
func TestRefreshAppendsEachSignalOnce(t *testing.T) {
	store := redisCache(t)
	ctx := context.Background()
	ex := newWaveExchange(t, 1000)
	newReplica := func() (*Pipeline, *signals.Log) {
		l := signals.NewLog(store.Client(), signals.LogOptions{Down: store.Degraded})
		p := newPipeline(store)
		p.Signals = l
		return p, l
	}
	p, l := newReplica()
	j := job("binance", ex.URL, "BTCUSDT", "ETHUSDT")
	j.Schedule, j.Timeframes, j.Candles = "markets/majors", []string{"15m"}, 600

	var announced []analysis.SignalChange
	run := func(p *Pipeline) {
		t.Helper()
		report, err := p.Refresh(ctx, j)
		if err != nil || report.Succeeded != 2 {
			t.Fatalf("refresh: %+v, %v", report, err)
		}
		announced = append(announced, report.Signals...)
	}
	run(p)
	if got, _ := l.List(ctx, signals.Query{}); len(got) != 0 || len(announced) != 0 {
		t.Fatalf("the first run recorded %d events and announced %d crosses: history is not news", len(got), len(announced))
	}
	const runs = 150
	var beforeLast analysis.Document
	for range runs {
		ex.end.Add(1)
		beforeLast = cached(t, store, "BTCUSDT")
		run(p)
	}

	for _, symbol := range []string{"BTCUSDT", "ETHUSDT"} {
		e, err := store.Get(ctx, SeriesKey(symbol, "15m"))
		if err != nil {
			t.Fatal(err)
		}
		chart, err := analysis.DecodeChart(e.Value)
		if err != nil || chart.Len() != analysis.ChartBars || !chart.CandleCloseTime.Equal(cached(t, store, symbol).Timeframes["15m"].CandleCloseTime) {
			t.Fatalf("%s chart: %d bars at %s, %v", symbol, chart.Len(), chart.CandleCloseTime, err)
		}
		want := expectedEvents(symbol, chart, runs)
		got, err := l.List(ctx, signals.Query{Symbol: symbol, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, ev := range got {
			ids = append(ids, ev.ID)
			if ev.Namespace != "markets" || ev.Schedule != "majors" || ev.StreamID == "" || ev.Price <= 0 {
				t.Fatalf("event %+v", ev)
			}
		}
		slices.Sort(ids)
		if strings.Join(ids, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: recorded\n%s\nthe chart shows\n%s", symbol, strings.Join(ids, "\n"), strings.Join(want, "\n"))
		}
		kinds := map[signals.Kind]int{}
		for _, ev := range got {
			kinds[ev.Kind]++
		}
		for _, k := range signals.Kinds {
			if kinds[k] == 0 {
				t.Fatalf("%s: no %s in %d candles (%v): the wave must produce every kind", symbol, k, runs, kinds)
			}
		}
	}
	crossesInLog, _ := l.List(ctx, signals.Query{Kind: signals.CrossUp, Limit: 1000})
	crossDowns, _ := l.List(ctx, signals.Query{Kind: signals.CrossDown, Limit: 1000})
	if len(announced) != len(crossesInLog)+len(crossDowns) {
		t.Fatalf("the reports announced %d crosses, the history holds %d", len(announced), len(crossesInLog)+len(crossDowns))
	}

	raw := store.Client()
	length := raw.XLen(ctx, signals.StreamKey).Val()
	// A restarted replica runs the same candle: nothing new.
	p2, _ := newReplica()
	run(p2)
	// The last write is lost (as if the replica died after appending, before storing): the events
	// are found again, and the stream keeps one of each.
	doc, _ := analysis.Encode(beforeLast)
	if err := store.Update(ctx, DefaultKeyPrefix.Key("BTCUSDT"), func([]byte) ([]byte, time.Duration, error) { return doc, time.Hour, nil }); err != nil {
		t.Fatal(err)
	}
	run(p2)
	if n := raw.XLen(ctx, signals.StreamKey).Val(); n != length {
		t.Fatalf("stream length %d after running the last candle again, want %d", n, length)
	}
}

// expectedEvents reads the events of the last runs bars off a chart: crosses, colour changes and
// squeeze boundaries (Bollinger width under 10 %), by their IDs.
func expectedEvents(symbol string, c analysis.Chart, runs int) []string {
	var ids []string
	n := c.Len()
	closeOf := func(i int) time.Time { return time.Unix(c.Time[i], 0).Add(15*time.Minute - time.Millisecond) }
	squeeze := func(i int) bool { return (c.BBUpper[i]-c.BBLower[i])/c.BBBasis[i] < 0.10 }
	for i := n - runs; i < n; i++ {
		id := func(k signals.Kind) { ids = append(ids, signals.EventID(symbol, "15m", k, closeOf(i))) }
		if c.HAMAColor[i] != c.HAMAColor[i-1] {
			id(signals.ColorFlip)
		}
		// The chart's bands are null until its candles fill a Bollinger window; the analyses, each on
		// its own candles, had them: only bars with bands on both sides say anything.
		switch {
		case math.IsNaN(c.BBBasis[i-1]):
		case squeeze(i) && !squeeze(i-1):
			id(signals.SqueezeStart)
		case !squeeze(i) && squeeze(i-1):
			id(signals.SqueezeEnd)
		}
		for _, x := range c.Crosses {
			if x.Time == c.Time[i] {
				id(map[string]signals.Kind{hama.CrossUp: signals.CrossUp, hama.CrossDown: signals.CrossDown}[x.Direction])
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// A run that computed an older candle (a replica behind, a retried write) keeps the newer chart in
// the cache and replaces an older one. (That a kept chart is not read whole is the cache's test,
// TestUpdateAllReadsOnlyTheHeadOfAKeptValue.)
func TestAnOlderRunKeepsTheNewerChart(t *testing.T) {
	store := redisCache(t)
	ctx := context.Background()
	ahead, behind := newWaveExchange(t, 1001), newWaveExchange(t, 1000)
	j := job("binance", ahead.URL, "BTCUSDT")
	j.Timeframes, j.Candles = []string{"15m"}, 600
	chartClose := func() time.Time {
		t.Helper()
		e, err := store.Get(ctx, SeriesKey("BTCUSDT", "15m"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := analysis.DecodeChart(e.Value)
		if err != nil {
			t.Fatal(err)
		}
		return c.CandleCloseTime
	}
	if _, err := newPipeline(store).Refresh(ctx, j); err != nil {
		t.Fatal(err)
	}
	newer := chartClose()
	j.BaseURL = behind.URL
	if _, err := newPipeline(store).Refresh(ctx, j); err != nil {
		t.Fatal(err)
	}
	if got := chartClose(); !got.Equal(newer) {
		t.Fatalf("the chart of the candle closing %s replaced the newer one of %s", got, newer)
	}
	ahead.end.Add(1)
	j.BaseURL = ahead.URL
	if _, err := newPipeline(store).Refresh(ctx, j); err != nil {
		t.Fatal(err)
	}
	if got := chartClose(); !got.After(newer) {
		t.Fatalf("a newer candle's chart did not replace the cached one of %s: %s", newer, got)
	}
}

// redisCache is a cache on a redis-server of its own.
func redisCache(t *testing.T) *cache.Cache {
	t.Helper()
	cfg := cache.DefaultConfig()
	cfg.RedisEnabled, cfg.Addrs = true, []string{redistest.Start(t).Addr()}
	store, err := cache.New(cfg, nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}
