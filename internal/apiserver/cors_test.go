package apiserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

// corsServer serves the API with origins allowed, on the fixture's cache and analyzer.
func corsServer(t *testing.T, f *fixture, origins ...string) string {
	ts := httptest.NewServer(New(Config{CORSAllowedOrigins: origins}, f.cache, f.analyzer, fakeKube(t), tokenAuth{}, nil, logr.Discard()))
	t.Cleanup(ts.Close)
	return ts.URL
}

func send(t *testing.T, method, url string, header map[string]string) *http.Response {
	t.Helper()
	var body *strings.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"symbol":"BTCUSDT"}`)
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp
}

func TestCORSPreflightAndAnswersForAllowedOrigins(t *testing.T) {
	f := newFixture(t, withoutRedis())
	url := corsServer(t, f, "https://dash.example.com") + analyzeSymbolPath
	preflight := map[string]string{"Origin": "https://dash.example.com", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "authorization,content-type"} // as browsers send it

	resp := send(t, http.MethodOptions, url, preflight)
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://dash.example.com" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") ||
		h.Get("Access-Control-Max-Age") != "600" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
		t.Errorf("preflight: %d %v", resp.StatusCode, h)
	}

	resp = send(t, http.MethodPost, url, map[string]string{"Origin": "https://dash.example.com", "Content-Type": "application/json"})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "https://dash.example.com" ||
		resp.Header.Get("Access-Control-Expose-Headers") != "Retry-After" {
		t.Errorf("POST from an allowed origin: %d %v", resp.StatusCode, resp.Header)
	}

	preflight["Origin"] = "https://evil.example.com"
	resp = send(t, http.MethodOptions, url, preflight)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("preflight from another origin allowed %q", got)
	}
	preflight["Origin"], preflight["Access-Control-Request-Method"] = "https://dash.example.com", "DELETE"
	resp = send(t, http.MethodOptions, url, preflight)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("preflight for DELETE allowed %q", got)
	}
}

func TestCORSAnyOrigin(t *testing.T) {
	f := newFixture(t, withoutRedis())
	url := corsServer(t, f, "*") + "/api/gainer-analysis/cache-stats"
	resp := send(t, http.MethodGet, url, map[string]string{"Origin": "http://localhost:8000"})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("GET with * allowed: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestNoCORSByDefault(t *testing.T) {
	f := newFixture(t, withoutRedis())
	r := f.do(http.MethodOptions, analyzeSymbolPath, "", nil)
	r.wantError(t, http.StatusMethodNotAllowed, "use POST")
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("Access-Control-Allow-Origin = %q without --api-cors-allowed-origins", got)
	}
}
