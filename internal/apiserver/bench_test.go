package apiserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// benchmarkHit serves analyze-symbol cache hits through the whole handler chain (routing, metrics,
// decoding, validation, the cache read, splicing) without the network between client and server.
func benchmarkHit(b *testing.B, opts ...fixtureOption) {
	f := newFixture(b, opts...)
	symbols := []string{"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"}
	bodies := make([]string, len(symbols))
	for i, s := range symbols {
		bodies[i] = `{"symbol":"` + s + `"}`
		f.post(analyzeSymbolPath, "", bodies[i]) // a miss: computes and writes
		// The first read after an own write asks Redis, which confirms the value in memory (with the
		// client cache): from the next read on, the steady state of a replica serving hits.
		f.post(analyzeSymbolPath, "", bodies[i])
	}
	b.ReportAllocs()
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
