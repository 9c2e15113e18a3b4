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
		f.post(analyzeSymbolPath, "", `{"symbol":"`+s+`"}`)
		bodies[i] = `{"symbol":"` + s + `"}`
	}
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

func BenchmarkAnalyzeSymbolHitRedis(b *testing.B) { benchmarkHit(b) }
