package klinestream

import (
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/market/binance/binancetest"
)

// BenchmarkDecodeClosed decodes a closed kline as the exchange writes it: the cost each of a
// burst's closes pays before its analysis.
func BenchmarkDecodeClosed(b *testing.B) {
	open := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	msg := binancetest.KlineMessage("BTCUSDT", "1m", binancetest.Candle("BTCUSDT", "1m", open), true, open.Add(time.Minute))
	b.ReportAllocs()
	for b.Loop() {
		if _, kind := decode(msg); kind != KindClosed {
			b.Fatalf("decoded as %s", kind)
		}
	}
}
