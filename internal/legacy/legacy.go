// Package legacy derives the original Python service's view of an analysis (hama_analysis,
// conditions, timestamp, cached_at, is_cached) from the Pine HAMA results, with the names, JSON types
// and value sets of that service's code, so its clients keep reading what they read. The rules are
// in docs/analysis.md ("The original service's view"). It imports nothing from Kubernetes.
package legacy

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/market"
)

// View is the original service's fields of one symbol's document.
type View struct {
	HAMAAnalysis Analysis   `json:"hama_analysis"`
	Conditions   Conditions `json:"conditions"`
	// CachedAt is what the original's cache wrote: the JSON text {"timestamp": "<timestamp>"}.
	CachedAt string `json:"cached_at"`
	// IsCached is true: the original set it on every document it stored, and every document the
	// operator answers with is stored.
	IsCached bool `json:"is_cached"`
	// Timestamp is when the analysis was computed (TimestampLayout); the legacy analyze-symbol
	// route answers the time of the answer instead, as the original did.
	Timestamp string `json:"timestamp"`
}

// Analysis is the original's hama_analysis.
type Analysis struct {
	Symbol string `json:"symbol"`
	// Timeframe is the analysed timeframe the view comes from (not in the original, which only
	// analysed 15m).
	Timeframe           string              `json:"timeframe"`
	Trend               string              `json:"trend"`          // uptrend | downtrend | sideways
	CandlePattern       string              `json:"candle_pattern"` // see hama.Indicators
	Recommendation      string              `json:"recommendation"` // BUY | SELL | HOLD
	Confidence          float64             `json:"confidence"`     // 0.3 .. 1.0
	Signals             Signals             `json:"signals"`
	TechnicalIndicators TechnicalIndicators `json:"technical_indicators"`
	Timestamp           string              `json:"timestamp"`
	AnalysisNote        string              `json:"analysis_note"`
}

// Signals is the original's hama_analysis.signals.
type Signals struct {
	HAClose            float64 `json:"ha_close"`
	RealtimePrice      float64 `json:"realtime_price"`
	HAOpen             float64 `json:"ha_open"`
	HAHigh             float64 `json:"ha_high"`
	HALow              float64 `json:"ha_low"`
	HAMAMA             float64 `json:"hama_ma"`
	DeviationPct       float64 `json:"deviation_pct"`
	LastCrossDirection int     `json:"last_cross_direction"` // 1 up, -1 down, 0 none
	TrendStrength      string  `json:"trend_strength"`       // strong | moderate | weak
	VolumeConfirmation bool    `json:"volume_confirmation"`
}

// TechnicalIndicators is the original's hama_analysis.technical_indicators: the fields its front end
// reads (rsi … resistance_level) and those its HAMA path wrote (hama_status … deviation_pct).
type TechnicalIndicators struct {
	RSI             float64 `json:"rsi"`
	MACD            string  `json:"macd"` // bullish | bearish | neutral
	EMA20           float64 `json:"ema_20"`
	EMA50           float64 `json:"ema_50"`
	SupportLevel    float64 `json:"support_level"`
	ResistanceLevel float64 `json:"resistance_level"`
	HAMAStatus      string  `json:"hama_status"` // 上涨趋势 | 下跌趋势 | 盘整
	CandleClose     float64 `json:"candle_close"`
	RealtimePrice   float64 `json:"realtime_price"`
	MAValue         float64 `json:"ma_value"`
	DeviationPct    float64 `json:"deviation_pct"`
}

// Conditions is the original's conditions, with its rules (check_hama_conditions).
type Conditions struct {
	IsUptrend             bool   `json:"is_uptrend"`
	IsDowntrend           bool   `json:"is_downtrend"`
	ConfidenceAbove70     bool   `json:"confidence_above_70"`
	IsBullishPattern      bool   `json:"is_bullish_pattern"`
	IsBearishPattern      bool   `json:"is_bearish_pattern"`
	HasVolumeConfirmation bool   `json:"has_volume_confirmation"`
	MeetsBuyCriteria      bool   `json:"meets_buy_criteria"`
	MeetsSellCriteria     bool   `json:"meets_sell_criteria"`
	Summary               string `json:"summary"`
}

// Values of the original's fields.
const (
	Uptrend   = "uptrend"
	Downtrend = "downtrend"
	Sideways  = "sideways"
	Buy       = "BUY"
	Sell      = "SELL"
	Hold      = "HOLD"
)

