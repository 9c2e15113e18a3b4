package apiserver

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

// boardGet fetches a board page with an optional token, without following redirects.
func boardGet(t *testing.T, f *fixture, path, token string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestTheBoardIsMountedWithTheReadSwitch(t *testing.T) {
	f := newFixture(t, withoutRedis())
	f.post(analyzeSymbolPath, "", `{"symbol":"BTCUSDT"}`).wantOK(t, nil)
	if resp, _ := boardGet(t, f, "/", ""); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/board/" {
		t.Fatalf("/ answers %d to %q, want a redirect to /board/", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := boardGet(t, f, "/board/", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `<tr data-symbol="BTCUSDT"`) || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("/board/: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	if got := apiRequests(t, f, "/board/", "200"); got != 1 {
		t.Errorf("board requests under route=/board/ = %v, want 1", got)
	}

	locked := newFixture(t, withoutRedis(), withConfig(func(c *Config) { c.AuthReads = true }))
	for _, path := range []string{"/board/", "/board/events", "/board/symbol/BTCUSDT", "/board/static/board.js"} {
		if resp, body := boardGet(t, locked, path, ""); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "bearer token") {
			t.Errorf("%s without a token with --api-auth-reads: %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, _ := boardGet(t, locked, "/board/", "viewer"); resp.StatusCode != 200 {
		t.Errorf("/board/ with a reader's token: %d", resp.StatusCode)
	}
}

func TestTheBoardNamesTheSchedulesOfASymbol(t *testing.T) {
	f := newFixture(t, withoutRedis())
	ctx := context.Background()
	for _, s := range []*analysisv1alpha1.AnalysisSchedule{
		{ObjectMeta: metav1.ObjectMeta{Name: "majors", Namespace: "hama"},
			Spec: analysisv1alpha1.AnalysisScheduleSpec{Symbols: []analysisv1alpha1.Symbol{"BTCUSDT", "ETHUSDT"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gainers", Namespace: "hama"},
			Status: analysisv1alpha1.AnalysisScheduleStatus{ResolvedSymbols: []analysisv1alpha1.Symbol{"BTCUSDT"}}},
	} {
		if err := f.server.kube.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.server.scheduleMembers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got["BTCUSDT"], ",") != "hama/gainers,hama/majors" || strings.Join(got["ETHUSDT"], ",") != "hama/majors" {
		t.Errorf("members %v", got)
	}
}
