// Package gainers ranks a market's symbols by their 24-hour price change. The exchange's ticker of
// all symbols is one expensive call, so a Board keeps each market's ticker in the shared cache for a
// short while: page loads, schedules and replicas within that window cost no exchange call.
package gainers

import (
	"cmp"
	"slices"
	"strings"

	"github.com/hama-operator/hama-operator/internal/market"
)

// Query selects the gainers of a market.
type Query struct {
	// Limit is how many symbols to return, the biggest gainers first.
	Limit int
	// QuoteAsset keeps the pairs quoted in it, such as USDT.
	QuoteAsset string
	// MinQuoteVolume drops pairs that traded less than this, in the quote asset, over 24 hours.
	MinQuoteVolume float64
}

// leveragedSuffixes name Binance's leveraged tokens: BTCUP and BTCDOWN move 3x BTC, XRPBULL and
// XRPBEAR likewise. Their 24-hour change is the underlying's, multiplied.
var leveragedSuffixes = []string{"UP", "DOWN", "BULL", "BEAR"}

// Top returns the tickers q selects, sorted by 24-hour price change (biggest first; ties by quote
// volume, then symbol, so the order is stable). It keeps the pairs quoted in q.QuoteAsset, as the
// original service kept the USDT pairs, and drops leveraged tokens, pairs that did not trade, and
// symbols the rest of the operator cannot name (2 to 30 uppercase letters or digits).
func Top(tickers []market.Ticker, q Query) []market.Ticker {
	quote := strings.ToUpper(q.QuoteAsset)
	listed := make(map[string]bool, len(tickers))
	for _, t := range tickers {
		listed[t.Symbol] = true
	}
	var out []market.Ticker
	for _, t := range tickers {
		base, ok := strings.CutSuffix(t.Symbol, quote)
		tooSmall := t.QuoteVolume <= 0 || t.QuoteVolume < q.MinQuoteVolume
		if !ok || base == "" || !plainSymbol(t.Symbol) || tooSmall || leveraged(base, quote, listed) {
			continue
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b market.Ticker) int {
		return cmp.Or(cmp.Compare(b.PriceChangePercent, a.PriceChangePercent),
			cmp.Compare(b.QuoteVolume, a.QuoteVolume), cmp.Compare(a.Symbol, b.Symbol))
	})
	return out[:min(len(out), max(q.Limit, 0))]
}

// leveraged reports whether base is a leveraged token: a listed base asset with a leveraged suffix
// (BTCUP next to BTCUSDT). A name that merely ends in UP, such as JUP or SYRUP, has no such twin.
func leveraged(base, quote string, listed map[string]bool) bool {
	for _, suffix := range leveragedSuffixes {
		if underlying, ok := strings.CutSuffix(base, suffix); ok && underlying != "" && listed[underlying+quote] {
			return true
		}
	}
	return false
}

// Symbols are the tickers' symbols, in order.
func Symbols(tickers []market.Ticker) []string {
	out := make([]string, len(tickers))
	for i, t := range tickers {
		out[i] = t.Symbol
	}
	return out
}

// BaseAsset is symbol without its quote asset: BTC for BTCUSDT.
func BaseAsset(symbol, quoteAsset string) string {
	return strings.TrimSuffix(symbol, strings.ToUpper(quoteAsset))
}

// plainSymbol matches ^[A-Z0-9]{2,30}$, the symbols AnalysisSchedules and the REST API accept.
func plainSymbol(s string) bool {
	if len(s) < 2 || len(s) > 30 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