// Directions, as hama names its summary and MA trend and the original named its MACD status.
const (
	bullish = "bullish"
	bearish = "bearish"
	neutral = "neutral"
)

// TimestampLayout is Python's datetime.isoformat() of a UTC time with microseconds: the original's
// format, with the zone it lacked. Its width is fixed (32 bytes), which lets a reader replace it in
// place.
const TimestampLayout = "2006-01-02T15:04:05.000000-07:00"

// Thresholds of the rules (docs/analysis.md).
const (
	volumeConfirmationRatio = 1.2 // the original's: volume above 1.2 × its 20-bar mean
	strongDeviationPct      = 1.0 // the original's trend_strength bounds
	moderateDeviationPct    = 0.3
	highConfidence          = 0.70 // the original's confidence_above_70
	// Fallbacks the original answered when an indicator could not be computed.
	fallbackRSI = 50
)

// PrimaryTimeframe is the timeframe the view is derived from: 15m, the only one the original
// analysed, when present, else the shortest present; "" when there is none.
func PrimaryTimeframe(results map[string]hama.Result) string {
	if _, ok := results["15m"]; ok {
		return "15m"
	}
	for _, tf := range market.Intervals {
		if _, ok := results[tf]; ok {
			return tf
		}
	}
	// Not a Binance interval (never written by the operator): the first in sorted order.
	keys := make([]string, 0, len(results))
	for tf := range results {
		keys = append(keys, tf)
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

// Of derives the view of a symbol from its results; false when there is no result.
func Of(symbol string, results map[string]hama.Result) (View, bool) {
	tf := PrimaryTimeframe(results)
	if tf == "" {
		return View{}, false
	}
	r := results[tf]
	a := analyse(symbol, tf, r)
	return View{
		HAMAAnalysis: a,
		Conditions:   conditions(a),
		CachedAt:     fmt.Sprintf(`{"timestamp": %q}`, a.Timestamp),
		IsCached:     true,
		Timestamp:    a.Timestamp,
	}, true
}

func analyse(symbol, tf string, r hama.Result) Analysis {
	dev := deviationPct(r.HAMA.Close, r.MA.Value)
	trend := Sideways
	switch {
	case r.MaintainBullish:
		trend = Uptrend
	case r.MaintainBearish:
		trend = Downtrend
	}
	rec := Hold
	switch {
	case trend == Uptrend && r.Signal.Summary == bullish:
		rec = Buy
	case trend == Downtrend && r.Signal.Summary == bearish:
		rec = Sell
	}
	ind := r.Indicators
	stamp := r.ComputedAt.UTC().Format(TimestampLayout)
	status := hamaStatus(trend)
	return Analysis{
		Symbol: symbol, Timeframe: tf, Trend: trend, CandlePattern: ind.CandlePattern,
		Recommendation: rec, Confidence: confidence(rec, trend, dev, r.MA.Trend),
		Signals: Signals{
			HAClose: r.HAMA.Close, RealtimePrice: r.LastPrice,
			HAOpen: r.HAMA.Open, HAHigh: r.HAMA.High, HALow: r.HAMA.Low,
			HAMAMA: r.MA.Value, DeviationPct: dev, LastCrossDirection: crossDirection(r.Cross.Last),
			TrendStrength:      trendStrength(dev),
			VolumeConfirmation: ind.VolumeRatio != nil && *ind.VolumeRatio > volumeConfirmationRatio,
		},
		TechnicalIndicators: TechnicalIndicators{
			RSI: or(ind.RSI, fallbackRSI), MACD: macdStatus(ind.MACD),
			EMA20: or(ind.EMA20, 0), EMA50: or(ind.EMA50, 0),
			SupportLevel: or(ind.SupportLevel, 0), ResistanceLevel: or(ind.ResistanceLevel, 0),
			HAMAStatus: status, CandleClose: r.HAMA.Close, RealtimePrice: r.LastPrice,
			MAValue: r.MA.Value, DeviationPct: dev,
		},
		Timestamp:    stamp,
		AnalysisNote: fmt.Sprintf("HAMA分析: %s, 偏离度%.2f%%", status, dev),
	}
}

// confidence: a BUY or SELL starts at the original's 0.7, gains the original's deviation_pct / 5 up
// to 0.2 (reached at 1 %), and 0.1 when the MA line's own gradient points the same way; a HOLD is
// 0.5 inside a trend (the candle disagrees) and the original's 0.3 without one.
func confidence(rec, trend string, deviationPct float64, maTrend string) float64 {
	switch rec {
	case Buy, Sell:
		c := 0.7 + math.Min(deviationPct/5, 0.2)
		if (rec == Buy && maTrend == bullish) || (rec == Sell && maTrend == bearish) {
			c += 0.1
		}
		return c
	}
	if trend != Sideways {
		return 0.5
	}
	return 0.3
}

func conditions(a Analysis) Conditions {
	c := Conditions{
		IsUptrend:             a.Trend == Uptrend,
		IsDowntrend:           a.Trend == Downtrend,
		ConfidenceAbove70:     a.Confidence >= highConfidence,
		IsBullishPattern:      a.Recommendation == Buy,
		IsBearishPattern:      a.Recommendation == Sell,
		HasVolumeConfirmation: a.Signals.VolumeConfirmation,
	}
	c.MeetsBuyCriteria = c.IsUptrend && c.ConfidenceAbove70 && c.IsBullishPattern && c.HasVolumeConfirmation
	c.MeetsSellCriteria = c.IsDowntrend && c.ConfidenceAbove70 && c.IsBearishPattern
	c.Summary = summary(a)
	return c
}

// summary is the original's text, in its words (Chinese) and order: trend, signal strength, advice.
func summary(a Analysis) string {
	trend := "趋势不明"
	switch a.Trend {
	case Uptrend:
		trend = "处于上升趋势"
	case Downtrend:
		trend = "处于下降趋势"
	}
	strength := "信号强度低"
	switch {
	case a.Confidence >= 0.8:
		strength = "信号强度高"
	case a.Confidence >= 0.6:
		strength = "信号强度中等"
	}
	advice := "建议持有"
	switch a.Recommendation {
	case Buy:
		advice = "建议买入"
	case Sell:
		advice = "建议卖出"
	}
	return trend + "，" + strength + "，" + advice
}

// deviationPct is the original's |HAMA close − MA| / MA × 100; 0 when the MA is not a positive number
// (never from an analysis, whose prices are checked, but a view must always encode).
func deviationPct(hamaClose, ma float64) float64 {
	d := math.Abs(hamaClose-ma) / ma * 100
	if !(ma > 0) || math.IsNaN(d) || math.IsInf(d, 0) {
		return 0
	}
	return d
}

func hamaStatus(trend string) string {
	switch trend {
	case Uptrend:
		return "上涨趋势"
	case Downtrend:
		return "下跌趋势"
	}
	return "盘整"
}

func crossDirection(last string) int {
	switch last {
	case hama.CrossUp:
		return 1
	case hama.CrossDown:
		return -1
	}
	return 0
}

func trendStrength(deviationPct float64) string {
	switch {
	case deviationPct > strongDeviationPct:
		return "strong"
	case deviationPct > moderateDeviationPct:
		return "moderate"
	}
	return "weak"
}

func macdStatus(m hama.MACD) string {
	switch {
	case m.Line == nil || m.Signal == nil:
		return neutral
	case *m.Line > *m.Signal:
		return bullish
	case *m.Line < *m.Signal:
		return bearish
	}
	return neutral
}

// or is *v, or the original's fallback when the indicator is na.
func or(v *float64, fallback float64) float64 {
	if v == nil {
		return fallback
	}
	return *v
}

// unavailableSummary is the original's conditions.summary for a gainer it could not analyse.
const unavailableSummary = "HAMA分析暂不可用"

// Unavailable is the view the original's gainers list gave a symbol it could not analyse, instead of
// failing the list: sideways, HOLD, confidence 0.5, neither criterion met, "HAMA分析暂不可用". The
// indicators take the fallbacks of an indicator that could not be computed.
func Unavailable(symbol string, now time.Time) View {
	stamp := now.UTC().Format(TimestampLayout)
	return View{
		HAMAAnalysis: Analysis{
			Symbol: symbol, Trend: Sideways, CandlePattern: "unknown", Recommendation: Hold, Confidence: 0.5,
			Signals:             Signals{TrendStrength: trendStrength(0)},
			TechnicalIndicators: TechnicalIndicators{RSI: fallbackRSI, MACD: neutral, HAMAStatus: hamaStatus(Sideways)},
			Timestamp:           stamp, AnalysisNote: unavailableSummary,
		},
		Conditions: Conditions{Summary: unavailableSummary},
		CachedAt:   fmt.Sprintf(`{"timestamp": %q}`, stamp),
		Timestamp:  stamp,
	}
}
