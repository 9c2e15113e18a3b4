package apiserver

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// seriesData is the series route's data.
type seriesData struct {
	Symbol          string    `json:"symbol"`
	Timeframe       string    `json:"timeframe"`
	CandleCloseTime time.Time `json:"candle_close_time"`
	ComputedAt      time.Time `json:"computed_at"`
	hama.Series
}

// An analysis writes the chart of each timeframe beside the document; the route serves its last
// bars, columnar, na as null, and agrees with the document's last bar.
func TestSeriesServesTheChartOfTheCachedAnalysis(t *testing.T) {
	f := newFixture(t)
	f.get("/api/v1/analysis/BTCUSDT/series?timeframe=1h", "").wantError(t, http.StatusNotFound, "no 1h chart of BTCUSDT is cached")
	var doc symbolData
	f.post(analyzeSymbolPath, "", `{"symbol":"BTCUSDT"}`).wantOK(t, &doc)

	resp := f.get("/api/v1/analysis/BTCUSDT/series?timeframe=1h", "")
	var s seriesData
	resp.wantOK(t, &s)
	r := doc.Timeframes["1h"]
	if s.Symbol != "BTCUSDT" || s.Timeframe != "1h" || !s.CandleCloseTime.Equal(r.CandleCloseTime) || !s.ComputedAt.Equal(r.ComputedAt) {
		t.Fatalf("chart %s %s at %s computed %s; the analysis is at %s computed %s", s.Symbol, s.Timeframe,
			s.CandleCloseTime, s.ComputedAt, r.CandleCloseTime, r.ComputedAt)
	}
	n := s.Len()
	if n != analysis.ChartBars || len(s.HAMAClose) != n || len(s.BBLower) != n || len(s.HAMAColor) != n {
		t.Fatalf("%d bars (hama_close %d, bb_lower %d), want %d in every column", n, len(s.HAMAClose), len(s.BBLower), analysis.ChartBars)
	}
	last := n - 1
	if s.HAMAClose[last] != r.HAMA.Close || s.HAMAColor[last] != r.HAMA.Color || s.MA[last] != r.MA.Value ||
		s.Close[last] != r.LastPrice || math.Abs(s.BBUpper[last]-r.Bollinger.Upper) > 1e-9*r.Bollinger.Upper {
		t.Fatalf("the chart's last bar differs from the analysis: %+v", r)
	}
	if !time.Unix(s.Time[last], 0).Add(time.Hour - time.Millisecond).Equal(r.CandleCloseTime) {
		t.Fatalf("last bar opens at %d; the analysed candle closes at %s", s.Time[last], r.CandleCloseTime)
	}
	for i := 1; i < n; i++ {
		if s.Time[i]-s.Time[i-1] != 3600 {
			t.Fatalf("bars %d and %d are %d s apart, want oldest first, an hour apart", i-1, i, s.Time[i]-s.Time[i-1])
		}
	}
	// 450 candles fill the 400-bar Bollinger window only on the last 51: the earlier bands are null.
	if !strings.Contains(string(resp.raw), `"bb_basis":[null,`) || !math.IsNaN(s.BBBasis[0]) || math.IsNaN(s.BBBasis[last]) {
		t.Fatalf("bands before the window is full must be null: %.200s", resp.raw[strings.Index(string(resp.raw), `"bb_basis"`):])
	}
	var crosses []map[string]any
	if err := json.Unmarshal(resp.env.Data, &struct {
		Crosses *[]map[string]any `json:"crosses"`
	}{&crosses}); err != nil || crosses == nil {
		t.Fatalf("crosses must be a list: %v", err)
	}

	var few seriesData
	f.get("/api/v1/analysis/BTCUSDT/series?bars=5", "").wantOK(t, &few)
	if few.Timeframe != "15m" || few.Len() != 5 {
		t.Fatalf("default timeframe %s with %d bars, want 15m with 5", few.Timeframe, few.Len())
	}
	for _, c := range few.Crosses {
		if c.Time < few.Time[0] {
			t.Fatalf("a cross at %d before the first of 5 bars", c.Time)
		}
	}
}

