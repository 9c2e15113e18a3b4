package live

import (
	"slices"
	"sync"
	"time"

	"github.com/hama-operator/hama-operator/internal/market"
)

// bar is a closed candle as a series keeps it: unix-millisecond times and no pointers. It takes 56
// bytes where a market.Candle, with two time.Time, takes 88, and the garbage collector never scans
// it: 5000 series of 500 candles are 140 MB the collector skips instead of 220 MB it walks.
type bar struct {
	openMs, closeMs                int64
	open, high, low, close, volume float64
}

func barOf(c market.Candle) bar {
	return bar{openMs: c.OpenTime.UnixMilli(), closeMs: c.CloseTime.UnixMilli(),
		open: c.Open, high: c.High, low: c.Low, close: c.Close, volume: c.Volume}
}

func (b bar) openTime() time.Time { return time.UnixMilli(b.openMs).UTC() }

// candleBuffers lend the analysis its candles; release gives them back once it is done.
var candleBuffers = sync.Pool{New: func() any { return new([]market.Candle) }}

// candlesOf is bars as candles, in a slice from the pool: release it after the analysis. Each
// candle is filled in place: a burst converts millions, and appending struct literals took twice
// as long.
func candlesOf(bars []bar) []market.Candle {
	buf := candleBuffers.Get().(*[]market.Candle)
	out := slices.Grow((*buf)[:0], len(bars))[:len(bars)]
	for i := range bars {
		b, c := &bars[i], &out[i]
		c.OpenTime, c.CloseTime = b.openTime(), time.UnixMilli(b.closeMs).UTC()
		c.Open, c.High, c.Low, c.Close, c.Volume = b.open, b.high, b.low, b.close, b.volume
	}
	return out
}

func release(candles []market.Candle) {
	candles = candles[:0]
	candleBuffers.Put(&candles)
}
