package hama

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hama-operator/hama-operator/internal/market"
)

func ohlc(o, h, l, c float64) market.Candle { return market.Candle{Open: o, High: h, Low: l, Close: c} }

// Each pattern with a pair drawn by hand; prev is a falling candle 10→8 unless the case says.
func TestCandlePatternByHand(t *testing.T) {
	falling, rising := ohlc(10, 10.5, 7.5, 8), ohlc(8, 10.5, 7.5, 10)
	for _, c := range []struct {
		name      string
		prev, cur market.Candle
		want      string
	}{
		{"body 0", falling, ohlc(9, 9.5, 8.5, 9), PatternDoji},
		// body 1, lower wick 8−5 = 3 > 2, upper wick 9.2−9 = 0.2 < 0.5
		{"long lower wick", falling, ohlc(8, 9.2, 5, 9), PatternHammer},
		// body 1, upper wick 12−9 = 3 > 2, lower wick 0.1 < 0.5
		{"long upper wick", falling, ohlc(9, 12, 7.9, 8), PatternShootingStar},
		// rising 7.8→10.2 swallows the falling 10→8 (close above its open, open below its close)
		{"rising swallows falling", falling, ohlc(7.8, 10.3, 7.7, 10.2), PatternBullishEngulfing},
		{"falling swallows rising", rising, ohlc(10.2, 10.3, 7.7, 7.8), PatternBearishEngulfing},
		{"rising inside falling", falling, ohlc(8.5, 9.8, 8.4, 9.5), PatternNone},
		{"two rising", rising, ohlc(7.8, 10.3, 7.7, 10.2), PatternNone},
	} {
		if got := candlePattern([]market.Candle{c.prev, c.cur}); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if got := candlePattern([]market.Candle{falling}); got != PatternNone {
		t.Errorf("one candle: %s, want none", got)
	}
}

// Volumes 2, 2, 2, 6 over 4 bars: mean 3, the last is twice it; too few bars or no volume is na.
func TestVolumeRatioByHand(t *testing.T) {
	vol := func(vs ...float64) []market.Candle {
		out := make([]market.Candle, len(vs))
		for i, v := range vs {
			out[i].Volume = v
		}
		return out
	}
	if got := volumeRatio(vol(5, 2, 2, 2, 6), 4); got != 2 {
		t.Errorf("ratio = %v, want 2", got)
	}
	if got := volumeRatio(vol(2, 6), 4); !isNA(got) {
		t.Errorf("too few bars: %v, want na", got)
	}
	if got := value(volumeRatio(vol(0, 0, 0, 0), 4)); got != nil {
		t.Errorf("no volume: %v, want null", *got)
	}
}

// With parameters that need fewer candles than the longest indicator, the indicators that are na
// are null in the JSON and the others are defined.
func TestIndicatorsNAAreNull(t *testing.T) {
	_, candles := loadReference(t)
	p := Params{OpenType: EMA, OpenLength: 3, HighType: EMA, HighLength: 3, LowType: EMA, LowLength: 3,
		CloseType: EMA, CloseLength: 3, MALength: 5, BollingerLength: 10, BollingerMultiplier: 2}
	r, err := Analyze(candles[:30], p) // EMA(50) and the MACD signal (bar 33) are na at bar 29
	if err != nil {
		t.Fatal(err)
	}
	ind := r.Indicators
	if ind.EMA50 != nil || ind.MACD.Signal != nil || ind.MACD.Histogram != nil {
		t.Errorf("ema_50/macd.signal/histogram = %v/%v/%v, want null", ind.EMA50, ind.MACD.Signal, ind.MACD.Histogram)
	}
	if ind.RSI == nil || ind.EMA20 == nil || ind.MACD.Line == nil || ind.SupportLevel == nil || ind.VolumeRatio == nil {
		t.Errorf("rsi/ema_20/macd.line/support/volume_ratio: want values, got %+v", ind)
	}
	b, err := json.Marshal(r.Indicators)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"ema_50":null`) {
		t.Errorf("JSON %s lacks \"ema_50\":null", b)
	}
}

// recurrences gives, bit for bit, what the one-bar-at-a-time states give over the whole series, on
// both sides of the bar where it switches to plain variables.
func TestRecurrencesMatchTheStates(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	src := make([]float64, 600)
	price := 100.0
	for i := range src {
		price *= 1 + (r.Float64()-0.5)*0.02
		src[i] = price
	}
	for _, n := range []int{1, 14, 15, 34, 49, 50, 51, 600} {
		rsiS, macdS := newRSI(rsiLength), newMACD(macdFast, macdSlow, macdSignal)
		short, long := emaSmoother(emaShort), emaSmoother(emaLong)
		var want [5]float64
		for _, v := range src[:n] {
			want[0] = rsiS.next(v)
			want[1], want[2] = macdS.next(v)
			want[3], want[4] = short.next(v), long.next(v)
		}
		var got [5]float64
		got[0], got[1], got[2], got[3], got[4] = recurrences(src[:n])
		for i := range got {
			if got[i] != want[i] && !(isNA(got[i]) && isNA(want[i])) {
				t.Fatalf("%d bars: rsi/line/signal/ema20/ema50 = %v, the states give %v", n, got, want)
			}
		}
	}
}
