package hama

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/market"
)

type referenceFile struct {
	Candles []struct {
		OpenTime  int64   `json:"open_time"`
		CloseTime int64   `json:"close_time"`
		Open      float64 `json:"open"`
		High      float64 `json:"high"`
		Low       float64 `json:"low"`
		Close     float64 `json:"close"`
		Volume    float64 `json:"volume"`
	} `json:"candles"`
	Cases []struct {
		Name   string `json:"name"`
		Params struct {
			Open  [2]any `json:"open"`
			High  [2]any `json:"high"`
			Low   [2]any `json:"low"`
			Close [2]any `json:"close"`
			MA    int    `json:"ma"`
			BB    int    `json:"bb"`
			Mult  float64
		} `json:"params"`
		Candles int `json:"candles"`
		Want    struct {
			HAMAOpen, HAMAHigh, HAMALow, HAMAClose    float64
			Color                                     string
			MA                                        float64
			MARising                                  bool `json:"ma_rising"`
			Strength                                  int
			Trend                                     string
			LastCross                                 string `json:"last_cross"`
			BarsSince                                 *int   `json:"bars_since"`
			CrossCloseTime                            *int64 `json:"cross_close_time"`
			BBBasis, BBUpper, BBLower, BBWidth, BBPos float64
			Indicators                                struct {
				RSI, EMA20, EMA50, MACDLine, MACDSignal, MACDHistogram float64
				Support, Resistance, VolumeRatio                       float64
				CandlePattern                                          string `json:"candle_pattern"`
			}
		} `json:"want"`
	} `json:"cases"`
}

