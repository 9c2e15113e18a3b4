package hama

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/hama-operator/hama-operator/internal/market"
)

// Series is the last bars of an analysis for charts, oldest first, one column per value. Its last
// bar is the bar of the Result it came with. Its JSON form is the chart's (docs/api.md).
type Series struct {
	// Time is each candle's open time in unix seconds.
	Time  []int64 `json:"time"`
	Open  Column  `json:"open"`
	High  Column  `json:"high"`
	Low   Column  `json:"low"`
	Close Column  `json:"close"`

	HAMAOpen  Column `json:"hama_open"`
	HAMAHigh  Column `json:"hama_high"`
	HAMALow   Column `json:"hama_low"`
	HAMAClose Column `json:"hama_close"`
	// HAMAColor is "green" or "red" per bar, as Candle.Color.
	HAMAColor []string `json:"hama_color"`

	MA      Column `json:"ma"`
	BBBasis Column `json:"bb_basis"`
	BBUpper Column `json:"bb_upper"`
	BBLower Column `json:"bb_lower"`

	// Crosses are the crosses of the HAMA close over the MA line within these bars.
	Crosses []BarCross `json:"crosses"`
}

// BarCross is a cross on one bar of a Series.
type BarCross struct {
	// Time is the bar's open time in unix seconds.
	Time int64 `json:"time"`
	// Direction is CrossUp or CrossDown.
	Direction string `json:"direction"`
}

// Len is the number of bars.
func (s Series) Len() int { return len(s.Time) }

// Last is the last n bars of s (all of them when it has fewer), sharing its arrays.
func (s Series) Last(n int) Series {
	from := max(s.Len()-n, 0)
	out := Series{
		Time: s.Time[from:], Open: s.Open[from:], High: s.High[from:], Low: s.Low[from:], Close: s.Close[from:],
		HAMAOpen: s.HAMAOpen[from:], HAMAHigh: s.HAMAHigh[from:], HAMALow: s.HAMALow[from:],
		HAMAClose: s.HAMAClose[from:], HAMAColor: s.HAMAColor[from:],
		MA: s.MA[from:], BBBasis: s.BBBasis[from:], BBUpper: s.BBUpper[from:], BBLower: s.BBLower[from:],
		Crosses: []BarCross{},
	}
	for _, c := range s.Crosses {
		if len(out.Time) > 0 && c.Time >= out.Time[0] {
			out.Crosses = append(out.Crosses, c)
		}
	}
	return out
}

// lastBars copies the last bars of an analysis's series out of its pooled buffers and adds the
// Bollinger Bands of each bar.
func lastBars(s *series, candles []market.Candle, p Params, bars int) Series {
	n := len(candles)
	from := max(n-bars, 0)
	k := n - from
	// One allocation for the twelve value columns: a burst of closes makes thousands of charts.
	values := make([]float64, 12*k)
	col := func() Column {
		c := Column(values[:k:k])
		values = values[k:]
		return c
	}
	out := Series{
		Time: make([]int64, k), Open: col(), High: col(), Low: col(), Close: col(),
		HAMAOpen: col(), HAMAHigh: col(), HAMALow: col(), HAMAClose: col(), HAMAColor: make([]string, k),
		MA: col(), BBBasis: col(), BBUpper: col(), BBLower: col(), Crosses: []BarCross{},
	}
	for j, i := 0, from; i < n; j, i = j+1, i+1 {
		c := candles[i]
		out.Time[j] = c.OpenTime.Unix()
		out.Open[j], out.High[j], out.Low[j], out.Close[j] = c.Open, c.High, c.Low, c.Close
		out.HAMAOpen[j], out.HAMAHigh[j], out.HAMALow[j], out.HAMAClose[j] = s.open[i], s.high[i], s.low[i], s.hamaClose[i]
		out.HAMAColor[j] = colour(s.open, i)
		out.MA[j] = s.ma[i]
		switch {
		case crossover(s.hamaClose, s.ma, i):
			out.Crosses = append(out.Crosses, BarCross{Time: out.Time[j], Direction: CrossUp})
		case crossunder(s.hamaClose, s.ma, i):
			out.Crosses = append(out.Crosses, BarCross{Time: out.Time[j], Direction: CrossDown})
		}
	}
	bands(s.close, from, p, out.BBBasis, out.BBUpper, out.BBLower)
	return out
}

// bands writes the Bollinger Bands of bars from..len(close)-1 into basis, upper and lower: ta.stdev
// two-pass at the first bar whose window is full, then the window slides in O(1) per bar, updating
// the mean and the sum of squared deviations for the value that enters and the one that leaves
// (close holds no na). Over a few hundred bars the two methods agree to about 1e-12.
func bands(close []float64, from int, p Params, basis, upper, lower Column) {
	n := p.BollingerLength
	var mean, m2 float64
	for j, i := 0, from; i < len(close); j, i = j+1, i+1 {
		switch {
		case i < n-1:
			basis[j], upper[j], lower[j] = na, na, na
			continue
		case j == 0 || i == n-1:
			var dev float64
			mean, dev = stdevAt(close[:i+1], n)
			m2 = dev * dev * float64(n)
		default:
			in, out := close[i], close[i-n]
			next := mean + (in-out)/float64(n)
			m2 += (in - out) * (in - next + out - mean)
			mean = next
		}
		dev := math.Sqrt(max(m2, 0) / float64(n))
		basis[j], upper[j], lower[j] = mean, mean+p.BollingerMultiplier*dev, mean-p.BollingerMultiplier*dev
	}
}

// Column is one value per bar; na (NaN) is null in its JSON.
type Column []float64

// MarshalJSON writes the numbers as encoding/json does, na and infinities as null.
func (c Column) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(c)*18)
	b = append(b, '[')
	for i, v := range c {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
			continue
		}
		format := byte('f')
		if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
			format = 'e'
		}
		b = strconv.AppendFloat(b, v, format, -1, 64)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads null as na.
func (c *Column) UnmarshalJSON(b []byte) error {
	var values []*float64
	if err := json.Unmarshal(b, &values); err != nil {
		return err
	}
	*c = make(Column, len(values))
	for i, v := range values {
		(*c)[i] = na
		if v != nil {
			(*c)[i] = *v
		}
	}
	return nil
}
