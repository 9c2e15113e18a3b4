package analysis

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/market/simulated"
)

func chartOfSimulated(t *testing.T) Chart {
	t.Helper()
	src := simulated.New(simulated.WithClock(clocktesting.NewFakePassiveClock(now)))
	doc, err := Analyze(context.Background(), src, Request{Symbol: "BTCUSDT", Timeframes: []string{"15m"}, Candles: 450,
		Params: hama.DefaultParams(), TTL: time.Hour, SeriesBars: ChartBars}, now)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := ChartOf(doc, "15m")
	if !ok || c.Len() != ChartBars || len(c.Crosses) == 0 {
		t.Fatalf("chart of %d bars and %d crosses (%v), want %d bars with crosses", c.Len(), len(c.Crosses), ok, ChartBars)
	}
	return c
}

// The cached form gives back the same chart, na values and all, byte for byte in its JSON.
func TestChartRoundTrip(t *testing.T) {
	c := chartOfSimulated(t)
	c.ComputedAt = now.Add(1234567 * time.Nanosecond)
	b, err := EncodeChart(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeChart(b)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(c)
	got, _ := json.Marshal(back)
	if string(got) != string(want) || !back.ExpiresAt.Equal(c.ExpiresAt) || !back.ComputedAt.Equal(c.ComputedAt) {
		t.Fatalf("round trip changed the chart:\n got %.300s\nwant %.300s", got, want)
	}
	// A merge reads only ChartHeaderLen bytes of a cached chart.
	head, err := DecodeChartHeader(b[:ChartHeaderLen(c.Symbol, c.Timeframe)])
	if err != nil || head.Symbol != c.Symbol || head.Timeframe != c.Timeframe || !head.CandleCloseTime.Equal(c.CandleCloseTime) ||
		!head.ComputedAt.Equal(c.ComputedAt) || !head.ExpiresAt.Equal(c.ExpiresAt) || head.Len() != 0 {
		t.Fatalf("header %+v, %v; want the chart's names and times, no bars", head, err)
	}
	// Even with the longest varints for every time, the header fits in ChartHeaderLen.
	extreme := Chart{Symbol: c.Symbol, Timeframe: c.Timeframe, CandleCloseTime: time.UnixMilli(math.MinInt64),
		ComputedAt: time.Unix(0, math.MinInt64), ExpiresAt: time.Unix(0, math.MaxInt64)}
	eb, err := EncodeChart(extreme)
	if err != nil {
		t.Fatal(err)
	}
	if n := ChartHeaderLen(c.Symbol, c.Timeframe); len(eb) > n {
		t.Fatalf("a chart without bars takes %d bytes, more than the header bound %d", len(eb), n)
	}
	if !math.IsNaN(back.BBBasis[0]) || !strings.Contains(string(got), `"bb_basis":[null,`) {
		t.Fatal("na did not survive the round trip")
	}
	if len(b) > len(want)*6/10 {
		t.Fatalf("cached form %d bytes, JSON %d: want it well under the JSON", len(b), len(want))
	}
}

// A damaged value is an error, never a panic or a made-up chart.
func TestDecodeChartRefusesDamage(t *testing.T) {
	b, err := EncodeChart(chartOfSimulated(t))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		if _, err := DecodeChart(b[:n]); err == nil {
			t.Fatalf("a chart cut to %d of %d bytes decoded", n, len(b))
		}
	}
	if _, err := DecodeChartHeader(b[:10]); err == nil {
		t.Fatal("a header cut short decoded")
	}
	if _, err := DecodeChart(append(append([]byte{}, b...), 0)); err == nil || !strings.Contains(err.Error(), "after the chart") {
		t.Fatalf("trailing bytes: %v", err)
	}
	other := append([]byte{}, b...)
	other[0] = 9
	if _, err := DecodeChart(other); err == nil || !strings.Contains(err.Error(), "layout version 9") {
		t.Fatalf("another version: %v", err)
	}
	huge := []byte{chartVersion, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}
	if _, err := DecodeChart(huge); err == nil {
		t.Fatal("a bar count beyond the bytes decoded")
	}
	if _, err := EncodeChart(Chart{Series: hama.Series{Time: []int64{1}}}); err == nil {
		t.Fatal("a chart with short columns encoded")
	}
}

func TestChartNewerKeepsTheNewerCandle(t *testing.T) {
	old := Chart{CandleCloseTime: now, ComputedAt: now}
	newer := Chart{CandleCloseTime: now.Add(15 * time.Minute), ComputedAt: now}
	if !ChartNewer(newer, old) {
		t.Fatal("an older candle replaced the cached chart")
	}
	again := Chart{CandleCloseTime: now, ComputedAt: now.Add(time.Second)}
	if ChartNewer(old, again) {
		t.Fatal("the later computation of the same candle did not win")
	}
}
