package apiserver

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/legacy"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// field is one field of the original service's view: its JSON type and, for strings, the values
// the original's code produced (nil: any); numbers within [min, max] when max > min.
type field struct {
	path     string
	kind     string // string | number | bool | object
	values   []string
	min, max float64
}

// The fields the original's clients read (its Vue front end, its scheduler) and the rest of what
// its code wrote, with the original's types and value sets.
var originalFields = []field{
	{path: "symbol", kind: "string"},
	{path: "hama_analysis", kind: "object"},
	{path: "hama_analysis.symbol", kind: "string"},
	{path: "hama_analysis.trend", kind: "string", values: []string{"uptrend", "downtrend", "sideways"}},
	{path: "hama_analysis.candle_pattern", kind: "string",
		values: []string{"bullish_engulfing", "bearish_engulfing", "doji", "hammer", "shooting_star", "none"}},
	{path: "hama_analysis.recommendation", kind: "string", values: []string{"BUY", "SELL", "HOLD"}},
	{path: "hama_analysis.confidence", kind: "number", min: 0.3, max: 1},
	{path: "hama_analysis.signals", kind: "object"},
	{path: "hama_analysis.signals.ha_close", kind: "number"},
	{path: "hama_analysis.signals.realtime_price", kind: "number"},
	{path: "hama_analysis.signals.ha_open", kind: "number"},
	{path: "hama_analysis.signals.ha_high", kind: "number"},
	{path: "hama_analysis.signals.ha_low", kind: "number"},
	{path: "hama_analysis.signals.hama_ma", kind: "number"},
	{path: "hama_analysis.signals.deviation_pct", kind: "number", min: 0, max: 100},
	{path: "hama_analysis.signals.last_cross_direction", kind: "number", min: -1, max: 1},
	{path: "hama_analysis.signals.trend_strength", kind: "string", values: []string{"strong", "moderate", "weak"}},
	{path: "hama_analysis.signals.volume_confirmation", kind: "bool"},
	{path: "hama_analysis.technical_indicators", kind: "object"},
	{path: "hama_analysis.technical_indicators.rsi", kind: "number", min: 0, max: 100},
	{path: "hama_analysis.technical_indicators.macd", kind: "string", values: []string{"bullish", "bearish", "neutral"}},
	{path: "hama_analysis.technical_indicators.ema_20", kind: "number"},
	{path: "hama_analysis.technical_indicators.ema_50", kind: "number"},
	{path: "hama_analysis.technical_indicators.support_level", kind: "number"},
	{path: "hama_analysis.technical_indicators.resistance_level", kind: "number"},
	{path: "hama_analysis.technical_indicators.hama_status", kind: "string", values: []string{"上涨趋势", "下跌趋势", "盘整"}},
	{path: "hama_analysis.technical_indicators.candle_close", kind: "number"},
	{path: "hama_analysis.technical_indicators.realtime_price", kind: "number"},
	{path: "hama_analysis.technical_indicators.ma_value", kind: "number"},
	{path: "hama_analysis.technical_indicators.deviation_pct", kind: "number"},
	{path: "hama_analysis.timestamp", kind: "string"},
	{path: "hama_analysis.analysis_note", kind: "string"},
	{path: "conditions", kind: "object"},
	{path: "conditions.is_uptrend", kind: "bool"},
	{path: "conditions.is_downtrend", kind: "bool"},
	{path: "conditions.confidence_above_70", kind: "bool"},
	{path: "conditions.is_bullish_pattern", kind: "bool"},
	{path: "conditions.is_bearish_pattern", kind: "bool"},
	{path: "conditions.has_volume_confirmation", kind: "bool"},
	{path: "conditions.meets_buy_criteria", kind: "bool"},
	{path: "conditions.meets_sell_criteria", kind: "bool"},
	{path: "conditions.summary", kind: "string"},
	{path: "timestamp", kind: "string"},
	{path: "cached_at", kind: "string"},
	{path: "is_cached", kind: "bool"},
	{path: "cached", kind: "bool"},
}

