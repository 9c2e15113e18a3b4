package hama

import "time"

// Result is the analysis of one symbol on one timeframe at its last closed candle. Its JSON form is
// the documented, stable output (docs/analysis.md); it never holds NaN or Inf.
type Result struct {
	Symbol    string `json:"symbol"`
	Timeframe string `json:"timeframe"`
	Source    string `json:"source"`
	// CandleCloseTime is the close time of the last closed candle analysed.
	CandleCloseTime time.Time `json:"candle_close_time"`
	LastPrice       float64   `json:"last_price"`
	Candles         int       `json:"candles"`

	HAMA            Candle    `json:"hama"`
	MA              MALine    `json:"ma"`
	Cross           Cross     `json:"cross"`
	MaintainBullish bool      `json:"maintain_bullish"`
	MaintainBearish bool      `json:"maintain_bearish"`
	Bollinger       Bollinger `json:"bollinger"`
	Signal          Signal    `json:"signal"`
	// Indicators are the classic indicators of the same candles, beside the script's outputs.
	Indicators Indicators `json:"indicators"`

	ComputedAt time.Time `json:"computed_at"`
	// ExpiresAt is when the cache drops this timeframe (computed_at + the schedule's ttl).
	ExpiresAt time.Time `json:"expires_at"`
}

// Candle is the HAMA candle of the last bar.
type Candle struct {
	Open  float64 `json:"open"`
	High  float64 `json:"high"`
	Low   float64 `json:"low"`
	Close float64 `json:"close"`
	// Color is "green" when the HAMA open rose from the previous bar, else "red".
	Color string `json:"color"`
}

// MALine is the WMA line the HAMA close crosses.
type MALine struct {
	Value   float64 `json:"value"`
	Rising  bool    `json:"rising"`
	Falling bool    `json:"falling"`
	// Trend is "bullish" when the line is above its EMA(3), "bearish" below, "neutral" on it.
	Trend string `json:"trend"`
	// Strength counts 1..5 steps of the script's gradient colour (see docs/analysis.md).
	Strength int `json:"strength"`
}

// Cross describes crosses of the HAMA close over the MA line.
type Cross struct {
	// Last is the direction of the most recent cross in the series: "up", "down" or "none".
	Last string `json:"last"`
	// LastTime is the close time of the bar of the most recent cross; null when none.
	LastTime *time.Time `json:"last_time"`
	// BarsSince counts bars from that cross to the last bar (0: the last bar crossed); null when none.
	BarsSince *int `json:"bars_since"`
	UpNow     bool `json:"up_now"`
	DownNow   bool `json:"down_now"`
}

// Bollinger are the bands at the last bar.
type Bollinger struct {
	Basis     float64 `json:"basis"`
	Upper     float64 `json:"upper"`
	Lower     float64 `json:"lower"`
	Width     float64 `json:"width"`
	Squeeze   bool    `json:"squeeze"`
	Expansion bool    `json:"expansion"`
	// Position is (close − lower) / (upper − lower): 0 at the lower band, 1 at the upper; 0.5 when
	// the bands have no width.
	Position float64 `json:"position"`
	// Zone is above_upper, upper_half, lower_half or below_lower.
	Zone string `json:"zone"`
}

// Signal sums the state up.
type Signal struct {
	// Summary is "bullish", "bearish" or "neutral".
	Summary string `json:"summary"`
	Text    string `json:"text"`
}

// Cross directions.
const (
	CrossUp   = "up"
	CrossDown = "down"
	CrossNone = "none"
)

// Indicators are classic indicators at the last bar, with Pine semantics (docs/analysis.md). A value
// that is na (too few candles for its length) is null.
type Indicators struct {
	RSI   *float64 `json:"rsi"` // ta.rsi(close, 14)
	MACD  MACD     `json:"macd"`
	EMA20 *float64 `json:"ema_20"` // ta.ema(close, 20)
	EMA50 *float64 `json:"ema_50"` // ta.ema(close, 50)
	// SupportLevel and ResistanceLevel are the lowest low and the highest high of the last 20 bars.
	SupportLevel    *float64 `json:"support_level"`
	ResistanceLevel *float64 `json:"resistance_level"`
	// VolumeRatio is the last bar's volume over ta.sma(volume, 20) (that mean includes the last bar).
	VolumeRatio *float64 `json:"volume_ratio"`
	// CandlePattern classifies the last two exchange candles: bullish_engulfing, bearish_engulfing,
	// doji, hammer, shooting_star or none.
	CandlePattern string `json:"candle_pattern"`
}

// MACD is ta.macd(close, 12, 26, 9) at the last bar.
type MACD struct {
	Line      *float64 `json:"line"`
	Signal    *float64 `json:"signal"`
	Histogram *float64 `json:"histogram"`
}

// Candle patterns.
const (
	PatternBullishEngulfing = "bullish_engulfing"
	PatternBearishEngulfing = "bearish_engulfing"
	PatternDoji             = "doji"
	PatternHammer           = "hammer"
	PatternShootingStar     = "shooting_star"
	PatternNone             = "none"
)
