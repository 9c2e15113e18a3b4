package hama

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/hama-operator/hama-operator/internal/market"
)

// Thresholds of the script.
const (
	maintainThreshold = 0.001 // |HAMA close − ma| / ma for maintain_bullish / maintain_bearish
	squeezeWidth      = 0.10
	expansionWidth    = 0.15
	strengthEMALength = 3 // the gradient colour compares ma with EMA(ma, 3)
	strengthSteps     = 5
	seriesPerAnalysis = 11
	defaultBufferBars = 1000
)

// buffers recycles the float64 series of an analysis: one backing array, sliced per series.
var buffers = sync.Pool{New: func() any {
	b := make([]float64, seriesPerAnalysis*defaultBufferBars)
	return &b
}}

type series struct {
	srcOpen, srcHigh, srcLow, srcClose, close []float64
	open, high, low, hamaClose, ma, maEMA     []float64
}

func newSeries(n int) (*series, func()) {
	bp := buffers.Get().(*[]float64)
	if cap(*bp) < seriesPerAnalysis*n {
		*bp = make([]float64, seriesPerAnalysis*n)
	}
	buf := (*bp)[:seriesPerAnalysis*n]
	next := func() []float64 {
		s := buf[:n:n]
		buf = buf[n:]
		return s
	}
	s := &series{
		srcOpen: next(), srcHigh: next(), srcLow: next(), srcClose: next(), close: next(),
		open: next(), high: next(), low: next(), hamaClose: next(), ma: next(), maEMA: next(),
	}
	return s, func() { buffers.Put(bp) }
}

// Analyze computes the indicator at the last of candles (oldest first, all closed).
func Analyze(candles []market.Candle, p Params) (Result, error) {
	r, _, err := analyze(candles, p, 0)
	return r, err
}

// AnalyzeSeries is Analyze that also returns the last bars (at most) of the series behind the
// result, for charts.
func AnalyzeSeries(candles []market.Candle, p Params, bars int) (Result, Series, error) {
	return analyze(candles, p, max(bars, 1))
}

// analyze is Analyze, with the last bars of the series when bars > 0.
func analyze(candles []market.Candle, p Params, bars int) (Result, Series, error) {
	if err := p.Validate(); err != nil {
		return Result{}, Series{}, err
	}
	if need := p.MinCandles(); len(candles) < need {
		return Result{}, Series{}, &InsufficientDataError{Have: len(candles), Need: need}
	}
	n := len(candles)
	s, release := newSeries(n)
	defer release()

	// The script's transformed OHLC, checking the prices on the way.
	for i, c := range candles {
		if err := checkCandle(i, c); err != nil {
			return Result{}, Series{}, err
		}
		if i == 0 {
			s.srcOpen[i] = na
		} else {
			s.srcOpen[i] = (candles[i-1].Open + candles[i-1].Close) / 2
		}
		s.srcHigh[i], s.srcLow[i] = c.High, c.Low
		if c.Close > c.High {
			s.srcHigh[i] = c.Close
		}
		if c.Close < c.Low {
			s.srcLow[i] = c.Close
		}
		s.srcClose[i] = (c.Open + c.High + c.Low + c.Close) / 4
		s.close[i] = c.Close
	}
	movingAverage(p.OpenType, s.srcOpen, p.OpenLength, s.open)
	movingAverage(p.HighType, s.srcHigh, p.HighLength, s.high)
	movingAverage(p.LowType, s.srcLow, p.LowLength, s.low)
	movingAverage(p.CloseType, s.srcClose, p.CloseLength, s.hamaClose)
	wma(s.close, p.MALength, s.ma)
	ema(s.ma, strengthEMALength, s.maEMA)

	last := n - 1
	r := Result{
		CandleCloseTime: candles[last].CloseTime.UTC(),
		LastPrice:       candles[last].Close,
		Candles:         n,
		HAMA: Candle{
			Open: s.open[last], High: s.high[last], Low: s.low[last], Close: s.hamaClose[last],
			Color: colour(s.open, last),
		},
	}
	r.MA = maLine(s.ma, s.maEMA, last)
	r.Cross = lastCross(s.hamaClose, s.ma, candles)
	gap := math.Abs(r.HAMA.Close-r.MA.Value) / r.MA.Value
	r.MaintainBullish = r.Cross.Last == CrossUp && gap >= maintainThreshold
	r.MaintainBearish = r.Cross.Last == CrossDown && gap >= maintainThreshold
	r.Bollinger = bollinger(s.close, p.BollingerLength, p.BollingerMultiplier)
	r.Signal = signal(r)
	r.Indicators = indicators(s, candles)
	if err := checkFinite(r); err != nil {
		return Result{}, Series{}, err
	}
	if bars == 0 {
		return r, Series{}, nil
	}
	return r, lastBars(s, candles, p, bars), nil
}

func checkCandle(i int, c market.Candle) error {
	// Each pair of comparisons rejects NaN (every comparison with it is false), zero, negatives and +Inf.
	const maxPrice = math.MaxFloat64
	if c.Open > 0 && c.Open <= maxPrice && c.High > 0 && c.High <= maxPrice &&
		c.Low > 0 && c.Low <= maxPrice && c.Close > 0 && c.Close <= maxPrice {
		if c.High < c.Low {
			return fmt.Errorf("candle %d (open time %s) has high %v below low %v",
				i, c.OpenTime.UTC().Format(time.RFC3339), c.High, c.Low)
		}
		return nil
	}
	return fmt.Errorf("candle %d (open time %s) has a price that is not a positive number: open %v high %v low %v close %v",
		i, c.OpenTime.UTC().Format(time.RFC3339), c.Open, c.High, c.Low, c.Close)
}

