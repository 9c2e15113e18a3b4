package legacy

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/hama"
)

var computed = time.Date(2026, 11, 22, 15, 45, 3, 120000000, time.UTC)

func f(v float64) *float64 { return &v }

// result is a 15m result with the HAMA close at close and the MA at 100 (so the deviation in % is
// |close − 100|), the MA line's gradient bullish and the last cross up unless changed.
func result(close float64, mutate ...func(*hama.Result)) hama.Result {
	r := hama.Result{
		Symbol: "BTCUSDT", Timeframe: "15m", LastPrice: 101.5, ComputedAt: computed,
		HAMA:  hama.Candle{Open: 99, High: 103, Low: 98, Close: close, Color: "green"},
		MA:    hama.MALine{Value: 100, Trend: "bullish", Strength: 3},
		Cross: hama.Cross{Last: hama.CrossUp},
		Indicators: hama.Indicators{
			RSI: f(61.25), EMA20: f(100.5), EMA50: f(99.75), SupportLevel: f(97), ResistanceLevel: f(104),
			MACD:        hama.MACD{Line: f(0.4), Signal: f(0.25), Histogram: f(0.15)},
			VolumeRatio: f(1.5), CandlePattern: hama.PatternNone,
		},
	}
	r.MaintainBullish = close >= 100.1
	r.MaintainBearish = false
	r.Signal.Summary = "bullish"
	for _, m := range mutate {
		m(&r)
	}
	return r
}

func view(t *testing.T, r hama.Result) View {
	t.Helper()
	v, ok := Of("BTCUSDT", map[string]hama.Result{"15m": r})
	if !ok {
		t.Fatal("no view")
	}
	return v
}

func turnedBearish(r *hama.Result) {
	r.HAMA.Color, r.Cross.Last, r.MA.Trend, r.Signal.Summary = "red", hama.CrossDown, "bearish", "bearish"
	r.MaintainBullish, r.MaintainBearish = false, true
}

// Each row of the rules table in docs/analysis.md, worked by hand.
func TestRulesByHand(t *testing.T) {
	for _, c := range []struct {
		name       string
		r          hama.Result
		trend, rec string
		confidence float64
		meetsBuy   bool
		meetsSell  bool
		summary    string
	}{
		// deviation 0.5 % → 0.7 + 0.5/5 = 0.8, MA gradient bullish +0.1 → 0.9
		{"up, green, gradient up", result(100.5), Uptrend, Buy, 0.9, true, false, "处于上升趋势，信号强度高，建议买入"},
		// deviation 3 % → the deviation part caps at 0.2; the gradient is bearish: 0.9
		{"up, far, gradient down", result(103, func(r *hama.Result) { r.MA.Trend = "bearish" }), Uptrend, Buy, 0.9, true, false, "处于上升趋势，信号强度高，建议买入"},
		// deviation 0.05 % < 0.1 %: not maintained → sideways, HOLD 0.3
		{"hugging the MA", result(100.05), Sideways, Hold, 0.3, false, false, "趋势不明，信号强度低，建议持有"},
		// maintained, but the HAMA candle turned red (summary neutral): HOLD inside a trend, 0.5
		{"up, red candle", result(100.5, func(r *hama.Result) { r.HAMA.Color, r.Signal.Summary = "red", "neutral" }),
			Uptrend, Hold, 0.5, false, false, "处于上升趋势，信号强度低，建议持有"},
		// BUY without volume confirmation does not meet the buy criteria (0.7 + 0.1/5 + 0.1 = 0.82)
		{"up, thin volume", result(100.1+0.0, func(r *hama.Result) { r.Indicators.VolumeRatio = f(1.2) }),
			Uptrend, Buy, 0.7 + (0.1 / 5) + 0.1, false, false, "处于上升趋势，信号强度高，建议买入"},
		// deviation 0.25 % below: 0.7 + 0.05 + 0.1 = 0.85; selling needs no volume confirmation
		{"down, red, gradient down", result(99.75, turnedBearish, func(r *hama.Result) { r.Indicators.VolumeRatio = nil }),
			Downtrend, Sell, 0.85, false, true, "处于下降趋势，信号强度高，建议卖出"},
		// deviation 0.25 %, gradient up against the sell: 0.75 (中等)
		{"down, gradient up", result(99.75, turnedBearish, func(r *hama.Result) { r.MA.Trend = "bullish" }),
			Downtrend, Sell, 0.75, false, true, "处于下降趋势，信号强度中等，建议卖出"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := view(t, c.r)
			a := v.HAMAAnalysis
			if a.Trend != c.trend || a.Recommendation != c.rec || math.Abs(a.Confidence-c.confidence) > 1e-9 {
				t.Errorf("trend/recommendation/confidence = %s/%s/%v, want %s/%s/%v", a.Trend, a.Recommendation, a.Confidence, c.trend, c.rec, c.confidence)
			}
			k := v.Conditions
			if k.MeetsBuyCriteria != c.meetsBuy || k.MeetsSellCriteria != c.meetsSell || k.Summary != c.summary {
				t.Errorf("meets buy/sell = %v/%v, summary %q; want %v/%v, %q", k.MeetsBuyCriteria, k.MeetsSellCriteria, k.Summary, c.meetsBuy, c.meetsSell, c.summary)
			}
			if k.IsUptrend != (a.Trend == Uptrend) || k.IsDowntrend != (a.Trend == Downtrend) ||
				k.IsBullishPattern != (a.Recommendation == Buy) || k.IsBearishPattern != (a.Recommendation == Sell) ||
				k.ConfidenceAbove70 != (a.Confidence >= 0.7) || k.HasVolumeConfirmation != a.Signals.VolumeConfirmation {
				t.Errorf("conditions %+v disagree with the analysis %+v", k, a)
			}
		})
	}
}

