package analysis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hama-operator/hama-operator/internal/hama"
)

// ChartBars is how many bars a chart keeps: what a candlestick chart shows at once.
const ChartBars = 200

// Chart is the cached value of hama:series:<SYMBOL>:<TF>: the last bars of one timeframe of a
// symbol, from the analysis that wrote the same timeframe of the document. Its JSON form is the
// series route's answer (docs/api.md).
type Chart struct {
	Symbol          string    `json:"symbol"`
	Timeframe       string    `json:"timeframe"`
	CandleCloseTime time.Time `json:"candle_close_time"`
	ComputedAt      time.Time `json:"computed_at"`
	// ExpiresAt is the expiry of the analysis the chart came with; the key's TTL ends there.
	ExpiresAt time.Time `json:"-"`
	hama.Series
}

// ChartOf is the chart of one timeframe of a fresh document; false when the analysis computed no
// series for it.
func ChartOf(doc Document, tf string) (Chart, bool) {
	s, ok := doc.Series[tf]
	r, analysed := doc.Timeframes[tf]
	if !ok || !analysed {
		return Chart{}, false
	}
	return Chart{Symbol: doc.Symbol, Timeframe: tf, CandleCloseTime: r.CandleCloseTime, ComputedAt: r.ComputedAt,
		ExpiresAt: r.ExpiresAt, Series: s}, true
}

// ChartNewer reports whether chart a is strictly newer than b, by the same rule as Merge for a
// timeframe: the newer candle wins, then the newer computation. A merge keeps a cached chart that
// is newer than the fresh one. It reads the header fields only (DecodeChartHeader's).
func ChartNewer(a, b Chart) bool {
	return newer(hama.Result{CandleCloseTime: a.CandleCloseTime, ComputedAt: a.ComputedAt},
		hama.Result{CandleCloseTime: b.CandleCloseTime, ComputedAt: b.ComputedAt})
}

// chartVersion starts the cached form, so that a later layout can tell an older one apart.
const chartVersion = 1

