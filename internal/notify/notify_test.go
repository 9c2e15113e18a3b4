package notify

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var testMessage = Message{
	ID: "BTCUSDT:15m:crossUp:1767225600000", Alert: "traders", Namespace: "markets", Schedule: "majors",
	Symbol: "BTCUSDT", Timeframe: "15m", Event: "crossUp",
	CandleCloseTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Price: 87654.5, Summary: "bullish", Color: "green",
}

// receiver is an httptest server that records each request and answers with the next status.
type receiver struct {
	*httptest.Server
	requests chan *recorded
	status   []int
	header   http.Header
}

type recorded struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, status ...int) *receiver {
	r := &receiver{requests: make(chan *recorded, 10), status: status, header: http.Header{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.requests <- &recorded{header: req.Header, body: body}
		for k, v := range r.header {
			w.Header()[k] = v
		}
		code := http.StatusNoContent
		if len(r.status) > 0 {
			code, r.status = r.status[0], r.status[1:]
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "answer")
	}))
	t.Cleanup(r.Close)
	return r
}

func send(t *testing.T, target Target) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return (&Sender{}).Send(ctx, target, testMessage)
}

func TestWebhookSendsTheEventSignedAndAuthenticated(t *testing.T) {
	r := newReceiver(t, http.StatusOK)
	key := []byte("s3cret")
	if err := send(t, Target{Type: Webhook, Address: r.URL + "/hook", Token: "tok", HMACKey: key}); err != nil {
		t.Fatal(err)
	}
	got := <-r.requests
	if h := got.header.Get("Authorization"); h != "Bearer tok" {
		t.Errorf("Authorization = %q", h)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	// The receiver's check, written out: HMAC-SHA256 of the exact body, hex, behind "sha256=".
	if sig, want := got.header.Get(SignatureHeader), Sign(key, got.body); sig != want || !strings.HasPrefix(sig, "sha256=") || len(sig) != 7+64 {
		t.Errorf("%s = %q, want %q", SignatureHeader, sig, want)
	}
	if Sign([]byte("other"), got.body) == got.header.Get(SignatureHeader) {
		t.Error("the signature does not depend on the key")
	}
	var body map[string]any
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": testMessage.ID, "alert": "traders", "namespace": "markets", "schedule": "majors", "symbol": "BTCUSDT",
		"timeframe": "15m", "event": "crossUp", "candle_close_time": "2026-01-01T00:00:00Z", "price": 87654.5,
		"summary": "bullish", "color": "green",
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body[%q] = %v, want %v", k, body[k], v)
		}
	}
}

func TestWebhookWithoutKeyOrTokenSendsNeither(t *testing.T) {
	r := newReceiver(t)
	if err := send(t, Target{Type: Webhook, Address: r.URL}); err != nil {
		t.Fatal(err)
	}
	got := <-r.requests
	if got.header.Get(SignatureHeader) != "" || got.header.Get("Authorization") != "" {
		t.Errorf("unexpected headers: %v", got.header)
	}
}

