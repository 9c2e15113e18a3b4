package simulated

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hama-operator/hama-operator/internal/market"
)

var now = time.Date(2026, 11, 22, 12, 7, 30, 0, time.UTC)

func klines(t *testing.T, s *Source, symbol, interval string, limit int) []market.Candle {
	t.Helper()
	c, err := s.Klines(context.Background(), symbol, interval, limit)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeterministicAndOverlappingWindowsAgree(t *testing.T) {
	s := New(WithClock(clocktesting.NewFakePassiveClock(now)))
	a := klines(t, s, "BTCUSDT", "5m", 500)
	b := klines(t, s, "BTCUSDT", "5m", 500)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("candle %d differs between two identical calls", i)
		}
	}
	later := New(WithClock(clocktesting.NewFakePassiveClock(now.Add(10 * time.Minute))))
	c := klines(t, later, "BTCUSDT", "5m", 500)
	if c[497] != a[499] { // two candles later, the same open time holds the same candle
		t.Fatalf("the same candle differs across windows: %+v vs %+v", c[497], a[499])
	}
}

func TestCandlesAreConsistentOnTheGrid(t *testing.T) {
	s := New(WithClock(clocktesting.NewFakePassiveClock(now)))
	for _, symbol := range []string{"BTCUSDT", "ETHBTC", "XLMBTC", "DOGEUSDT", "A1"} {
		for _, interval := range market.Intervals {
			candles := klines(t, s, symbol, interval, 1000)
			if len(candles) != 1000 {
				t.Fatalf("%s %s: %d candles, want 1000", symbol, interval, len(candles))
			}
			for i, c := range candles {
				if !(c.Low > 0 && c.Low <= c.Open && c.Low <= c.Close && c.High >= c.Open && c.High >= c.Close && c.Volume > 0) {
					t.Fatalf("%s %s candle %d inconsistent: %+v", symbol, interval, i, c)
				}
				if i > 0 && (!c.OpenTime.After(candles[i-1].OpenTime) || c.Open != candles[i-1].Close) {
					t.Fatalf("%s %s candle %d does not follow the previous one", symbol, interval, i)
				}
			}
			last := candles[len(candles)-1]
			if !last.CloseTime.Before(now) {
				t.Fatalf("%s %s: the last candle closes at %s, after now", symbol, interval, last.CloseTime)
			}
		}
	}
	m5 := klines(t, s, "BTCUSDT", "5m", 1)[0]
	if want := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC); !m5.OpenTime.Equal(want) || m5.CloseTime != want.Add(5*time.Minute-time.Millisecond) {
		t.Fatalf("last closed 5m candle opens at %s, want %s", m5.OpenTime, want)
	}
}

func TestSymbolsDiffer(t *testing.T) {
	s := New(WithClock(clocktesting.NewFakePassiveClock(now)))
	if klines(t, s, "BTCUSDT", "1h", 1)[0].Close == klines(t, s, "ETHUSDT", "1h", 1)[0].Close {
		t.Fatal("two symbols share a price")
	}
}

func TestUnknownIntervalIsRefused(t *testing.T) {
	if _, err := New().Klines(context.Background(), "BTCUSDT", "2m", 10); market.Reason(err) != market.ReasonInvalidRequest {
		t.Fatalf("err = %v, want an InvalidRequest error", err)
	}
}

func TestTickersAgreeWithTheHourlyCandles(t *testing.T) {
	s := New(WithClock(clocktesting.NewFakePassiveClock(now)))
	a, err := s.Tickers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Tickers(context.Background())
	if len(a) != len(Symbols) || len(b) != len(a) {
		t.Fatalf("%d tickers, want one per listed symbol (%d)", len(a), len(Symbols))
	}
	var rising, falling int
	for i, tk := range a {
		if tk != b[i] {
			t.Fatalf("ticker %s differs between two identical calls", tk.Symbol)
		}
		if tk.Symbol == DelistedSymbol {
			if tk.Trades != 0 || tk.QuoteVolume != 0 || tk.PriceChangePercent != 0 {
				t.Fatalf("the delisted pair trades: %+v", tk)
			}
			continue
		}
		hourly := klines(t, s, tk.Symbol, "1h", 24)
		if tk.LastPrice != hourly[23].Close || !tk.OpenTime.Equal(hourly[0].OpenTime) ||
			tk.LowPrice > tk.LastPrice || tk.HighPrice < tk.LastPrice || tk.QuoteVolume <= 0 || tk.Trades <= 0 {
			t.Fatalf("ticker %+v does not match its hourly candles", tk)
		}
		want := (hourly[23].Close/hourly[0].Open - 1) * 100
		if d := tk.PriceChangePercent - want; d > 0.001 || d < -0.001 {
			t.Fatalf("%s change %.3f%%, candles say %.3f%%", tk.Symbol, tk.PriceChangePercent, want)
		}
		if tk.PriceChangePercent > 0 {
			rising++
		} else {
			falling++
		}
	}
	if rising == 0 || falling == 0 {
		t.Fatalf("%d rising and %d falling symbols: a gainers list needs both", rising, falling)
	}
}