// EncodeChart is the cached form, a plain binary layout: the version; symbol and timeframe
// (length-prefixed); candle close (unix ms), computed and expiry times (unix ns); the bar count;
// the open times (the first, then the steps, as varints); each of the twelve value columns as
// little-endian float64 bits (NaN as it is); the colours, one bit per bar (1: green); the crosses
// (count, then open time and 1 for up, 0 for down). About 21 KB for 200 bars, half the JSON, and
// tens of microseconds to write or read: gob took half a millisecond per chart.
func EncodeChart(c Chart) ([]byte, error) {
	n := c.Len()
	cols := c.columns()
	for i, col := range cols {
		if len(*col) != n {
			return nil, fmt.Errorf("encoding the chart of %s %s: column %d has %d bars, not %d", c.Symbol, c.Timeframe, i, len(*col), n)
		}
	}
	if len(c.HAMAColor) != n {
		return nil, fmt.Errorf("encoding the chart of %s %s: %d colours for %d bars", c.Symbol, c.Timeframe, len(c.HAMAColor), n)
	}
	b := make([]byte, 0, 64+len(c.Symbol)+len(c.Timeframe)+n*(3+8*len(cols))+len(c.Crosses)*8)
	b = append(b, chartVersion)
	for _, s := range []string{c.Symbol, c.Timeframe} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, c.CandleCloseTime.UnixMilli())
	b = binary.AppendVarint(b, c.ComputedAt.UnixNano())
	b = binary.AppendVarint(b, c.ExpiresAt.UnixNano())
	b = binary.AppendUvarint(b, uint64(n))
	var prev int64
	for _, t := range c.Time {
		b = binary.AppendVarint(b, t-prev)
		prev = t
	}
	for _, col := range cols {
		for _, v := range *col {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	colours := make([]byte, (n+7)/8)
	for i, colour := range c.HAMAColor {
		if colour == "green" {
			colours[i/8] |= 1 << (i % 8)
		}
	}
	b = append(b, colours...)
	b = binary.AppendUvarint(b, uint64(len(c.Crosses)))
	for _, x := range c.Crosses {
		b = binary.AppendVarint(b, x.Time)
		up := byte(0)
		if x.Direction == hama.CrossUp {
			up = 1
		}
		b = append(b, up)
	}
	return b, nil
}

// columns are the value columns in their cached order, for EncodeChart and DecodeChart both.
func (c *Chart) columns() []*hama.Column {
	return []*hama.Column{&c.Open, &c.High, &c.Low, &c.Close, &c.HAMAOpen, &c.HAMAHigh, &c.HAMALow, &c.HAMAClose,
		&c.MA, &c.BBBasis, &c.BBUpper, &c.BBLower}
}

// DecodeChartHeader reads what precedes the bars of a cached chart: symbol, timeframe and times,
// all ChartNewer needs, without decoding the bars.
func DecodeChartHeader(b []byte) (Chart, error) {
	r := chartReader{b: b}
	c, err := r.header()
	if err != nil {
		return Chart{}, fmt.Errorf("decoding a cached chart: %w", err)
	}
	return c, nil
}

// ChartHeaderLen bounds the length of the header DecodeChartHeader reads from a chart of symbol
// and timeframe, so that a merge can read no more of a cached chart than that.
func ChartHeaderLen(symbol, timeframe string) int {
	return 1 + 2*binary.MaxVarintLen64 + len(symbol) + len(timeframe) + 3*binary.MaxVarintLen64
}

func (r *chartReader) header() (Chart, error) {
	if v := r.take(1); r.err == nil && v[0] != chartVersion {
		return Chart{}, fmt.Errorf("layout version %d, want %d", v[0], chartVersion)
	}
	var c Chart
	c.Symbol = string(r.take(int(r.uvarint())))
	c.Timeframe = string(r.take(int(r.uvarint())))
	c.CandleCloseTime = time.UnixMilli(r.varint()).UTC()
	c.ComputedAt = time.Unix(0, r.varint()).UTC()
	c.ExpiresAt = time.Unix(0, r.varint()).UTC()
	return c, r.err
}

// DecodeChart reads a cached chart.
func DecodeChart(b []byte) (Chart, error) {
	r := chartReader{b: b}
	c, err := r.header()
	if err != nil {
		return Chart{}, fmt.Errorf("decoding a cached chart: %w", err)
	}
	n := int(r.uvarint())
	if r.err == nil && (n < 0 || n > len(r.b)/(8*12)) { // each bar needs at least its twelve values
		r.err = errors.New("more bars than bytes")
	}
	if r.err != nil {
		return Chart{}, fmt.Errorf("decoding a cached chart: %w", r.err)
	}
	c.Time = make([]int64, n)
	var t int64
	for i := range c.Time {
		t += r.varint()
		c.Time[i] = t
	}
	for _, col := range c.columns() {
		raw := r.take(8 * n)
		*col = make(hama.Column, n)
		for i := range *col {
			if r.err == nil {
				(*col)[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		}
	}
	c.HAMAColor = r.colours(n)
	c.Crosses = r.crosses()
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the chart", len(r.b))
	}
	if r.err != nil {
		return Chart{}, fmt.Errorf("decoding a cached chart: %w", r.err)
	}
	return c, nil
}

// colours reads n colours, one bit each.
func (r *chartReader) colours(n int) []string {
	bits := r.take((n + 7) / 8)
	out := make([]string, n)
	for i := range out {
		out[i] = "red"
		if r.err == nil && bits[i/8]&(1<<(i%8)) != 0 {
			out[i] = "green"
		}
	}
	return out
}

// crosses reads the count, then each cross's open time and direction.
func (r *chartReader) crosses() []hama.BarCross {
	n := int(r.uvarint())
	if r.err == nil && (n < 0 || n > len(r.b)/2) {
		r.err = errors.New("more crosses than bytes")
	}
	out := []hama.BarCross{}
	for i := 0; i < n && r.err == nil; i++ {
		x := hama.BarCross{Time: r.varint(), Direction: hama.CrossDown}
		if d := r.take(1); r.err == nil && d[0] == 1 {
			x.Direction = hama.CrossUp
		}
		out = append(out, x)
	}
	return out
}

// chartReader reads the cached form; the first error sticks and later reads return zeros.
type chartReader struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated")

func (r *chartReader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		if r.err == nil {
			r.err = errTruncated
		}
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *chartReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err = errTruncated
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *chartReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Varint(r.b)
	if k <= 0 {
		r.err = errTruncated
		return 0
	}
	r.b = r.b[k:]
	return v
}