// colour is the HAMA candle colour: green when CandleOpen rose from the previous bar (red on the
// first bar, which has none).
func colour(open []float64, i int) string {
	if i > 0 && open[i] > open[i-1] {
		return "green"
	}
	return "red"
}

// maLine reports the MA line with the script's gradient strength. The gradient (PineCoders'
// f_c_gradientAdvDecPro on ma against EMA(ma, 3), 5 steps) counts: 1 on a cross of its centre, one
// step up (to 5) on each bar that moves away from the centre's side, one step down (to 1) on a bar
// that moves back.
func maLine(ma, center []float64, last int) MALine {
	steps := 0
	for i := 1; i <= last; i++ {
		if isNA(ma[i]) || isNA(center[i]) || isNA(ma[i-1]) {
			continue
		}
		up, down := ma[i] > ma[i-1], ma[i] < ma[i-1]
		switch {
		case ma[i] > center[i]:
			switch {
			case crossover(ma, center, i):
				steps = 1
			case up:
				steps = min(strengthSteps, steps+1)
			case down:
				steps = max(1, steps-1)
			}
		case ma[i] < center[i]:
			switch {
			case crossunder(ma, center, i):
				steps = 1
			case down:
				steps = min(strengthSteps, steps+1)
			case up:
				steps = max(1, steps-1)
			}
		}
	}
	line := MALine{
		Value:    ma[last],
		Rising:   ma[last] > ma[last-1],
		Falling:  ma[last] < ma[last-1],
		Trend:    "neutral",
		Strength: max(steps, 1),
	}
	switch {
	case ma[last] > center[last]:
		line.Trend = "bullish"
	case ma[last] < center[last]:
		line.Trend = "bearish"
	}
	return line
}

// lastCross finds the most recent cross of the HAMA close over the MA line.
func lastCross(hamaClose, ma []float64, candles []market.Candle) Cross {
	last := len(hamaClose) - 1
	c := Cross{Last: CrossNone, UpNow: crossover(hamaClose, ma, last), DownNow: crossunder(hamaClose, ma, last)}
	for i := last; i > 0; i-- {
		dir := ""
		switch {
		case crossover(hamaClose, ma, i):
			dir = CrossUp
		case crossunder(hamaClose, ma, i):
			dir = CrossDown
		default:
			continue
		}
		t := candles[i].CloseTime.UTC()
		bars := last - i
		c.Last, c.LastTime, c.BarsSince = dir, &t, &bars
		break
	}
	return c
}

func bollinger(close []float64, length int, mult float64) Bollinger {
	basis, dev := stdevAt(close, length)
	b := Bollinger{Basis: basis, Upper: basis + mult*dev, Lower: basis - mult*dev}
	b.Width = (b.Upper - b.Lower) / basis
	b.Squeeze = b.Width < squeezeWidth
	b.Expansion = b.Width > expansionWidth
	price := close[len(close)-1]
	b.Position = 0.5
	if span := b.Upper - b.Lower; span > 0 {
		b.Position = (price - b.Lower) / span
	}
	switch {
	case price > b.Upper:
		b.Zone = "above_upper"
	case price < b.Lower:
		b.Zone = "below_lower"
	case price >= basis:
		b.Zone = "upper_half"
	default:
		b.Zone = "lower_half"
	}
	return b
}

func signal(r Result) Signal {
	above := r.HAMA.Close > r.MA.Value
	below := r.HAMA.Close < r.MA.Value
	s := Signal{Summary: "neutral"}
	switch {
	case above && r.HAMA.Color == "green":
		s.Summary = "bullish"
	case below && r.HAMA.Color == "red":
		s.Summary = "bearish"
	}
	var parts []string
	switch {
	case above:
		parts = append(parts, "HAMA close above the MA")
	case below:
		parts = append(parts, "HAMA close below the MA")
	default:
		parts = append(parts, "HAMA close on the MA")
	}
	parts = append(parts, r.HAMA.Color+" HAMA candle")
	switch {
	case r.Cross.UpNow:
		parts = append(parts, "crossed up on this bar")
	case r.Cross.DownNow:
		parts = append(parts, "crossed down on this bar")
	case r.Cross.Last != CrossNone:
		parts = append(parts, fmt.Sprintf("last cross %s %d bars ago", r.Cross.Last, *r.Cross.BarsSince))
	}
	switch {
	case r.Bollinger.Squeeze:
		parts = append(parts, "Bollinger squeeze")
	case r.Bollinger.Expansion:
		parts = append(parts, "Bollinger expansion")
	}
	s.Text = strings.Join(parts, ", ")
	return s
}

// checkFinite guarantees the JSON never carries NaN or Inf (encoding/json would refuse it anyway).
func checkFinite(r Result) error {
	values := [...]float64{r.HAMA.Open, r.HAMA.High, r.HAMA.Low, r.HAMA.Close, r.MA.Value,
		r.Bollinger.Basis, r.Bollinger.Upper, r.Bollinger.Lower, r.Bollinger.Width, r.Bollinger.Position}
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			names := [...]string{"hama.open", "hama.high", "hama.low", "hama.close", "ma.value",
				"bollinger.basis", "bollinger.upper", "bollinger.lower", "bollinger.width", "bollinger.position"}
			return fmt.Errorf("%s is not a finite number (%v)", names[i], v)
		}
	}
	return nil
}
