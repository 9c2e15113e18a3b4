package analysis

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/market/binance"
	"github.com/hama-operator/hama-operator/internal/testenv"
)

// Every real series of the shared data set analyses to finite, self-consistent values, including
// XLMBTC's prices near 3e-5.
func TestRealKlinesAnalyse(t *testing.T) {
	for _, f := range testenv.KlinesFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			candles, err := binance.DecodeKlines(body)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{450, 1000} {
				if len(candles) < n {
					continue
				}
				r, err := hama.Analyze(candles[len(candles)-n:], hama.DefaultParams())
				if err != nil {
					t.Fatal(err)
				}
				b := r.Bollinger
				if !(b.Lower <= b.Basis && b.Basis <= b.Upper) || b.Width < 0 || math.IsNaN(r.HAMA.Close) ||
					r.MA.Strength < 1 || r.MA.Strength > 5 || r.HAMA.Low > r.HAMA.High*1.5 {
					t.Fatalf("inconsistent result on %d candles: %+v", n, r)
				}
				price := candles[len(candles)-1].Close
				if want := (price - b.Lower) / (b.Upper - b.Lower); math.Abs(b.Position-want) > 1e-9 {
					t.Fatalf("position %v, want %v", b.Position, want)
				}
				if rel := math.Abs(r.MA.Value-price) / price; rel > 0.5 {
					t.Fatalf("MA %v is far from the price %v: precision lost?", r.MA.Value, price)
				}
			}
		})
	}
}
