package apiserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzAnalyzeSymbolBody sends arbitrary bodies to analyze-symbol: whatever a client sends, the
// answer is never a 5xx and always the JSON envelope. The seed corpus is under
// testdata/fuzz/FuzzAnalyzeSymbolBody.
func FuzzAnalyzeSymbolBody(f *testing.F) {
	for _, seed := range []string{
		`{"symbol":"BTCUSDT"}`, `{"symbol":"BTCUSDT","force_refresh":true}`, `{"symbol":"btcusdt"}`,
		`{"symbol":"NOPEUSDT"}`, `{"symbol":""}`, `{"symbol":null}`, `{"symbol":["A"]}`, `{}`, `[]`, `null`, ``,
		`{"symbol":"BTCUSDT"}{"symbol":"ETHUSDT"}`, `{"symbol":"\u0000"}`, `{"symbol":"BTC\"USDT"}`,
	} {
		f.Add([]byte(seed))
	}
	fx := newFixture(f, withoutRedis())
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, analyzeSymbolPath, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer admin")
		rec := httptest.NewRecorder()
		fx.server.ServeHTTP(rec, req)
		res := rec.Result()
		raw, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 500 {
			t.Fatalf("body %q: status %d (%s), want a 2xx or 4xx", body, res.StatusCode, raw)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("body %q: Content-Type %q", body, ct)
		}
		var env struct {
			Code *int            `json:"code"`
			Msg  *string         `json:"msg"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &env); err != nil || env.Code == nil || env.Msg == nil {
			t.Fatalf("body %q: answer is not the envelope: %v\n%s", body, err, raw)
		}
		if (res.StatusCode == http.StatusOK) != (*env.Code == 1) {
			t.Fatalf("body %q: status %d with code %d", body, res.StatusCode, *env.Code)
		}
	})
}