func loadReference(t testing.TB) (referenceFile, []market.Candle) {
	raw, err := os.ReadFile(filepath.Join("testdata", "reference_hama.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The Python field names are snake_case; map the few that differ by hand.
	r := strings.NewReplacer(`"hama_open"`, `"HAMAOpen"`, `"hama_high"`, `"HAMAHigh"`, `"hama_low"`, `"HAMALow"`,
		`"hama_close"`, `"HAMAClose"`, `"bb_basis"`, `"BBBasis"`, `"bb_upper"`, `"BBUpper"`, `"bb_lower"`, `"BBLower"`,
		`"bb_width"`, `"BBWidth"`, `"bb_position"`, `"BBPos"`, `"mult"`, `"Mult"`, `"indicators"`, `"Indicators"`,
		`"ema_20"`, `"EMA20"`, `"ema_50"`, `"EMA50"`, `"macd_line"`, `"MACDLine"`, `"macd_signal"`, `"MACDSignal"`,
		`"macd_histogram"`, `"MACDHistogram"`, `"support_level"`, `"Support"`, `"resistance_level"`, `"Resistance"`,
		`"volume_ratio"`, `"VolumeRatio"`)
	var ref referenceFile
	if err := json.Unmarshal([]byte(r.Replace(string(raw))), &ref); err != nil {
		t.Fatal(err)
	}
	candles := make([]market.Candle, len(ref.Candles))
	for i, c := range ref.Candles {
		candles[i] = market.Candle{
			OpenTime: time.UnixMilli(c.OpenTime).UTC(), CloseTime: time.UnixMilli(c.CloseTime).UTC(),
			Open: c.Open, High: c.High, Low: c.Low, Close: c.Close, Volume: c.Volume,
		}
	}
	return ref, candles
}

// deref reads an indicator, na (NaN) when it is null.
func deref(v *float64) float64 {
	if v == nil {
		return na
	}
	return *v
}

func maSpec(v [2]any) (MAType, int) { return MAType(v[0].(string)), int(v[1].(float64)) }

// The Go engine must match the independent Python reference (testdata/reference_hama.py) on every
// output, for the script's defaults and for other parameters, at three series lengths.
func TestMatchesIndependentReference(t *testing.T) {
	ref, candles := loadReference(t)
	for _, tc := range ref.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			p := Params{MALength: tc.Params.MA, BollingerLength: tc.Params.BB, BollingerMultiplier: tc.Params.Mult}
			p.OpenType, p.OpenLength = maSpec(tc.Params.Open)
			p.HighType, p.HighLength = maSpec(tc.Params.High)
			p.LowType, p.LowLength = maSpec(tc.Params.Low)
			p.CloseType, p.CloseLength = maSpec(tc.Params.Close)
			got, err := Analyze(candles[:tc.Candles], p)
			if err != nil {
				t.Fatal(err)
			}
			w := tc.Want
			for _, c := range []struct {
				name      string
				got, want float64
			}{
				{"hama.open", got.HAMA.Open, w.HAMAOpen}, {"hama.high", got.HAMA.High, w.HAMAHigh},
				{"hama.low", got.HAMA.Low, w.HAMALow}, {"hama.close", got.HAMA.Close, w.HAMAClose},
				{"ma", got.MA.Value, w.MA}, {"bb.basis", got.Bollinger.Basis, w.BBBasis},
				{"bb.upper", got.Bollinger.Upper, w.BBUpper}, {"bb.lower", got.Bollinger.Lower, w.BBLower},
				{"bb.width", got.Bollinger.Width, w.BBWidth}, {"bb.position", got.Bollinger.Position, w.BBPos},
				{"rsi", deref(got.Indicators.RSI), w.Indicators.RSI},
				{"ema_20", deref(got.Indicators.EMA20), w.Indicators.EMA20},
				{"ema_50", deref(got.Indicators.EMA50), w.Indicators.EMA50},
				{"macd.line", deref(got.Indicators.MACD.Line), w.Indicators.MACDLine},
				{"macd.signal", deref(got.Indicators.MACD.Signal), w.Indicators.MACDSignal},
				{"macd.histogram", deref(got.Indicators.MACD.Histogram), w.Indicators.MACDHistogram},
				{"support_level", deref(got.Indicators.SupportLevel), w.Indicators.Support},
				{"resistance_level", deref(got.Indicators.ResistanceLevel), w.Indicators.Resistance},
				{"volume_ratio", deref(got.Indicators.VolumeRatio), w.Indicators.VolumeRatio},
			} {
				if !near(c.got, c.want) {
					t.Errorf("%s = %.12g, reference %.12g", c.name, c.got, c.want)
				}
			}
			if got.Indicators.CandlePattern != w.Indicators.CandlePattern {
				t.Errorf("candle_pattern = %s, reference %s", got.Indicators.CandlePattern, w.Indicators.CandlePattern)
			}
			if got.HAMA.Color != w.Color || got.MA.Rising != w.MARising || got.MA.Strength != w.Strength ||
				got.MA.Trend != w.Trend || got.Cross.Last != w.LastCross {
				t.Errorf("color/rising/strength/trend/cross = %s/%v/%d/%s/%s, reference %s/%v/%d/%s/%s",
					got.HAMA.Color, got.MA.Rising, got.MA.Strength, got.MA.Trend, got.Cross.Last,
					w.Color, w.MARising, w.Strength, w.Trend, w.LastCross)
			}
			if (got.Cross.BarsSince == nil) != (w.BarsSince == nil) ||
				(w.BarsSince != nil && (*got.Cross.BarsSince != *w.BarsSince || got.Cross.LastTime.UnixMilli() != *w.CrossCloseTime)) {
				t.Errorf("last cross bars_since/time = %v/%v, reference %v/%v", got.Cross.BarsSince, got.Cross.LastTime, w.BarsSince, w.CrossCloseTime)
			}
		})
	}
}

func TestAnalyzeRefusesTooFewCandles(t *testing.T) {
	_, candles := loadReference(t)
	_, err := Analyze(candles[:399], DefaultParams())
	var insufficient *InsufficientDataError
	if !errors.As(err, &insufficient) || insufficient.Need != 400 || insufficient.Have != 399 {
		t.Fatalf("err = %v, want InsufficientDataError{Have: 399, Need: 400}", err)
	}
	if err.Error() != "need at least 400 closed candles, have 399" {
		t.Fatalf("message %q", err)
	}
}