func TestSignalsAndIndicatorsByHand(t *testing.T) {
	v := view(t, result(100.5))
	s, ti := v.HAMAAnalysis.Signals, v.HAMAAnalysis.TechnicalIndicators
	want := Signals{HAClose: 100.5, RealtimePrice: 101.5, HAOpen: 99, HAHigh: 103, HALow: 98, HAMAMA: 100,
		DeviationPct: 0.5, LastCrossDirection: 1, TrendStrength: "moderate", VolumeConfirmation: true}
	if s != want {
		t.Errorf("signals = %+v, want %+v", s, want)
	}
	wantTI := TechnicalIndicators{RSI: 61.25, MACD: "bullish", EMA20: 100.5, EMA50: 99.75, SupportLevel: 97,
		ResistanceLevel: 104, HAMAStatus: "上涨趋势", CandleClose: 100.5, RealtimePrice: 101.5, MAValue: 100, DeviationPct: 0.5}
	if ti != wantTI {
		t.Errorf("technical_indicators = %+v, want %+v", ti, wantTI)
	}
	if note := v.HAMAAnalysis.AnalysisNote; note != "HAMA分析: 上涨趋势, 偏离度0.50%" {
		t.Errorf("analysis_note %q", note)
	}

	// trend_strength by deviation: > 1 % strong, > 0.3 % moderate, else weak; cross −1 when down.
	if s := view(t, result(98.5, turnedBearish)).HAMAAnalysis.Signals; s.TrendStrength != "strong" || s.LastCrossDirection != -1 {
		t.Errorf("1.5 %% below, crossed down: %s/%d, want strong/-1", s.TrendStrength, s.LastCrossDirection)
	}
	if s := view(t, result(100.3, func(r *hama.Result) { r.Cross.Last = hama.CrossNone })).HAMAAnalysis.Signals; s.TrendStrength != "weak" || s.LastCrossDirection != 0 {
		t.Errorf("0.3 %%, no cross: %s/%d, want weak/0", s.TrendStrength, s.LastCrossDirection)
	}
}

