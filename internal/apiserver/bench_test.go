package apiserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// benchmarkHit serves analyze-symbol cache hits through the whole handler chain (routing, metrics,
// decoding, validation, the cache read, splicing) without the network between client and server.
func benchmarkHit(b *testing.B, opts ...fixtureOption) {
	f := newFixture(b, opts...)
	symbols := []string{"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"}
	bodies := make([]string, len(symbols))
	for i, s := range symbols {
		f.post(analyzeSymbolPath, "", `{"symbol":"`+s+`"}`)
		bodies[i] = `{"symbol":"` + s + `"}`
	}
	// Past the second in which a replica reads its own writes without the client cache: measure
	// the steady state of a replica reading what was written before.
	time.Sleep(1100 * time.Millisecond)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req := httptest.NewRequest(http.MethodPost, analyzeSymbolPath, strings.NewReader(bodies[i%len(bodies)]))
		rec := httptest.NewRecorder()
		f.server.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
}

func BenchmarkAnalyzeSymbolHitMemory(b *testing.B) { benchmarkHit(b, withoutRedis()) }

// BenchmarkAnalyzeSymbolHitRedis reads through the client cache, as the operator does by default.
func BenchmarkAnalyzeSymbolHitRedis(b *testing.B) { benchmarkHit(b) }

// BenchmarkAnalyzeSymbolHitRedisRoundTrip makes every read a Redis round trip.
func BenchmarkAnalyzeSymbolHitRedisRoundTrip(b *testing.B) { benchmarkHit(b, withoutClientCache()) }