// isoformat is Python's datetime.isoformat() of an aware UTC time with microseconds.
var isoformat = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$`)

// checkOriginalFields fails unless data has every field of the original with its type and value set.
func checkOriginalFields(t *testing.T, where string, data json.RawMessage) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	for _, f := range originalFields {
		v, ok := lookupPath(doc, f.path)
		if !ok {
			t.Errorf("%s: %s is missing", where, f.path)
			continue
		}
		switch x := v.(type) {
		case string:
			if f.kind != "string" {
				t.Errorf("%s: %s is the string %q, want a %s", where, f.path, x, f.kind)
			} else if f.values != nil && !slices.Contains(f.values, x) {
				t.Errorf("%s: %s = %q, not one of the original's %q", where, f.path, x, f.values)
			}
		case float64:
			if f.kind != "number" {
				t.Errorf("%s: %s is the number %v, want a %s", where, f.path, x, f.kind)
			} else if f.max > f.min && (x < f.min || x > f.max) {
				t.Errorf("%s: %s = %v, outside [%v, %v]", where, f.path, x, f.min, f.max)
			}
		case bool:
			if f.kind != "bool" {
				t.Errorf("%s: %s is a bool, want a %s", where, f.path, f.kind)
			}
		case map[string]any:
			if f.kind != "object" {
				t.Errorf("%s: %s is an object, want a %s", where, f.path, f.kind)
			}
		default:
			t.Errorf("%s: %s is %v (%T), want a %s", where, f.path, v, v, f.kind)
		}
	}
	for _, p := range []string{"timestamp", "hama_analysis.timestamp"} {
		if s, _ := lookupPath(doc, p); !isoformat.MatchString(s.(string)) {
			t.Errorf("%s: %s = %q, not Python's isoformat", where, p, s)
		}
	}
	// cached_at is the JSON text the original's cache wrote around the analysis time; is_cached true.
	var cachedAt struct{ Timestamp string }
	stamp, _ := lookupPath(doc, "hama_analysis.timestamp")
	if s, _ := doc["cached_at"].(string); json.Unmarshal([]byte(s), &cachedAt) != nil || cachedAt.Timestamp != stamp {
		t.Errorf("%s: cached_at = %v, want {\"timestamp\": %q}", where, doc["cached_at"], stamp)
	}
	if doc["is_cached"] != true {
		t.Errorf("%s: is_cached = %v, want true", where, doc["is_cached"])
	}
	return doc
}

func lookupPath(doc map[string]any, path string) (any, bool) {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// Every legacy answer that carries an analysis carries the original's fields: analyze-symbol computed
// and then from Redis, analyze-batch and preload per symbol.
func TestLegacyAnswersCarryTheOriginalsFields(t *testing.T) {
	answerClock := clocktesting.NewFakePassiveClock(time.Now())
	f := newFixture(t, withConfig(func(c *Config) { c.Clock = answerClock }))

	computed := f.post(analyzeSymbolPath, "", map[string]any{"symbol": "BTCUSDT"})
	computed.wantOK(t, nil)
	first := checkOriginalFields(t, "analyze-symbol computed", computed.env.Data)

	// The answer's timestamp must move while the analysis' does not.
	answerClock.SetTime(answerClock.Now().Add(time.Second))
	hit := f.post(analyzeSymbolPath, "", map[string]any{"symbol": "BTCUSDT"})
	var meta symbolData
	hit.wantOK(t, &meta)
	if !meta.Cached || meta.CacheSource != "redis" {
		t.Fatalf("second call: cached %v from %q, want a redis hit", meta.Cached, meta.CacheSource)
	}
	second := checkOriginalFields(t, "analyze-symbol hit", hit.env.Data)
	// As the original's analyze-symbol: timestamp is the answer's time; the analysis keeps its own.
	if want := answerClock.Now().UTC().Format(legacy.TimestampLayout); second["timestamp"] != want || second["timestamp"] == first["timestamp"] {
		t.Errorf("hit timestamp %v, want the time of the answer %v (not %v)", second["timestamp"], want, first["timestamp"])
	}
	analysed := func(doc map[string]any) any { v, _ := lookupPath(doc, "hama_analysis.timestamp"); return v }
	if analysed(second) != analysed(first) {
		t.Errorf("hama_analysis.timestamp changed between the computation and the hit: %v, %v", analysed(first), analysed(second))
	}

	var batch struct {
		Results map[string]json.RawMessage `json:"results"`
	}
	f.post("/api/gainer-analysis/analyze-batch", "", map[string]any{"symbols": []string{"BTCUSDT", "ETHUSDT"}}).wantOK(t, &batch)
	for _, sym := range []string{"BTCUSDT", "ETHUSDT"} {
		doc := checkOriginalFields(t, "analyze-batch "+sym, batch.Results[sym])
		// The original's batch answered the stored document as it was: timestamp is the analysis time.
		if doc["timestamp"] != analysed(doc) {
			t.Errorf("analyze-batch %s: timestamp %v, want the analysis time %v", sym, doc["timestamp"], analysed(doc))
		}
	}

	// preload answers counts, as the original's did; what it stored carries the view.
	f.post("/api/gainer-analysis/preload", "admin", map[string]any{"symbols": []string{"SOLUSDT"}}).wantOK(t, nil)
	preloaded := f.post(analyzeSymbolPath, "", map[string]any{"symbol": "SOLUSDT"})
	preloaded.wantOK(t, &meta)
	if !meta.Cached {
		t.Error("SOLUSDT was not cached by preload")
	}
	checkOriginalFields(t, "preload SOLUSDT", preloaded.env.Data)
}

// rewriteStored computes symbol through analyze-symbol, then replaces the stored document with
// rewrite's version of it.
func rewriteStored(t *testing.T, f *fixture, symbol string, rewrite func([]byte) []byte) {
	t.Helper()
	f.post(analyzeSymbolPath, "", map[string]any{"symbol": symbol}).wantOK(t, nil)
	err := f.cache.Update(context.Background(), refresh.DefaultKeyPrefix.Key(symbol), func(stored []byte) ([]byte, time.Duration, error) {
		return rewrite(stored), time.Minute, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The legacy routes splice the view the writer stored; they do not derive it again per read. A
// stored view with a marked note comes back with the mark.
func TestLegacyAnswersServeTheStoredView(t *testing.T) {
	f := newFixture(t)
	rewriteStored(t, f, "BTCUSDT", func(stored []byte) []byte {
		marked := strings.Replace(string(stored), `"analysis_note":"HAMA分析: `, `"analysis_note":"STORED HAMA分析: `, 1)
		if marked == string(stored) {
			t.Fatalf("stored document has no analysis_note: %s", stored)
		}
		return []byte(marked)
	})
	hit := f.post(analyzeSymbolPath, "", map[string]any{"symbol": "BTCUSDT"})
	hit.wantOK(t, nil)
	if !strings.Contains(string(hit.env.Data), `"analysis_note":"STORED HAMA分析: `) {
		t.Errorf("the answer did not carry the stored view: %s", hit.env.Data)
	}
}

