package gainers

import (
	"slices"
	"testing"

	"github.com/hama-operator/hama-operator/internal/market"
)

func tk(symbol string, change, quoteVolume float64) market.Ticker {
	return market.Ticker{Symbol: symbol, PriceChangePercent: change, QuoteVolume: quoteVolume, LastPrice: 1, Trades: 1}
}

var symbols = Symbols

func TestTopFiltersAndSortsAsTheOriginalDidPlusLeveragedTokens(t *testing.T) {
	tickers := []market.Ticker{
		tk("BTCUSDT", 2.5, 1e9),
		tk("ETHUSDT", 7.25, 5e8),
		tk("ETHBTC", 40, 1e6),         // another quote asset
		tk("BTCUPUSDT", 9, 1e6),       // leveraged: BTCUSDT is listed
		tk("BTCDOWNUSDT", 8, 1e6),     // leveraged
		tk("XRPBULLUSDT", 30, 1e6),    // not leveraged here: XRPUSDT is not listed in this ticker
		tk("JUPUSDT", 6, 2e6),         // ends in UP, but no JUSDT: a real token
		tk("SYRUPUSDT", 6, 3e6),       // ends in UP, no SYRUSDT
		tk("LUNAUSDT", 0, 0),          // no trades in 24 hours
		tk("USDT", 99, 1e9),           // no base asset
		tk("BTCUSDT_250926", 50, 1e9), // a delivery contract
		tk("DOGEUSDT", -3, 4e8),       // a loser still ranks, last
		tk("PEPEUSDT", 7.25, 9e8),     // ties ETHUSDT on change, more volume
		tk("TINYUSDT", 12, 5_000),     // little volume
		tk("BNBUSDT", 7.25, 9e8),      // ties PEPEUSDT on both: by symbol
	}
	got := symbols(Top(tickers, Query{Limit: 100, QuoteAsset: "usdt"}))
	want := []string{"XRPBULLUSDT", "TINYUSDT", "BNBUSDT", "PEPEUSDT", "ETHUSDT", "SYRUPUSDT", "JUPUSDT", "BTCUSDT", "DOGEUSDT"}
	if !slices.Equal(got, want) {
		t.Fatalf("Top = %v\nwant  %v", got, want)
	}
	got = symbols(Top(tickers, Query{Limit: 3, QuoteAsset: "USDT", MinQuoteVolume: 1e6}))
	if want := []string{"XRPBULLUSDT", "BNBUSDT", "PEPEUSDT"}; !slices.Equal(got, want) {
		t.Fatalf("Top with limit 3 and 1M volume = %v, want %v", got, want)
	}
	if got := symbols(Top(tickers, Query{Limit: 5, QuoteAsset: "BTC"})); !slices.Equal(got, []string{"ETHBTC"}) {
		t.Fatalf("BTC pairs = %v", got)
	}
	if got := Top(tickers, Query{Limit: 0, QuoteAsset: "USDT"}); len(got) != 0 {
		t.Fatalf("limit 0 returned %v", symbols(got))
	}
	if BaseAsset("BTCUSDT", "usdt") != "BTC" {
		t.Fatal("BaseAsset(BTCUSDT) is not BTC")
	}
}
