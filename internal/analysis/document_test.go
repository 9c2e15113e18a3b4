package analysis

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/market/simulated"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func result(tf string, closeAt time.Time, computed time.Time) hama.Result {
	return hama.Result{Timeframe: tf, CandleCloseTime: closeAt, ComputedAt: computed, ExpiresAt: computed.Add(time.Hour)}
}

func TestAnalyzeWithTheSimulatedMarket(t *testing.T) {
	src := simulated.New(simulated.WithClock(clocktesting.NewFakePassiveClock(now)))
	doc, err := Analyze(context.Background(), src, Request{
		Symbol: "BTCUSDT", Timeframes: []string{"15m", "1h"}, Candles: 500, Params: hama.DefaultParams(), TTL: 10 * time.Minute,
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Timeframes) != 2 || doc.Symbol != "BTCUSDT" {
		t.Fatalf("document = %+v", doc)
	}
	r := doc.Timeframes["1h"]
	if r.Source != "simulated" || r.Symbol != "BTCUSDT" || r.Timeframe != "1h" || !r.ExpiresAt.Equal(now.Add(10*time.Minute)) || r.Candles != 500 {
		t.Fatalf("1h result = %+v", r)
	}
	b, err := Encode(doc)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil || back.Timeframes["15m"].HAMA != doc.Timeframes["15m"].HAMA {
		t.Fatalf("round trip lost data: %v", err)
	}
}

type failingTimeframe struct {
	market.Source
	bad string
}

func (f failingTimeframe) Klines(ctx context.Context, symbol, interval string, limit int) ([]market.Candle, error) {
	if interval == f.bad {
		return nil, &market.APIError{Status: 400, Code: -1121, Msg: "Invalid symbol."}
	}
	return f.Source.Klines(ctx, symbol, interval, limit)
}

func TestAnalyzeKeepsTheTimeframesThatSucceeded(t *testing.T) {
	src := failingTimeframe{Source: simulated.New(simulated.WithClock(clocktesting.NewFakePassiveClock(now))), bad: "4h"}
	doc, err := Analyze(context.Background(), src, Request{
		Symbol: "BTCUSDT", Timeframes: []string{"15m", "4h"}, Candles: 450, Params: hama.DefaultParams(), TTL: time.Minute,
	}, now)
	var apiErr *market.APIError
	if !errors.As(err, &apiErr) || !strings.Contains(err.Error(), "BTCUSDT 4h") {
		t.Fatalf("err = %v, want the 4h failure named and typed", err)
	}
	if _, ok := doc.Timeframes["15m"]; !ok || len(doc.Timeframes) != 1 {
		t.Fatalf("timeframes = %v, want 15m kept", doc.Timeframes)
	}
}

func TestAnalyzeReportsTooFewCandles(t *testing.T) {
	src := simulated.New(simulated.WithClock(clocktesting.NewFakePassiveClock(now)))
	_, err := Analyze(context.Background(), src, Request{Symbol: "X", Timeframes: []string{"1m"}, Candles: 100, Params: hama.DefaultParams()}, now)
	var insufficient *hama.InsufficientDataError
	if !errors.As(err, &insufficient) {
		t.Fatalf("err = %v, want InsufficientDataError", err)
	}
}

// Two schedules cover BTCUSDT: A with 15m, B with 1h and 15m. Neither write loses the other's
// timeframe, and for 15m the newer candle wins whoever writes last.
func TestMergeOverlappingSchedules(t *testing.T) {
	a := Document{Symbol: "BTCUSDT", UpdatedAt: now, Timeframes: map[string]hama.Result{
		"15m": result("15m", now.Add(-time.Minute), now),
	}}
	b := Document{Symbol: "BTCUSDT", UpdatedAt: now.Add(-time.Minute), Timeframes: map[string]hama.Result{
		"1h":  result("1h", now.Add(-time.Hour), now.Add(-time.Minute)),
		"15m": result("15m", now.Add(-16*time.Minute), now.Add(-time.Minute)), // an older candle
	}}
	merged := Merge(a, b, now)
	if len(merged.Timeframes) != 2 {
		t.Fatalf("timeframes = %v, want 15m and 1h", merged.Timeframes)
	}
	if !merged.Timeframes["15m"].CandleCloseTime.Equal(now.Add(-time.Minute)) {
		t.Fatal("an older candle's 15m result replaced a newer one")
	}
	if !merged.UpdatedAt.Equal(now) {
		t.Fatalf("updated_at = %s", merged.UpdatedAt)
	}
	// Same candle: the later computation wins.
	c := Document{Symbol: "BTCUSDT", Timeframes: map[string]hama.Result{"15m": result("15m", now.Add(-time.Minute), now.Add(time.Second))}}
	if got := Merge(merged, c, now); !got.Timeframes["15m"].ComputedAt.Equal(now.Add(time.Second)) {
		t.Fatal("the later computation of the same candle did not win")
	}
	if got := merged.ExpiresAt(); !got.Equal(now.Add(time.Hour)) {
		t.Fatalf("ExpiresAt = %s, want the latest expiry", got)
	}
}

func TestMergeDropsExpiredResults(t *testing.T) {
	cached := Document{Symbol: "X", Timeframes: map[string]hama.Result{"1d": result("1d", now.Add(-48*time.Hour), now.Add(-2*time.Hour))}}
	fresh := Document{Symbol: "X", Timeframes: map[string]hama.Result{"15m": result("15m", now, now)}}
	if got := Merge(cached, fresh, now); len(got.Timeframes) != 1 {
		t.Fatalf("timeframes = %v, want the expired 1d dropped", got.Timeframes)
	}
}

// The stored form carries the original service's view, derived from the 15m result, between
// timeframes and updated_at (which readers find at the end); a document without results has none.
func TestEncodeAddsTheOriginalsView(t *testing.T) {
	src := simulated.New(simulated.WithClock(clocktesting.NewFakePassiveClock(now)))
	doc, err := Analyze(context.Background(), src, Request{
		Symbol: "BTCUSDT", Timeframes: []string{"1h", "15m"}, Candles: 500, Params: hama.DefaultParams(), TTL: time.Hour,
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	order := []string{`{"symbol":"BTCUSDT","timeframes":{`, `,"hama_analysis":{"symbol":"BTCUSDT","timeframe":"15m","trend":`,
		`,"conditions":{"is_uptrend":`, `,"cached_at":"{\"timestamp\": \"2026-11-22T12:00:00.000000+00:00\"}"`,
		`,"is_cached":true,"timestamp":"2026-11-22T12:00:00.000000+00:00","updated_at":"2026-11-22T12:00:00Z"}`}
	at := 0
	for _, part := range order {
		i := strings.Index(s[at:], part)
		if i < 0 {
			t.Fatalf("encoded document lacks %s after byte %d:\n%s", part, at, s)
		}
		at += i + len(part)
	}
	if at != len(s) {
		t.Fatalf("updated_at is not the last field: %s", s[at:])
	}

	empty, err := Encode(Document{Symbol: "X", Timeframes: map[string]hama.Result{}, UpdatedAt: now})
	if err != nil || strings.Contains(string(empty), "hama_analysis") {
		t.Fatalf("empty document: %s, %v", empty, err)
	}
}
