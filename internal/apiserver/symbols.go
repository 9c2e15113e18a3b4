package apiserver

import (
	"net/http"
	"strings"

	"github.com/hama-operator/hama-operator/internal/market"
)

// maxScheduleSymbols is the AnalysisSchedule CRD's bound on spec.symbols.
const maxScheduleSymbols = 1000

// symbolChars reports whether s matches ^[A-Z0-9]*$ (a loop: this runs on every request).
func symbolChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// validateSymbol is /api/v1's rule, the CRD's pattern ^[A-Z0-9]{2,30}$: nothing is converted.
func validateSymbol(s string) error {
	switch {
	case s == "":
		return errorf(http.StatusBadRequest, "symbol is required, like BTCUSDT")
	case len(s) > 30:
		return errorf(http.StatusBadRequest, "symbol %.40q is longer than 30 characters", s)
	case len(s) >= 2 && symbolChars(strings.ToUpper(s)) && !symbolChars(s):
		return errorf(http.StatusBadRequest, "symbol %q must be uppercase, like %s; it is not converted for you", s, strings.ToUpper(s))
	case len(s) < 2 || !symbolChars(s):
		return errorf(http.StatusBadRequest, "symbol %q must be 2 to 30 letters or digits, like BTCUSDT", s)
	}
	return nil
}

// validateTimeframe accepts one of market.Intervals, or "" where a call need not name one.
func validateTimeframe(tf string) error {
	if tf != "" && !market.ValidInterval(tf) {
		return errorf(http.StatusBadRequest, "timeframe %q is not one of %s", tf, strings.Join(market.Intervals, ", "))
	}
	return nil
}

// legacySymbol reads a symbol as the original service did: it trimmed and uppercased it, and its
// exchange library also took the unified "BASE/QUOTE" form (optionally ":SETTLE" for futures), which
// names the same market as BASEQUOTE. Anything else must then pass validateSymbol.
func legacySymbol(raw string) (string, error) {
	s := strings.ToUpper(strings.TrimSpace(raw))
	if base, quote, ok := strings.Cut(s, "/"); ok && base != "" && quote != "" {
		quote, _, _ = strings.Cut(quote, ":")
		s = base + quote
	}
	switch {
	case s == "":
		return "", errorf(http.StatusBadRequest, "symbol is required, like BTCUSDT or btc/usdt")
	case len(s) > 30:
		return "", errorf(http.StatusBadRequest, "symbol %.40q is longer than 30 characters", raw)
	case len(s) < 2 || !symbolChars(s):
		return "", errorf(http.StatusBadRequest,
			"symbol %.40q must be 2 to 30 letters or digits, like BTCUSDT, or BASE/QUOTE, like BTC/USDT", raw)
	}
	return s, nil
}
