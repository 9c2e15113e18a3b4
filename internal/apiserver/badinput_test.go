package apiserver

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

func TestClientMistakesGet4xxWithAMessage(t *testing.T) {
	f := newFixture(t, withoutRedis())
	many := make([]string, 201)
	for i := range many {
		many[i] = "S" + strings.Repeat("X", 1+i%20) + string(rune('A'+i%26)) + string(rune('A'+i/26))
	}
	cases := []struct {
		name   string
		path   string
		body   any
		status int
		msg    string
	}{
		{"malformed JSON", analyzeSymbolPath, `{"symbol":`, 400, "malformed JSON"},
		{"not an object", analyzeSymbolPath, `["BTCUSDT"]`, 400, "request body must be a JSON object, not a JSON array"},
		{"a bare string", analyzeSymbolPath, `"BTCUSDT"`, 400, "request body must be a JSON object, not a JSON string"},
		{"wrong type", analyzeSymbolPath, `{"symbol":42}`, 400, `field "symbol" must be a JSON string, not a JSON number`},
		{"wrong bool type", analyzeSymbolPath, `{"symbol":"BTCUSDT","force_refresh":"yes"}`, 400, `field "force_refresh" must be a JSON boolean, not a JSON string`},
		{"field names are case-sensitive", analyzeSymbolPath, `{"Symbol":"BTCUSDT"}`, 400, "symbol is required"},
		{"duplicate field", analyzeSymbolPath, `{"symbol":"BTCUSDT","symbol":"ETHUSDT"}`, 400, `field "symbol" appears twice`},
		{"invalid UTF-8", analyzeSymbolPath, "{\"symbol\":\"BTC\xffUSDT\"}", 400, "malformed JSON at byte 14: invalid UTF-8"},
		{"whitespace only", analyzeSymbolPath, " \n\t ", 400, "body is empty"},
		{"null body", analyzeSymbolPath, `null`, 400, "symbol is required"},
		{"trailing garbage", analyzeSymbolPath, `{"symbol":"BTCUSDT"}x`, 400, "must hold one JSON value; more follows at byte 20"},
		{"empty body", analyzeSymbolPath, ``, 400, "body is empty"},
		{"two values", analyzeSymbolPath, `{"symbol":"BTCUSDT"} {}`, 400, "must hold one JSON value; more follows at byte 21"},
		{"missing symbol", analyzeSymbolPath, `{}`, 400, "symbol is required"},
		{"overlong symbol", analyzeSymbolPath, `{"symbol":"` + strings.Repeat("A", 31) + `"}`, 400, "longer than 30"},
		{"one character", analyzeSymbolPath, `{"symbol":"B"}`, 400, "2 to 30 letters or digits"},
		{"punctuation", analyzeSymbolPath, `{"symbol":"BTC-USDT"}`, 400, "2 to 30 letters or digits, like BTCUSDT, or BASE/QUOTE, like BTC/USDT"},
		{"a slash alone", analyzeSymbolPath, `{"symbol":"/"}`, 400, "2 to 30 letters or digits"},
		{"blank symbol", analyzeSymbolPath, `{"symbol":"   "}`, 400, "symbol is required"},
		{"unknown market", analyzeSymbolPath, `{"symbol":"BTCUSDT","market":"options"}`, 400, `market "options" must be spot or futures`},
		{"market not a string", analyzeSymbolPath, `{"symbol":"BTCUSDT","market":1}`, 400, `field "market" must be a JSON string, not a JSON number`},
		{"unicode", analyzeSymbolPath, `{"symbol":"BTCÜSDT"}`, 400, "2 to 30 letters or digits"},
		{"batch without symbols", "/api/gainer-analysis/analyze-batch", `{"symbols":[]}`, 400, "symbols is required"},
		{"batch too many", "/api/gainer-analysis/analyze-batch", map[string]any{"symbols": many}, 400, "201 symbols is more than the 200"},
		{"batch symbols not a list", "/api/gainer-analysis/analyze-batch", `{"symbols":"BTCUSDT"}`, 400, `field "symbols" must be a JSON array, not a JSON string`},
		{"batch symbol not a string", "/api/gainer-analysis/analyze-batch", `{"symbols":["BTCUSDT",7]}`, 400, `field "symbols/1" must be a JSON string, not a JSON number`},
		{"preload without symbols", "/api/gainer-analysis/preload", `{}`, 400, "symbols is required"},
		{"scheduler bad name", "/api/gainer-analysis/scheduler/start", `{"symbols":["BTCUSDT"],"name":"Not_A_Name"}`, 400, "name"},
		{"scheduler bad symbol", "/api/gainer-analysis/scheduler/start", `{"symbols":["BTCUSDT","BTC-USDT"]}`, 400, "2 to 30 letters or digits"},
		{"scheduler zero interval", "/api/gainer-analysis/scheduler/start", `{"symbols":["BTCUSDT"],"interval_minutes":0}`, 400, "interval_minutes must be positive"},
		{"scheduler negative interval", "/api/gainer-analysis/scheduler/start", `{"symbols":["BTCUSDT"],"interval_minutes":-1}`, 400, "interval_minutes must be positive"},
		{"scheduler huge interval", "/api/gainer-analysis/scheduler/start", `{"symbols":["BTCUSDT"],"interval_minutes":1e300}`, 400, "at most 525600"},
		{"scheduler interval beyond float64", "/api/gainer-analysis/scheduler/start", `{"symbols":["BTCUSDT"],"interval_minutes":1e400}`, 400, `field "interval_minutes": 1e400: value out of range`},
		{"scheduler bad namespace", "/api/gainer-analysis/scheduler/stop", `{"namespace":"UPPER"}`, 400, "namespace"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.post(c.path, "admin", c.body).wantError(t, c.status, c.msg)
		})
	}
	if n := f.analyzer.calls.Load(); n != 0 {
		t.Errorf("refused requests started %d analyses", n)
	}
}

