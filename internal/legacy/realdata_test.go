package legacy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/market/binance"
	"github.com/hama-operator/hama-operator/internal/testenv"
)

// On every real series of the shared data set, each field of the view is in the original's value
// set and the view encodes.
func TestRealKlinesGiveValuesInTheOriginalsSets(t *testing.T) {
	for _, file := range testenv.KlinesFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			candles, err := binance.DecodeKlines(body)
			if err != nil {
				t.Fatal(err)
			}
			for end := 450; end <= len(candles); end += 97 {
				r, err := hama.Analyze(candles[end-450:end], hama.DefaultParams())
				if err != nil {
					t.Fatal(err)
				}
				r.ComputedAt = time.Now()
				v, _ := Of("X", map[string]hama.Result{"15m": r})
				if _, err := json.Marshal(v); err != nil {
					t.Fatal(err)
				}
				a, ti := v.HAMAAnalysis, v.HAMAAnalysis.TechnicalIndicators
				if !slices.Contains([]string{Uptrend, Downtrend, Sideways}, a.Trend) ||
					!slices.Contains([]string{Buy, Sell, Hold}, a.Recommendation) ||
					a.Confidence < 0.3 || a.Confidence > 1 ||
					!slices.Contains([]string{"bullish", "bearish", "neutral"}, ti.MACD) ||
					ti.RSI < 0 || ti.RSI > 100 || ti.SupportLevel > ti.ResistanceLevel || ti.SupportLevel <= 0 ||
					!slices.Contains([]string{"strong", "moderate", "weak"}, a.Signals.TrendStrength) ||
					!slices.Contains([]string{"上涨趋势", "下跌趋势", "盘整"}, ti.HAMAStatus) ||
					!slices.Contains([]string{hama.PatternBullishEngulfing, hama.PatternBearishEngulfing, hama.PatternDoji,
						hama.PatternHammer, hama.PatternShootingStar, hama.PatternNone}, a.CandlePattern) {
					t.Fatalf("candles %d..%d: a value outside the original's set: %+v", end-450, end, v)
				}
			}
		})
	}
}
