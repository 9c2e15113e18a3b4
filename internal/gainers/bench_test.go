package gainers

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/market"
)

// spotSized is a ticker the size of Binance spot's: about 3000 symbols over four quote assets.
func spotSized() Snapshot {
	snap := Snapshot{Exchange: "binance", FetchedAt: time.Now()}
	for i := range 3000 {
		quote := []string{"USDT", "BTC", "FDUSD", "TRY"}[i%4]
		snap.Tickers = append(snap.Tickers, market.Ticker{Symbol: fmt.Sprintf("C%dX%s", i, quote),
			PriceChangePercent: float64(i%200) - 100, LastPrice: 1.2345, HighPrice: 1.3, LowPrice: 1.1,
			Volume: 123456.78, QuoteVolume: float64(i+1) * 1000, OpenTime: time.Now(), CloseTime: time.Now(), Trades: 99})
	}
	return snap
}

// BenchmarkDecodeCachedSpotTicker is what a replica pays once per fresh period (30 s) to read a
// ticker another replica stored.
func BenchmarkDecodeCachedSpotTicker(b *testing.B) {
	raw, err := json.Marshal(spotSized())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		var s Snapshot
		if err := json.Unmarshal(raw, &s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRankSpotTicker is what every top-gainers call pays to rank the decoded ticker.
func BenchmarkRankSpotTicker(b *testing.B) {
	snap := spotSized()
	for b.Loop() {
		if top := Top(snap.Tickers, Query{Limit: 20, QuoteAsset: "USDT"}); len(top) != 20 {
			b.Fatalf("%d gainers", len(top))
		}
	}
}