func TestResourceAPIBadInput(t *testing.T) {
	f := newFixture(t, withoutRedis())
	f.get("/api/v1/analysis/btcusdt", "").wantError(t, http.StatusBadRequest, "uppercase")
	f.get("/api/v1/analysis/BTCUSDT?timeframe=7m", "").wantError(t, http.StatusBadRequest, `timeframe "7m" is not one of`)
	f.get("/api/v1/schedules?namespace=Bad_NS", "").wantError(t, http.StatusBadRequest, "namespace")
}

func TestBodyOver1MiBIs413(t *testing.T) {
	f := newFixture(t, withoutRedis())
	body := append([]byte(`{"symbol":"BTCUSDT","force_refresh":false,"x":"`), bytes.Repeat([]byte("a"), 1<<20)...)
	body = append(body, `"}`...)
	f.post(analyzeSymbolPath, "", body).wantError(t, http.StatusRequestEntityTooLarge, "larger than 1048576 bytes")
	f.post("/api/gainer-analysis/analyze-batch", "", body).wantError(t, http.StatusRequestEntityTooLarge, "larger than")
}

func TestWrongMethodIs405AndUnknownRouteIs404(t *testing.T) {
	f := newFixture(t, withoutRedis())
	r := f.get(analyzeSymbolPath, "")
	r.wantError(t, http.StatusMethodNotAllowed, "method GET is not allowed here; use POST")
	if allow := r.header.Get("Allow"); allow != "POST" {
		t.Errorf("Allow = %q, want POST", allow)
	}
	f.do(http.MethodDelete, "/api/v1/analysis/BTCUSDT", "", nil).wantError(t, http.StatusMethodNotAllowed, "use GET")
	f.get("/api/gainer-analysis/nothing-here", "").wantError(t, http.StatusNotFound, "no route GET /api/gainer-analysis/nothing-here")
	f.post("/api/v2/analysis", "", `{}`).wantError(t, http.StatusNotFound, "no route")

	if got := apiRequests(t, f, "unmatched", "405"); got != 2 {
		t.Errorf("405s under route=unmatched = %v, want 2", got)
	}
	if got := apiRequests(t, f, "unmatched", "404"); got != 2 {
		t.Errorf("404s under route=unmatched = %v, want 2 (raw paths never become labels)", got)
	}
}

func TestReadsNeedATokenWhenConfigured(t *testing.T) {
	f := newFixture(t, withoutRedis(), withConfig(func(c *Config) { c.AuthReads = true }))
	f.get("/api/gainer-analysis/cache-stats", "").wantError(t, http.StatusUnauthorized, "bearer token")
	f.post(analyzeSymbolPath, "", `{"symbol":"BTCUSDT"}`).wantError(t, http.StatusUnauthorized, "bearer token")
	f.get("/api/v1/analysis", "bogus").wantError(t, http.StatusUnauthorized, "not valid")
	f.get("/api/gainer-analysis/cache-stats", "viewer").wantOK(t, nil)
	f.post(analyzeSymbolPath, "viewer", `{"symbol":"BTCUSDT"}`).wantOK(t, nil)
	f.post(analyzeSymbolPath, "viewer", `{"symbol":"BTCUSDT","force_refresh":true}`).wantError(t, http.StatusForbidden, "may not update")
	f.get("/healthz", "").wantOK(t, nil)
	f.get("/readyz", "").wantOK(t, nil)
}

func TestScheduleRoutesDoNotExistWithoutAKubernetesClient(t *testing.T) {
	f := newFixture(t, withoutRedis())
	dev := httptest.NewServer(New(Config{}, f.cache, f.analyzer, nil, nil, nil, logr.Discard()))
	t.Cleanup(dev.Close)
	f.url = dev.URL
	f.post("/api/gainer-analysis/scheduler/start", "admin", `{"symbols":["BTCUSDT"]}`).wantError(t, http.StatusNotFound, "no route")
	f.get("/api/v1/schedules", "").wantError(t, http.StatusNotFound, "no route")
	f.post("/api/gainer-analysis/preload", "admin", `{"symbols":["BTCUSDT"]}`).
		wantError(t, http.StatusUnauthorized, "token authentication is not configured")
}

func TestSymbolRuleIsExactlyTheCRDPattern(t *testing.T) {
	crd := regexp.MustCompile(`^[A-Z0-9]{2,30}$`)
	for _, s := range []string{"", "A", "AB", "BTCUSDT", "1INCHUSDT", strings.Repeat("Z", 30), strings.Repeat("Z", 31),
		"btc", "BTC-USDT", "BTC USDT", "BTC\x00", "ÄB", "AB\n", "@[", "`{", "/:"} {
		if got, want := validateSymbol(s) == nil, crd.MatchString(s); got != want {
			t.Errorf("validateSymbol(%q) accepts=%v, CRD pattern matches=%v", s, got, want)
		}
	}
}