// An indicator that is na takes the value the original answered when it could not compute one, so
// the JSON types never change: rsi 50, the levels and EMAs 0, macd neutral; no volume, no
// confirmation.
func TestNAIndicatorsFallBackToTheOriginalsDefaults(t *testing.T) {
	v := view(t, result(100.5, func(r *hama.Result) { r.Indicators = hama.Indicators{CandlePattern: hama.PatternNone} }))
	ti := v.HAMAAnalysis.TechnicalIndicators
	if ti.RSI != 50 || ti.EMA20 != 0 || ti.EMA50 != 0 || ti.SupportLevel != 0 || ti.ResistanceLevel != 0 || ti.MACD != "neutral" {
		t.Errorf("technical_indicators = %+v", ti)
	}
	if v.HAMAAnalysis.Signals.VolumeConfirmation {
		t.Error("volume_confirmation without a volume ratio")
	}
	for _, m := range []struct {
		line, signal float64
		want         string
	}{{1, 2, "bearish"}, {2, 2, "neutral"}, {3, 2, "bullish"}} {
		if got := macdStatus(hama.MACD{Line: f(m.line), Signal: f(m.signal)}); got != m.want {
			t.Errorf("macd %v vs signal %v: %s, want %s", m.line, m.signal, got, m.want)
		}
	}
}

// timestamp is Python's isoformat() of the computation time in UTC, fixed width; cached_at the JSON
// text the original's cache wrote; is_cached true.
func TestTimestampsAsTheOriginalWroteThem(t *testing.T) {
	v := view(t, result(100.5))
	const stamp = "2026-11-22T15:45:03.120000+00:00"
	if v.Timestamp != stamp || v.HAMAAnalysis.Timestamp != stamp || len(stamp) != 32 {
		t.Errorf("timestamp %q / %q, want %q", v.Timestamp, v.HAMAAnalysis.Timestamp, stamp)
	}
	if v.CachedAt != `{"timestamp": "2026-11-22T15:45:03.120000+00:00"}` || !v.IsCached {
		t.Errorf("cached_at %q, is_cached %v", v.CachedAt, v.IsCached)
	}
	var inner struct{ Timestamp string }
	if err := json.Unmarshal([]byte(v.CachedAt), &inner); err != nil || inner.Timestamp != stamp {
		t.Errorf("cached_at does not parse as the original's JSON text: %v %q", err, inner.Timestamp)
	}
}

func TestPrimaryTimeframe(t *testing.T) {
	for _, c := range []struct {
		tfs  []string
		want string
	}{
		{[]string{"1h", "15m", "1m"}, "15m"},
		{[]string{"4h", "1h"}, "1h"},
		{[]string{"1d", "30m"}, "30m"},
		{nil, ""},
	} {
		m := map[string]hama.Result{}
		for _, tf := range c.tfs {
			m[tf] = hama.Result{}
		}
		if got := PrimaryTimeframe(m); got != c.want {
			t.Errorf("%v: %q, want %q", c.tfs, got, c.want)
		}
	}
	if _, ok := Of("BTCUSDT", nil); ok {
		t.Error("a view of no result")
	}
}

// A result with an MA of 0 (never produced by an analysis) still gives an encodable view.
func TestZeroResultEncodes(t *testing.T) {
	v, _ := Of("X", map[string]hama.Result{"15m": {}})
	if _, err := json.Marshal(v); err != nil {
		t.Fatal(err)
	}
}

// A gainer that could not be analysed keeps its row with the original's stand-in view.
func TestUnavailableIsTheOriginalsStandIn(t *testing.T) {
	v := Unavailable("NOPEUSDT", computed)
	a, c := v.HAMAAnalysis, v.Conditions
	if a.Symbol != "NOPEUSDT" || a.Trend != Sideways || a.Recommendation != Hold || a.Confidence != 0.5 ||
		a.CandlePattern != "unknown" || a.TechnicalIndicators.RSI != 50 || a.TechnicalIndicators.MACD != "neutral" {
		t.Errorf("hama_analysis = %+v", a)
	}
	if c.MeetsBuyCriteria || c.MeetsSellCriteria || c.Summary != "HAMA分析暂不可用" {
		t.Errorf("conditions = %+v", c)
	}
	if v.IsCached || v.Timestamp != "2026-11-22T15:45:03.120000+00:00" {
		t.Errorf("is_cached %v, timestamp %q", v.IsCached, v.Timestamp)
	}
}
