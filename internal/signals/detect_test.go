package signals

import (
	"strconv"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/hama"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// at is a result at candle close t with a colour, a squeeze state and the last cross.
func at(t time.Time, color string, squeeze bool, cross string, crossAt time.Time, barsSince int) hama.Result {
	r := hama.Result{CandleCloseTime: t, LastPrice: 100 + float64(t.Minute()), HAMA: hama.Candle{Color: color},
		Bollinger: hama.Bollinger{Squeeze: squeeze}, Signal: hama.Signal{Summary: "bullish"}, Cross: hama.Cross{Last: hama.CrossNone}}
	if cross != hama.CrossNone {
		r.Cross = hama.Cross{Last: cross, LastTime: &crossAt, BarsSince: &barsSince}
	}
	return r
}

func doc(tfs map[string]hama.Result) analysis.Document {
	return analysis.Document{Symbol: "BTCUSDT", Timeframes: tfs}
}

func TestDetect(t *testing.T) {
	t1, t2 := t0.Add(15*time.Minute), t0.Add(30*time.Minute)
	cached := doc(map[string]hama.Result{
		"15m": at(t0, "red", false, hama.CrossDown, t0.Add(-time.Hour), 4),
		"1h":  at(t0, "green", true, hama.CrossUp, t0.Add(-5*time.Hour), 5),
		"4h":  at(t0, "green", false, hama.CrossUp, t0.Add(-8*time.Hour), 2),
	})
	fresh := doc(map[string]hama.Result{
		// A cross up on the new candle, a colour flip and a squeeze starting.
		"15m": at(t1, "green", true, hama.CrossUp, t1, 0),
		// Two candles later: a cross down on the first of them (price from the series), the squeeze ends.
		"1h": at(t2, "green", false, hama.CrossDown, t1, 1),
		// The same candle again: nothing, whatever changed.
		"4h": at(t0, "red", true, hama.CrossDown, t0, 0),
		// Seen for the first time: its state is history.
		"1d": at(t1, "red", true, hama.CrossDown, t1, 0),
	})
	fresh.Series = map[string]hama.Series{"1h": {Time: []int64{1, 2, 3}, Close: hama.Column{7, 8, 9}}}
	got := Detect(cached, fresh)
	want := []Event{
		{ID: "BTCUSDT:15m:crossUp:" + ms(t1), Timeframe: "15m", Kind: CrossUp, CandleCloseTime: t1, Price: 115, Color: "green"},
		{ID: "BTCUSDT:15m:colorFlip:" + ms(t1), Timeframe: "15m", Kind: ColorFlip, CandleCloseTime: t1, Price: 115, Color: "green"},
		{ID: "BTCUSDT:15m:squeezeStart:" + ms(t1), Timeframe: "15m", Kind: SqueezeStart, CandleCloseTime: t1, Price: 115, Color: "green"},
		{ID: "BTCUSDT:1h:crossDown:" + ms(t1), Timeframe: "1h", Kind: CrossDown, CandleCloseTime: t1, Price: 8, Color: "green"},
		{ID: "BTCUSDT:1h:squeezeEnd:" + ms(t2), Timeframe: "1h", Kind: SqueezeEnd, CandleCloseTime: t2, Price: 130, Color: "green"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		w.Symbol, w.Summary = "BTCUSDT", "bullish"
		if got[i] != w {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], w)
		}
	}
}

// A cross the cached result had already seen is not announced again by a newer candle.
func TestDetectKnownCross(t *testing.T) {
	cross := t0.Add(-time.Hour)
	cached := doc(map[string]hama.Result{"15m": at(t0, "red", false, hama.CrossUp, cross, 4)})
	fresh := doc(map[string]hama.Result{"15m": at(t0.Add(15*time.Minute), "red", false, hama.CrossUp, cross, 5)})
	if got := Detect(cached, fresh); len(got) != 0 {
		t.Fatalf("events %+v, want none", got)
	}
	// A cross beyond the series falls back to the last price.
	fresh = doc(map[string]hama.Result{"15m": at(t0.Add(time.Hour), "red", false, hama.CrossDown, t0.Add(15*time.Minute), 3)})
	if got := Detect(cached, fresh); len(got) != 1 || got[0].Price != fresh.Timeframes["15m"].LastPrice {
		t.Fatalf("events %+v, want one cross at the last price", got)
	}
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func TestParseKind(t *testing.T) {
	for _, k := range Kinds {
		if got, err := ParseKind(string(k)); err != nil || got != k {
			t.Fatalf("ParseKind(%s) = %s, %v", k, got, err)
		}
	}
	if _, err := ParseKind("crossover"); err == nil {
		t.Fatal("ParseKind accepted an unknown kind")
	}
}