// A document written before the view was stored (by an older operator) is answered with the view
// all the same, derived on read until the writer replaces it.
func TestLegacyAnswersUpgradeADocumentWithoutTheView(t *testing.T) {
	f := newFixture(t)
	rewriteStored(t, f, "BTCUSDT", func(stored []byte) []byte {
		doc, err := analysis.Decode(stored)
		if err != nil {
			t.Fatal(err)
		}
		old, err := json.Marshal(struct {
			Symbol     string                 `json:"symbol"`
			Timeframes map[string]hama.Result `json:"timeframes"`
			UpdatedAt  time.Time              `json:"updated_at"`
		}{doc.Symbol, doc.Timeframes, doc.UpdatedAt})
		if err != nil {
			t.Fatal(err)
		}
		return old
	})
	hit := f.post(analyzeSymbolPath, "", map[string]any{"symbol": "BTCUSDT"})
	hit.wantOK(t, nil)
	checkOriginalFields(t, "analyze-symbol on an old document", hit.env.Data)
}

// /api/v1 answers the versioned document: the indicators in each timeframe, none of the original's
// fields.
func TestV1AnalysisHasNoneOfTheOriginalsFields(t *testing.T) {
	f := newFixture(t)
	f.post(analyzeSymbolPath, "", map[string]any{"symbol": "BTCUSDT"}).wantOK(t, nil)
	for _, path := range []string{"/api/v1/analysis/BTCUSDT", "/api/v1/analysis/BTCUSDT?timeframe=15m"} {
		var doc map[string]any
		f.get(path, "").wantOK(t, &doc)
		for _, k := range []string{"hama_analysis", "conditions", "timestamp", "cached_at", "is_cached"} {
			if _, ok := doc[k]; ok {
				t.Errorf("%s carries the original's %s", path, k)
			}
		}
		res := doc
		if tfs, ok := doc["timeframes"].(map[string]any); ok {
			res, _ = tfs["15m"].(map[string]any)
			if _, ok := doc["updated_at"].(string); !ok || doc["cached"] != true {
				t.Errorf("%s lost its own fields: %v", path, doc)
			}
		}
		if _, ok := lookupPath(res, "indicators.macd.histogram"); !ok {
			t.Errorf("%s: the 15m result has no indicators: %v", path, res)
		}
	}
}