func TestSeriesAndSignalsRefuseBadParameters(t *testing.T) {
	f := newFixture(t, withoutRedis())
	for path, msg := range map[string]string{
		"/api/v1/analysis/btcusdt/series":                   "must be uppercase",
		"/api/v1/analysis/BTCUSDT/series?timeframe=15x":     `timeframe "15x" is not one of`,
		"/api/v1/analysis/BTCUSDT/series?bars=0":            `bars "0" must be a whole number from 1 to 200`,
		"/api/v1/analysis/BTCUSDT/series?bars=201":          `bars "201"`,
		"/api/v1/analysis/BTCUSDT/series?bars=ten":          `bars "ten"`,
		"/api/v1/signals?symbol=BTC-USDT":                   "must be 2 to 30 letters or digits",
		"/api/v1/signals?timeframe=2m":                      `timeframe "2m"`,
		"/api/v1/signals?kind=cross":                        `kind "cross" is not one of crossUp, crossDown, colorFlip, squeezeStart, squeezeEnd`,
		"/api/v1/signals?since=yesterday":                   `since "yesterday" is neither an RFC3339 time`,
		"/api/v1/signals?since=-5":                          `since "-5"`,
		"/api/v1/signals?limit=0":                           `limit "0" must be a whole number from 1 to 1000`,
		"/api/v1/signals?limit=1001":                        `limit "1001"`,
		"/api/v1/signals?since=2026-01-02T15:04:05%2B25:00": `since "2026-01-02T15:04:05+25:00"`,
	} {
		f.get(path, "").wantError(t, http.StatusBadRequest, msg)
	}
	auth := newFixture(t, withoutRedis(), withConfig(func(c *Config) { c.AuthReads = true }))
	auth.get("/api/v1/signals", "").wantError(t, http.StatusUnauthorized, "bearer token")
	auth.get("/api/v1/analysis/BTCUSDT/series", "").wantError(t, http.StatusUnauthorized, "bearer token")
	auth.get("/api/v1/signals", "viewer").wantOK(t, nil)
}

func TestSignalsListsTheHistoryNewestFirst(t *testing.T) {
	f := newFixture(t)
	var empty struct {
		Signals []signals.Event `json:"signals"`
	}
	resp := f.get("/api/v1/signals", "")
	resp.wantOK(t, &empty)
	if !strings.Contains(string(resp.env.Data), `"signals":[]`) {
		t.Fatalf("an empty history must be an empty list: %s", resp.env.Data)
	}
	close0 := time.Date(2026, 11, 30, 12, 14, 59, 999e6, time.UTC)
	events := make([]signals.Event, 0, 4)
	for i, kind := range []signals.Kind{signals.CrossUp, signals.ColorFlip, signals.SqueezeStart, signals.CrossDown} {
		at := close0.Add(time.Duration(i) * 15 * time.Minute)
		symbol := []string{"BTCUSDT", "ETHUSDT"}[i%2]
		events = append(events, signals.Event{ID: signals.EventID(symbol, "15m", kind, at), Symbol: symbol, Timeframe: "15m",
			Kind: kind, CandleCloseTime: at, Price: 42000.5, Summary: "bullish", Color: "green", Namespace: "default", Schedule: "top"})
	}
	for _, e := range events {
		f.signals.Append(context.Background(), e)
	}
	var got struct {
		Signals []map[string]any `json:"signals"`
	}
	f.get("/api/v1/signals", "").wantOK(t, &got)
	if len(got.Signals) != 4 || got.Signals[0]["id"] != events[3].ID || got.Signals[3]["id"] != events[0].ID {
		t.Fatalf("signals %v, want the four newest first", got.Signals)
	}
	first := got.Signals[0]
	for _, field := range []string{"id", "stream_id", "symbol", "timeframe", "kind", "candle_close_time", "price", "summary",
		"color", "namespace", "schedule", "recorded_at"} {
		if _, ok := first[field]; !ok {
			t.Fatalf("signal lacks %s: %v", field, first)
		}
	}
	if first["candle_close_time"] != "2026-11-30T12:59:59.999Z" || first["price"] != 42000.5 || first["stream_id"] == "" {
		t.Fatalf("signal %v", first)
	}
	f.get("/api/v1/signals?symbol=ETHUSDT&kind=colorFlip&timeframe=15m", "").wantOK(t, &got)
	if len(got.Signals) != 1 || got.Signals[0]["id"] != events[1].ID {
		t.Fatalf("filtered signals %v", got.Signals)
	}
	f.get("/api/v1/signals?limit=2", "").wantOK(t, &got)
	if len(got.Signals) != 2 {
		t.Fatalf("limit 2 gave %d", len(got.Signals))
	}
	future := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	f.get("/api/v1/signals?since="+future, "").wantOK(t, &got)
	if len(got.Signals) != 0 {
		t.Fatalf("since an hour ahead gave %d", len(got.Signals))
	}
	f.get("/api/v1/signals?since="+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "").wantOK(t, &got)
	if len(got.Signals) != 4 {
		t.Fatalf("since an hour ago gave %d", len(got.Signals))
	}
}
