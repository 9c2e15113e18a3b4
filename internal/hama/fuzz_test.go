package hama

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/market"
)

// FuzzAnalyze feeds arbitrary prices and lengths to the engine: it must return an error or a result
// whose JSON encodes (so no NaN or Inf), and never panic.
func FuzzAnalyze(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\xf0\x3f"), uint16(450), uint8(3))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xef\x7f\x01\x00\x00\x00\x00\x00\x00\x00"), uint16(401), uint8(1))
	f.Fuzz(func(t *testing.T, seed []byte, count uint16, maLen uint8) {
		n := int(count) % 1200
		candles := make([]market.Candle, n)
		price := 100.0
		for i := range candles {
			var step float64
			if len(seed) >= 8 {
				off := (i * 8) % (len(seed) - 7)
				step = math.Float64frombits(binary.LittleEndian.Uint64(seed[off:]))
			}
			o := price
			c := price * (1 + math.Mod(step, 0.05))
			candles[i] = market.Candle{
				OpenTime: time.UnixMilli(int64(i) * 60000), CloseTime: time.UnixMilli(int64(i+1)*60000 - 1),
				Open: o, High: math.Max(o, c) * 1.001, Low: math.Min(o, c) * 0.999, Close: c, Volume: 1,
			}
			price = c
		}
		p := DefaultParams()
		p.MALength = int(maLen)%120 + 1
		r, err := Analyze(candles, p)
		if err != nil {
			return
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("result does not encode: %v", err)
		}
	})
}
