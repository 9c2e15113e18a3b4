package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/gainers"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/market/binance"
)

// tickerExchange is an httptest server speaking Binance's 24hr ticker of all symbols on the spot
// and futures paths, with the weight header, and 429 with Retry-After while limited is set.
type tickerExchange struct {
	*httptest.Server
	spotHits, futuresHits atomic.Int32
	limited               atomic.Bool
}

func tickerRow(symbol string, change float64, quoteVolume float64) string {
	return fmt.Sprintf(`{"symbol":%q,"priceChange":"%.8f","priceChangePercent":"%.3f","weightedAvgPrice":"1.0",`+
		`"lastPrice":"1.25000000","lastQty":"3.0","openPrice":"1.10000000","highPrice":"1.30000000","lowPrice":"1.00000000",`+
		`"volume":"1000.00000000","quoteVolume":"%.8f","openTime":1764400000000,"closeTime":1764486399999,`+
		`"firstId":1,"lastId":99,"count":99}`, symbol, change/100, change, quoteVolume)
}

func newTickerExchange(t *testing.T) *tickerExchange {
	e := &tickerExchange{}
	spot := "[" + strings.Join([]string{
		tickerRow("BTCUSDT", 2.5, 9e8), tickerRow("ETHUSDT", 6.5, 8e8), tickerRow("SOLUSDT", 12.25, 3e8),
		tickerRow("NOPEUSDT", 9, 1e6), // the analysis source does not know it
		tickerRow("ETHBTC", 40, 1e3), tickerRow("BTCUPUSDT", 30, 1e6), tickerRow("DEADUSDT", 0, 0),
		tickerRow("DOGEUSDT", -4, 2e8),
	}, ",") + "]"
	futures := "[" + strings.Join([]string{
		tickerRow("BTCUSDT", 3, 9e9), tickerRow("1000PEPEUSDT", 21, 5e8), tickerRow("BTCUSDT_261225", 50, 1e6),
	}, ",") + "]"
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body string
		switch r.URL.Path {
		case "/api/v3/ticker/24hr":
			body = spot
			w.Header().Set("X-MBX-USED-WEIGHT-1M", fmt.Sprint(80*e.spotHits.Add(1)))
		case "/fapi/v1/ticker/24hr":
			body = futures
			w.Header().Set("X-MBX-USED-WEIGHT-1M", fmt.Sprint(40*e.futuresHits.Add(1)))
		default:
			http.Error(w, `{"code":-1100,"msg":"not served here"}`, http.StatusBadRequest)
			return
		}
		if e.limited.Load() {
			w.Header().Set("Retry-After", "17")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"code":-1003,"msg":"Too much request weight used."}`))
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(e.Close)
	return e
}

// exchangeSources are the real Binance clients on the test exchange; their retries do not sleep.
type exchangeSources map[string]market.Source

func (s exchangeSources) Source(exchange, _ string) (market.Source, error) { return s[exchange], nil }

func withTickerExchange(e *tickerExchange) fixtureOption {
	noSleep := func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	return withConfig(func(c *Config) {
		c.Gainers = &gainers.Board{Sources: exchangeSources{
			"binance":         binance.New(binance.Config{BaseURL: e.URL, Sleep: noSleep, MaxRetries: 1}),
			"binance-futures": binance.New(binance.Config{BaseURL: e.URL, Futures: true, Sleep: noSleep, MaxRetries: 1}),
		}}
	})
}

// gainersData is the answer's data, with each row decoded loosely so that JSON types can be checked.
type gainersData struct {
	Count           int                          `json:"count"`
	Timestamp       string                       `json:"timestamp"`
	Market          string                       `json:"market"`
	Exchange        string                       `json:"exchange"`
	TickerFetchedAt time.Time                    `json:"ticker_fetched_at"`
	Symbols         []map[string]json.RawMessage `json:"symbols"`
	Summary         batchSummary                 `json:"summary"`
}

func (d gainersData) symbols() []string {
	out := make([]string, len(d.Symbols))
	for i, row := range d.Symbols {
		_ = json.Unmarshal(row["symbol"], &out[i])
	}
	return out
}

// wantJSONTypes fails unless each named field of row holds a JSON value of the kind given.
func wantJSONTypes(t *testing.T, row map[string]json.RawMessage, kinds map[string]string) {
	t.Helper()
	for field, kind := range kinds {
		raw, ok := row[field]
		if !ok {
			t.Fatalf("row has no %q: %v", field, row)
		}
		var got string
		switch raw[0] {
		case '"':
			got = "string"
		case '{':
			got = "object"
		case 't', 'f':
			got = "boolean"
		case 'n':
			got = "null"
		case '[':
			got = "array"
		default:
			got = "number"
		}
		if got != kind {
			t.Fatalf("%q is a JSON %s (%s), want a %s", field, got, raw, kind)
		}
	}
}

// legacyRow is what the original's gainers page reads of a row.
type legacyRow struct {
	Symbol       string `json:"symbol"`
	HAMAAnalysis struct {
		Trend          string  `json:"trend"`
		Recommendation string  `json:"recommendation"`
		Confidence     float64 `json:"confidence"`
	} `json:"hama_analysis"`
	Conditions struct {
		MeetsBuyCriteria  bool   `json:"meets_buy_criteria"`
		MeetsSellCriteria bool   `json:"meets_sell_criteria"`
		Summary           string `json:"summary"`
	} `json:"conditions"`
	HasStrongBuySignal bool       `json:"has_strong_buy_signal"`
	Error              batchError `json:"analysis_error"`
}

func TestTopGainersRanksTheSpotTickerAndCarriesEachAnalysis(t *testing.T) {
	e := newTickerExchange(t)
	f := newFixture(t, withTickerExchange(e))

	var d gainersData
	f.get("/api/gainer-analysis/top-gainers?limit=20&market=spot", "").wantOK(t, &d)
	want := []string{"SOLUSDT", "NOPEUSDT", "ETHUSDT", "BTCUSDT", "DOGEUSDT"}
	if got := d.symbols(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("symbols %v, want %v (USDT pairs by change, no leveraged token, no dead pair)", got, want)
	}
	if d.Count != 5 || d.Market != "spot" || d.Exchange != "binance" || d.Timestamp == "" || d.TickerFetchedAt.IsZero() {
		t.Fatalf("answer %+v", d)
	}
	sol := d.Symbols[0]
	wantJSONTypes(t, sol, map[string]string{"symbol": "string", "base_asset": "string", "price": "number",
		"price_change_percent": "number", "high": "number", "low": "number", "volume": "number",
		"quote_volume": "number", "open_time": "number", "close_time": "number", "source": "string",
		"is_top_gainer": "boolean", "analysis": "object", "hama_analysis": "object", "conditions": "object",
		"has_strong_buy_signal": "boolean"})
	var row struct {
		BaseAsset   string     `json:"base_asset"`
		Price       float64    `json:"price"`
		Change      float64    `json:"price_change_percent"`
		QuoteVolume float64    `json:"quote_volume"`
		OpenTime    int64      `json:"open_time"`
		Source      string     `json:"source"`
		TopGainer   bool       `json:"is_top_gainer"`
		Analysis    symbolData `json:"analysis"`
	}
	raw, _ := json.Marshal(sol)
	_ = json.Unmarshal(raw, &row)
	if row.BaseAsset != "SOL" || row.Price != 1.25 || row.Change != 12.25 || row.QuoteVolume != 3e8 ||
		row.OpenTime != 1764400000000 || row.Source != "Binance" || !row.TopGainer {
		t.Fatalf("SOLUSDT row %+v", row)
	}
	if row.Analysis.Symbol != "SOLUSDT" || len(row.Analysis.Timeframes) != 2 || row.Analysis.CacheSource != "computed" {
		t.Fatalf("SOLUSDT analysis %+v, want the computed document", row.Analysis)
	}
	// The front end reads these of every row: the original's values.
	for _, row := range d.Symbols {
		var v legacyRow
		raw, _ := json.Marshal(row)
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		a, c := v.HAMAAnalysis, v.Conditions
		if !slices.Contains([]string{"uptrend", "downtrend", "sideways"}, a.Trend) ||
			!slices.Contains([]string{"BUY", "SELL", "HOLD"}, a.Recommendation) || a.Confidence < 0 || a.Confidence > 1 ||
			c.Summary == "" || v.HasStrongBuySignal != c.MeetsBuyCriteria {
			t.Fatalf("row %s: hama_analysis %+v, conditions %+v, has_strong_buy_signal %v", v.Symbol, a, c, v.HasStrongBuySignal)
		}
	}
	wantJSONTypes(t, d.Symbols[1], map[string]string{"analysis": "null", "analysis_error": "object"})
	var nope legacyRow
	raw, _ = json.Marshal(d.Symbols[1])
	_ = json.Unmarshal(raw, &nope)
	if nope.Error.Reason != "InvalidSymbol" || nope.Error.Status != http.StatusNotFound ||
		nope.HAMAAnalysis.Recommendation != "HOLD" || nope.Conditions.Summary != "HAMA分析暂不可用" {
		t.Fatalf("NOPEUSDT row %+v: want the error and the original's stand-in view", nope)
	}
	if d.Summary != (batchSummary{Total: 5, Success: 4, Failed: 1}) {
		t.Fatalf("summary %+v", d.Summary)
	}

	// A second page load: the ticker and the analyses come from the cache.
	f.get("/api/gainer-analysis/top-gainers?market=spot&limit=3", "").wantOK(t, &d)
	if d.Count != 3 || d.Summary.Cached != 2 || e.spotHits.Load() != 1 {
		t.Fatalf("second load: %d rows, %d cached, %d ticker calls; want 3 rows, 2 cached, 1 call", d.Count, d.Summary.Cached, e.spotHits.Load())
	}
	if calls := f.analyzer.count("SOLUSDT"); calls != 1 {
		t.Fatalf("SOLUSDT analysed %d times, want once", calls)
	}
}

func TestTopGainersFuturesMarket(t *testing.T) {
	e := newTickerExchange(t)
	f := newFixture(t, withTickerExchange(e))
	var d gainersData
	f.get("/api/gainer-analysis/top-gainers?market=futures", "").wantOK(t, &d)
	if got := d.symbols(); strings.Join(got, ",") != "1000PEPEUSDT,BTCUSDT" || d.Exchange != "binance-futures" || e.futuresHits.Load() != 1 {
		t.Fatalf("futures: %v from %s after %d futures calls", got, d.Exchange, e.futuresHits.Load())
	}
	var row struct {
		BaseAsset    string `json:"base_asset"`
		Source       string `json:"source"`
		ContractType string `json:"contract_type"`
	}
	raw, _ := json.Marshal(d.Symbols[0])
	_ = json.Unmarshal(raw, &row)
	if row.BaseAsset != "1000PEPE" || row.Source != "Binance Futures" || row.ContractType != "perpetual" {
		t.Fatalf("futures row %+v", row)
	}
}

func TestTopGainersRefusesBadInput(t *testing.T) {
	f := newFixture(t, withTickerExchange(newTickerExchange(t)), withoutRedis())
	for query, msg := range map[string]string{
		"limit=0":           "limit must be between 1 and 100",
		"limit=101":         "limit must be between 1 and 100",
		"limit=ten":         "must be a whole number",
		"limit=2.5":         "must be a whole number",
		"market=options":    "market \"options\" must be spot or futures",
		"market=spot&x=%zz": "",
	} {
		r := f.get("/api/gainer-analysis/top-gainers?"+query, "")
		if msg == "" {
			r.wantOK(t, nil) // unknown and malformed extra parameters are ignored, as the original did
			continue
		}
		r.wantError(t, http.StatusBadRequest, msg)
	}
	// Lenient where the original was: the market's case and spaces do not matter.
	var d gainersData
	f.get("/api/gainer-analysis/top-gainers?market=%20SPOT%20&limit=%202", "").wantOK(t, &d)
	if d.Market != "spot" || d.Count != 2 {
		t.Fatalf("market %q count %d", d.Market, d.Count)
	}
}

func TestTopGainersRateLimitedExchangeIsA503WithRetryAfter(t *testing.T) {
	e := newTickerExchange(t)
	e.limited.Store(true)
	f := newFixture(t, withTickerExchange(e), withoutRedis())
	r := f.get("/api/gainer-analysis/top-gainers", "")
	r.wantError(t, http.StatusServiceUnavailable, "ranking the spot gainers")
	if r.header.Get("Retry-After") != "17" || !strings.Contains(string(r.env.Data), `"RateLimited"`) {
		t.Fatalf("Retry-After %q, data %s: want the exchange's 17s and the reason", r.header.Get("Retry-After"), r.env.Data)
	}
}

func TestRefreshRecomputesTheGainersAndNeedsAToken(t *testing.T) {
	e := newTickerExchange(t)
	f := newFixture(t, withTickerExchange(e))
	body := `{"limit":2,"market":"spot"}`
	f.post("/api/gainer-analysis/refresh", "", body).wantError(t, http.StatusUnauthorized, "bearer token")
	f.post("/api/gainer-analysis/refresh", "viewer", body).wantError(t, http.StatusForbidden, "may not update")
	f.post("/api/gainer-analysis/refresh", "admin", `{"limit":"2"}`).wantError(t, http.StatusBadRequest, `field "limit" must be a JSON number`)

	var d gainersData
	f.post("/api/gainer-analysis/refresh", "admin", body).wantOK(t, &d)
	f.post("/api/gainer-analysis/refresh", "admin", body).wantOK(t, &d)
	if got := d.symbols(); strings.Join(got, ",") != "SOLUSDT,NOPEUSDT" || d.Market != "spot" {
		t.Fatalf("refresh answered %v", got)
	}
	if d.Summary.Cached != 0 || f.analyzer.count("SOLUSDT") != 2 {
		t.Fatalf("summary %+v, SOLUSDT analysed %d times: refresh must recompute every time", d.Summary, f.analyzer.count("SOLUSDT"))
	}
	var row struct {
		Analysis symbolData `json:"analysis"`
	}
	raw, _ := json.Marshal(d.Symbols[0])
	_ = json.Unmarshal(raw, &row)
	if row.Analysis.CacheSource != "computed" || row.Analysis.Cached {
		t.Fatalf("refreshed row %+v", row.Analysis)
	}
	// Defaults as the original's: 20 spot gainers.
	f.post("/api/gainer-analysis/refresh", "admin", `{}`).wantOK(t, &d)
	if d.Market != "spot" || d.Count != 5 {
		t.Fatalf("refresh {}: market %q, %d rows", d.Market, d.Count)
	}
}

func TestTopGainersOnTheSimulatedMarket(t *testing.T) {
	f := newFixture(t, withoutRedis()) // the fixture's default board: the simulated listing
	var d gainersData
	f.get("/api/gainer-analysis/top-gainers?limit=5", "").wantOK(t, &d)
	if d.Count != 5 || d.Summary.Success != 5 {
		t.Fatalf("simulated gainers: %d rows, summary %+v", d.Count, d.Summary)
	}
}