func TestSlackGetsItsNativeMessage(t *testing.T) {
	r := newReceiver(t, http.StatusOK)
	if err := send(t, Target{Type: Slack, Address: r.URL}); err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Fields []struct{ Type, Text string } `json:"fields"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal((<-r.requests).body, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Text != "BTCUSDT 15m: HAMA crossed above its MA" {
		t.Errorf("text = %q", msg.Text)
	}
	if len(msg.Blocks) != 2 || msg.Blocks[0].Type != "section" || msg.Blocks[0].Text.Type != "mrkdwn" ||
		!strings.Contains(msg.Blocks[0].Text.Text, ":large_green_circle:") {
		t.Fatalf("blocks = %+v", msg.Blocks)
	}
	fields := ""
	for _, f := range msg.Blocks[1].Fields {
		fields += f.Text + "|"
	}
	for _, want := range []string{"*Price*\n87654.5", "*Summary*\nbullish", "*Event id*\n" + testMessage.ID} {
		if !strings.Contains(fields, want) {
			t.Errorf("fields %q lack %q", fields, want)
		}
	}
}

func TestDiscordGetsItsNativeMessage(t *testing.T) {
	r := newReceiver(t) // Discord answers 204 No Content
	if err := send(t, Target{Type: Discord, Address: r.URL}); err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Username, Content string
		Embeds            []struct {
			Title     string
			Color     int
			Timestamp string
			Fields    []struct {
				Name, Value string
				Inline      bool
			}
		}
	}
	if err := json.Unmarshal((<-r.requests).body, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Content != "BTCUSDT 15m: HAMA crossed above its MA" || len(msg.Embeds) != 1 {
		t.Fatalf("message = %+v", msg)
	}
	e := msg.Embeds[0]
	if e.Color != 0x2EB886 || e.Timestamp != "2026-01-01T00:00:00Z" || len(e.Fields) != 6 || e.Fields[0].Name != "Price" || e.Fields[0].Value != "87654.5" {
		t.Errorf("embed = %+v", e)
	}
}

func TestFailuresAreClassified(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		header    string
		retryable bool
		after     time.Duration
	}{
		{"rate limited with seconds", http.StatusTooManyRequests, "7", true, 7 * time.Second},
		{"Discord's fractional Retry-After", http.StatusTooManyRequests, "0.5", true, 500 * time.Millisecond},
		{"server error", http.StatusBadGateway, "", true, 0},
		{"request timeout", http.StatusRequestTimeout, "", true, 0},
		{"bad request", http.StatusBadRequest, "", false, 0},
		{"gone webhook", http.StatusNotFound, "", false, 0},
		{"forbidden", http.StatusForbidden, "", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, tc.status)
			if tc.header != "" {
				r.header.Set("Retry-After", tc.header)
			}
			err := send(t, Target{Type: Webhook, Address: r.URL})
			if err == nil {
				t.Fatal("no error")
			}
			retry, after := Retryable(err)
			if retry != tc.retryable || after != tc.after {
				t.Errorf("Retryable(%v) = %v, %v; want %v, %v", err, retry, after, tc.retryable, tc.after)
			}
		})
	}
}

func TestRetryAfterAsHTTPDate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := retryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now); got != 90*time.Second {
		t.Errorf("retryAfter = %v", got)
	}
	if got := retryAfter("soon", now); got != 0 {
		t.Errorf("retryAfter(garbage) = %v", got)
	}
}

func TestUnreachableReceiverIsRetryableAndItsURLStaysSecret(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := "http://" + l.Addr().String() + "/services/T000/B000/XXXXSECRET"
	_ = l.Close() // nothing listens there now
	err = send(t, Target{Type: Slack, Address: address})
	if retry, _ := Retryable(err); err == nil || !retry {
		t.Fatalf("err = %v, retryable %v", err, retry)
	}
	if strings.Contains(err.Error(), "XXXXSECRET") {
		t.Errorf("the error shows the secret URL: %v", err)
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := (&Sender{}).Send(ctx, Target{Type: Discord, Address: srv.URL}, testMessage)
	if retry, _ := Retryable(err); err == nil || !retry {
		t.Fatalf("err = %v, retryable %v", err, retry)
	}
}

func TestTargetFromSecret(t *testing.T) {
	ok := []struct {
		typ  string
		data map[string]string
	}{
		{Webhook, map[string]string{"address": "https://example.com/hook", "token": "t", "hmacKey": "k"}},
		{Slack, map[string]string{"address": "https://hooks.slack.com/services/A/B/C"}},
		{Email, map[string]string{"address": "smtp://mail:587", "from": "HAMA <hama@example.com>", "to": "a@example.com, b@example.com",
			"username": "u", "password": "p"}},
	}
	for _, tc := range ok {
		if _, err := TargetFromSecret(tc.typ, bytesMap(tc.data)); err != nil {
			t.Errorf("%s %v: %v", tc.typ, tc.data, err)
		}
	}
	bad := []struct {
		typ  string
		data map[string]string
		want string
	}{
		{Webhook, map[string]string{}, `no "address" key`},
		{Discord, map[string]string{"address": "ftp://x/y"}, "must be an http or https URL"},
		{Webhook, map[string]string{"address": "not a url"}, "not an absolute URL"},
		{Email, map[string]string{"address": "smtp://mail", "from": "a@b.c", "to": "d@e.f"}, "smtp://host:port"},
		{Email, map[string]string{"address": "smtp://mail:25", "to": "d@e.f"}, `"from" must be an email address`},
		{Email, map[string]string{"address": "smtp://mail:25", "from": "a@b.c"}, `no "to" key`},
		{Email, map[string]string{"address": "smtp://mail:25", "from": "a@b.c", "to": "d@e.f", "username": "u"}, `no "password"`},
	}
	for _, tc := range bad {
		_, err := TargetFromSecret(tc.typ, bytesMap(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: err = %v, want %q", tc.typ, tc.data, err, tc.want)
		}
	}
}

func bytesMap(m map[string]string) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out
}