func TestAnalyzeRefusesBadPrices(t *testing.T) {
	_, candles := loadReference(t)
	for name, mutate := range map[string]func(*market.Candle){
		"NaN close":      func(c *market.Candle) { c.Close = math.NaN() },
		"Inf high":       func(c *market.Candle) { c.High = math.Inf(1) },
		"zero open":      func(c *market.Candle) { c.Open = 0 },
		"negative low":   func(c *market.Candle) { c.Low = -1 },
		"high below low": func(c *market.Candle) { c.High, c.Low = 1, 2 },
	} {
		t.Run(name, func(t *testing.T) {
			bad := append([]market.Candle(nil), candles[:500]...)
			mutate(&bad[123])
			_, err := Analyze(bad, DefaultParams())
			if err == nil || !strings.Contains(err.Error(), "candle 123") {
				t.Fatalf("err = %v, want an error naming candle 123", err)
			}
		})
	}
}

func TestResultJSONIsFiniteAndComplete(t *testing.T) {
	_, candles := loadReference(t)
	r, err := Analyze(candles[:500], DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"hama":{"open":`, `"color":`, `"ma":{"value":`, `"strength":`, `"cross":{"last":`,
		`"maintain_bullish":`, `"bollinger":{"basis":`, `"squeeze":`, `"zone":`, `"signal":{"summary":`, `"candle_close_time":`,
		`"indicators":{"rsi":`, `"macd":{"line":`, `"ema_50":`, `"support_level":`, `"candle_pattern":`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("JSON lacks %s: %s", field, b)
		}
	}
	if r.Candles != 500 || !r.CandleCloseTime.Equal(candles[499].CloseTime) || r.LastPrice != candles[499].Close {
		t.Errorf("candles/close time/last price = %d/%s/%v", r.Candles, r.CandleCloseTime, r.LastPrice)
	}
}

func TestMaintainNeedsTheLastCrossAndAGap(t *testing.T) {
	_, candles := loadReference(t)
	r, err := Analyze(candles, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	gap := math.Abs(r.HAMA.Close-r.MA.Value) / r.MA.Value
	if r.MaintainBearish != (r.Cross.Last == CrossDown && gap >= 0.001) || r.MaintainBullish != (r.Cross.Last == CrossUp && gap >= 0.001) {
		t.Fatalf("maintain flags %v/%v inconsistent with cross %s and gap %v", r.MaintainBullish, r.MaintainBearish, r.Cross.Last, gap)
	}
}

func TestMinCandles(t *testing.T) {
	p := DefaultParams()
	if got := p.MinCandles(); got != 400 {
		t.Fatalf("default MinCandles = %d, want 400 (Bollinger 400 dominates)", got)
	}
	p.BollingerLength, p.MALength = 20, 300
	if got := p.MinCandles(); got != 303 {
		t.Fatalf("MinCandles = %d, want 303 (ma 300 + its EMA(3))", got)
	}
}

func BenchmarkAnalyze500(b *testing.B)  { benchmarkAnalyze(b, 500) }
func BenchmarkAnalyze1000(b *testing.B) { benchmarkAnalyze(b, 1000) }

func benchmarkAnalyze(b *testing.B, n int) {
	_, candles := loadReference(b)
	candles = candles[:n]
	p := DefaultParams()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Analyze(candles, p); err != nil {
			b.Fatal(err)
		}
	}
}

// Every bar of a series is what Analyze reports when that bar is the last one: the chart and the
// documents agree bar by bar.
func TestAnalyzeSeriesMatchesAnalyzeAtEveryBar(t *testing.T) {
	_, candles := loadReference(t)
	candles = candles[:600]
	p := DefaultParams()
	const bars = 200
	want, err := Analyze(candles, p)
	if err != nil {
		t.Fatal(err)
	}
	r, s, err := AnalyzeSeries(candles, p, bars)
	if err != nil {
		t.Fatal(err)
	}
	if r.HAMA != want.HAMA || r.Bollinger != want.Bollinger || r.MA != want.MA || r.Cross.Last != want.Cross.Last {
		t.Fatalf("AnalyzeSeries's result %+v differs from Analyze's %+v", r, want)
	}
	if s.Len() != bars || s.Time[bars-1] != candles[len(candles)-1].OpenTime.Unix() {
		t.Fatalf("%d bars ending at %d, want %d ending at the last candle", s.Len(), s.Time[s.Len()-1], bars)
	}
	crosses := map[int64]string{}
	for _, c := range s.Crosses {
		crosses[c.Time] = c.Direction
	}
	for j := range bars {
		i := len(candles) - bars + j
		at, err := Analyze(candles[:i+1], p)
		if err != nil {
			t.Fatal(err)
		}
		c := candles[i]
		got := []float64{s.Open[j], s.High[j], s.Low[j], s.Close[j], s.HAMAOpen[j], s.HAMAHigh[j], s.HAMALow[j],
			s.HAMAClose[j], s.MA[j]}
		exp := []float64{c.Open, c.High, c.Low, c.Close, at.HAMA.Open, at.HAMA.High, at.HAMA.Low, at.HAMA.Close,
			at.MA.Value}
		for k := range got {
			if got[k] != exp[k] {
				t.Fatalf("bar %d column %d: %v, Analyze says %v", j, k, got[k], exp[k])
			}
		}
		// The bands slide instead of summing each window again: equal to far below a price tick.
		for k, pair := range [][2]float64{{s.BBBasis[j], at.Bollinger.Basis}, {s.BBUpper[j], at.Bollinger.Upper}, {s.BBLower[j], at.Bollinger.Lower}} {
			if math.Abs(pair[0]-pair[1]) > 1e-9*math.Abs(pair[1]) {
				t.Fatalf("bar %d band %d: %v, Analyze says %v", j, k, pair[0], pair[1])
			}
		}
		if s.HAMAColor[j] != at.HAMA.Color {
			t.Fatalf("bar %d: colour %s, Analyze says %s", j, s.HAMAColor[j], at.HAMA.Color)
		}
		wantCross := ""
		switch {
		case at.Cross.UpNow:
			wantCross = CrossUp
		case at.Cross.DownNow:
			wantCross = CrossDown
		}
		if crosses[s.Time[j]] != wantCross {
			t.Fatalf("bar %d: cross %q, Analyze says %q", j, crosses[s.Time[j]], wantCross)
		}
	}
	if len(s.Crosses) == 0 {
		t.Fatal("no cross in 200 bars of the reference candles: the cross check above checked nothing")
	}
}

func TestSeriesLastAndJSON(t *testing.T) {
	_, candles := loadReference(t)
	_, s, err := AnalyzeSeries(candles[:500], DefaultParams(), 200)
	if err != nil {
		t.Fatal(err)
	}
	last := s.Last(10)
	if last.Len() != 10 || last.Time[0] != s.Time[190] || last.BBLower[9] != s.BBLower[199] {
		t.Fatalf("Last(10) is not the last ten bars: %d bars from %d", last.Len(), last.Time[0])
	}
	for _, c := range last.Crosses {
		if c.Time < last.Time[0] {
			t.Fatalf("Last(10) kept the cross at %d, before its first bar", c.Time)
		}
	}
	if s.Last(500).Len() != 200 {
		t.Fatal("Last(n) beyond the series must return all of it")
	}
	col := Column{1.5, na, math.Inf(1), 43000, 1e-7}
	b, err := json.Marshal(col)
	if err != nil || string(b) != `[1.5,null,null,43000,1e-07]` {
		t.Fatalf("Column JSON %s (%v)", b, err)
	}
	var back Column
	if err := json.Unmarshal(b, &back); err != nil || back[0] != 1.5 || !math.IsNaN(back[1]) || back[3] != 43000 {
		t.Fatalf("Column round trip %v (%v)", back, err)
	}
}

func BenchmarkAnalyzeSeries500(b *testing.B) {
	_, candles := loadReference(b)
	candles = candles[:500]
	p := DefaultParams()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := AnalyzeSeries(candles, p, 200); err != nil {
			b.Fatal(err)
		}
	}
}
