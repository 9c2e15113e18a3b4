package apiserver

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"testing"
)

// The original service trimmed and uppercased symbols, took its exchange library's BASE/QUOTE form
// and ignored fields it did not know; its clients rely on all three.
func TestLegacyRoutesTakeSymbolsAsTheOriginalDid(t *testing.T) {
	f := newFixture(t, withoutRedis())
	for sent, want := range map[string]string{" ethusdt ": "ETHUSDT", "btc/usdt": "BTCUSDT", "SOL/USDT:USDT": "SOLUSDT"} {
		var got struct {
			symbolData
			RequestedSymbol string `json:"requested_symbol"`
		}
		f.post(analyzeSymbolPath, "", map[string]any{"symbol": sent, "unknown": [3]int{}}).wantOK(t, &got)
		if got.Symbol != want || got.RequestedSymbol != sent {
			t.Errorf("%q answered symbol %q requested_symbol %q, want %q and %q", sent, got.Symbol, got.RequestedSymbol, want, sent)
		}
	}
	r := f.post(analyzeSymbolPath, "", `{"symbol":"ETHUSDT"}`)
	r.wantOK(t, nil)
	if json.Valid(r.env.Data) && regexp.MustCompile(`"requested_symbol"`).Match(r.env.Data) {
		t.Error("a symbol sent as answered must not carry requested_symbol")
	}
	if n := f.analyzer.count("ETHUSDT"); n != 1 {
		t.Errorf("ETHUSDT analysed %d times, want once: \" ethusdt \" and ETHUSDT are one key", n)
	}
}

func TestMarketChoosesTheExchangeOfAComputation(t *testing.T) {
	f := newFixture(t, withoutRedis())
	f.post(analyzeSymbolPath, "", `{"symbol":"AUSDT","market":"spot"}`).wantOK(t, nil)
	f.post(analyzeSymbolPath, "", `{"symbol":"BUSDT","market":" Futures"}`).wantOK(t, nil)
	f.post(analyzeSymbolPath, "", `{"symbol":"CUSDT"}`).wantOK(t, nil)
	f.post("/api/gainer-analysis/analyze-batch", "", `{"symbols":["DUSDT"],"market":"futures"}`).wantOK(t, nil)
	f.analyzer.mu.Lock()
	defer f.analyzer.mu.Unlock()
	if want := []string{"binance", "binance-futures", "", "binance-futures"}; !slices.Equal(f.analyzer.exchanges, want) {
		t.Errorf("exchanges asked for = %q, want %q", f.analyzer.exchanges, want)
	}
}

// Every symbol a refusal suggests must itself be accepted by the route that refused (it once said
// "must be uppercase, like BTC/USDT" for btc/usdt).
func TestRefusedSymbolsAreShownValidExamples(t *testing.T) {
	like := regexp.MustCompile(`like ([^ ,;]+)`)
	inputs := []string{"btc/usdt", "btc-usdt", "BTC USDT", "b", "/", "btcusdt", "ÄBC", "BTC/USDT/X", "x/", "a\x00b"}
	for _, rule := range []struct {
		name     string
		validate func(string) error
	}{
		{"legacy", func(s string) error { _, err := legacySymbol(s); return err }},
		{"/api/v1", validateSymbol},
	} {
		for _, in := range inputs {
			err := rule.validate(in)
			if err == nil {
				continue
			}
			for _, m := range like.FindAllStringSubmatch(err.Error(), -1) {
				if rule.validate(m[1]) != nil {
					t.Errorf("%s: %q is refused with %q, whose example %q is refused too", rule.name, in, err, m[1])
				}
			}
		}
	}
	if _, err := legacySymbol("btc/usdt"); err != nil {
		t.Errorf("legacy routes refuse btc/usdt: %v", err)
	}
}

func TestBatchAnswersEachSymbolAndRefusesOnlyAnUnusableRequest(t *testing.T) {
	f := newFixture(t, withoutRedis())
	var got struct {
		Results map[string]map[string]any `json:"results"`
		Errors  []batchError              `json:"errors"`
		Summary batchSummary              `json:"summary"`
	}
	f.post("/api/gainer-analysis/analyze-batch", "", map[string]any{
		"symbols": []string{"btcusdt", "BTCUSDT", "eth-usdt", "NOPEUSDT", "sol/usdt"}, "market": "spot",
	}).wantOK(t, &got)
	if want := (batchSummary{Total: 4, Success: 2, Failed: 2}); got.Summary != want {
		t.Errorf("summary = %+v, want %+v (btcusdt and BTCUSDT are one symbol)", got.Summary, want)
	}
	if got.Results["BTCUSDT"]["symbol"] != "BTCUSDT" || got.Results["SOLUSDT"]["requested_symbol"] != "sol/usdt" {
		t.Errorf("results = %v", got.Results)
	}
	if e := got.Results["eth-usdt"]; e["status"] != float64(http.StatusBadRequest) || e["error"] == nil {
		t.Errorf(`results["eth-usdt"] = %v, want the original's {"error": …} with status 400`, e)
	}
	if e := got.Results["NOPEUSDT"]; e["status"] != float64(http.StatusNotFound) || e["reason"] != "InvalidSymbol" {
		t.Errorf(`results["NOPEUSDT"] = %v, want an error with status 404`, e)
	}
	if len(got.Errors) != 2 {
		t.Errorf("errors = %+v, want the two failures", got.Errors)
	}
	f.post("/api/gainer-analysis/analyze-batch", "", `{"symbols":["BTCUSDT"],"market":"options"}`).
		wantError(t, http.StatusBadRequest, "market")
}

func TestPreloadAnswersTheOriginalsCounts(t *testing.T) {
	f := newFixture(t, withoutRedis())
	var got struct {
		Total         *int     `json:"total"`
		Success       *int     `json:"success"`
		Failed        *int     `json:"failed"`
		FailedSymbols []string `json:"failed_symbols"`
		Duration      *float64 `json:"duration"`
	}
	f.post("/api/gainer-analysis/preload", "admin", `{"symbols":["BTCUSDT","NOPEUSDT","bad-one"]}`).wantOK(t, &got)
	if got.Total == nil || *got.Total != 3 || *got.Success != 1 || *got.Failed != 2 || got.Duration == nil || *got.Duration < 0 {
		t.Fatalf("preload = %+v", got)
	}
	if !slices.Equal(got.FailedSymbols, []string{"NOPEUSDT", "bad-one"}) {
		t.Errorf("failed_symbols = %q, want NOPEUSDT and bad-one in request order", got.FailedSymbols)
	}
}

func TestCacheStatsHasTheOriginalsTypes(t *testing.T) {
	for _, redis := range []bool{true, false} {
		var opts []fixtureOption
		if !redis {
			opts = append(opts, withoutRedis())
		}
		f := newFixture(t, opts...)
		f.post(analyzeSymbolPath, "", `{"symbol":"BTCUSDT"}`).wantOK(t, nil)
		var got map[string]any
		f.get("/api/gainer-analysis/cache-stats", "").wantOK(t, &got)
		if n, ok := got["memory_cache_fallback"].(float64); !ok || n != 1 {
			t.Errorf("redis=%v: memory_cache_fallback = %#v, want the integer 1 (entries of the memory copy)", redis, got["memory_cache_fallback"])
		}
		_, hasOldest := got["oldest_cache"]
		if got["cached_symbols"] != float64(1) || hasOldest == redis {
			t.Errorf("redis=%v: cache-stats = %v (oldest_cache only while memory serves)", redis, got)
		}
	}
}
