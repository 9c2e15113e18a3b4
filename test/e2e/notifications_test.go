package e2e

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/dispatch"
	"github.com/hama-operator/hama-operator/internal/notify"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// webhookReceiver is a generic webhook receiver: it checks each request's signature and records
// the accepted notifications by path (one path per alert). While down it drops every connection
// unanswered, as a receiver that went away does.
type webhookReceiver struct {
	*httptest.Server
	key      []byte
	down     atomic.Bool
	refused  atomic.Int64 // attempts while down
	mu       sync.Mutex
	accepted map[string][]string // path → event ids, in arrival order
	badSigs  int
}

func newWebhookReceiver(t *testing.T, key []byte) *webhookReceiver {
	r := &webhookReceiver{key: key, accepted: map[string][]string{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			r.refused.Add(1)
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				_ = conn.Close()
			}
			return
		}
		body, _ := io.ReadAll(req.Body)
		var m notify.Message
		if err := json.Unmarshal(body, &m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.URL.Path == "/signed" && !hmac.Equal([]byte(req.Header.Get(notify.SignatureHeader)), []byte(notify.Sign(r.key, body))) {
			r.badSigs++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.accepted[req.URL.Path] = append(r.accepted[req.URL.Path], m.ID)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *webhookReceiver) got(path string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.accepted[path])
}

// The whole system delivers signal events of a market that keeps crossing: two replicas (one
// delivers), the receiver down for a minute while the leader is killed with -9 with deliveries
// pending, then the standby that took over is killed too (both restarted), then the receiver is
// back. Afterwards every crossing event of the history has reached the alert exactly
// once, signed; the alert with a cooldown got one per symbol, timeframe and kind; the alert whose
// Secret is missing says SecretNotFound and changes nothing for the others.
func TestNotificationsDeliveredOnceThroughOutagesAndLeaderChanges(t *testing.T) {
	ctx := context.Background()
	s, _, raw := startSystemWithRedis(t)
	ex := newWaveExchange(t, 0)
	recv := newWebhookReceiver(t, []byte("hmac-key"))
	flags := []string{"--leader-election-lease-duration", "3s", "--leader-election-renew-deadline", "2s",
		"--leader-election-retry-period", "500ms", "--notify-initial-backoff", "500ms", "--notify-max-backoff", "4s"}
	ops := []*operator{s.startOperator("notify-a", flags...), s.startOperator("notify-b", flags...)}

	obj := schedule("waves", []string{"W01USDT", "W02USDT", "W03USDT"}, analysisv1alpha1.ExchangeBinance, ex.URL)
	obj.Spec.Timeframes = []analysisv1alpha1.Timeframe{"15m"}
	obj.Spec.Candles = 450
	if err := s.kube.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]map[string]string{
		"signed-hook":   {"address": recv.URL + "/signed", "hmacKey": "hmac-key", "token": "t0k"},
		"cooldown-hook": {"address": recv.URL + "/cooldown"},
	} {
		if err := s.kube.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, StringData: data}); err != nil {
			t.Fatal(err)
		}
	}
	alert := func(name, secret string, cooldown time.Duration) *analysisv1alpha1.SignalAlert {
		return &analysisv1alpha1.SignalAlert{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: analysisv1alpha1.SignalAlertSpec{Schedules: []string{"waves"}, Cooldown: &metav1.Duration{Duration: cooldown},
				Events:   []analysisv1alpha1.SignalEvent{"crossUp", "crossDown"},
				Provider: analysisv1alpha1.NotificationProvider{Type: analysisv1alpha1.ProviderWebhook, SecretRef: &analysisv1alpha1.SecretReference{Name: secret}}}}
	}
	for _, a := range []*analysisv1alpha1.SignalAlert{alert("signed", "signed-hook", 0), alert("cooldown", "cooldown-hook", time.Hour),
		alert("no-secret", "missing-hook", 0)} {
		if err := s.kube.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}

	crossings := func() []signals.Event {
		entries, err := raw.XRange(ctx, signals.StreamKey, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		var out []signals.Event
		for _, m := range entries {
			e, err := signals.DecodeEntry(m)
			if err != nil {
				t.Fatal(err)
			}
			if e.Kind == signals.CrossUp || e.Kind == signals.CrossDown {
				out = append(out, e)
			}
		}
		return out
	}
	s.eventually("the first crosses are delivered", 90*time.Second, func() error {
		if n := len(recv.got("/signed")); n < 2 {
			return fmt.Errorf("%d delivered", n)
		}
		return nil
	})

	// The receiver goes away for a minute. Once deliveries are failing (pending in Redis), the
	// leader is killed with -9 and restarted; the standby takes over meanwhile.
	recv.down.Store(true)
	downSince := time.Now()
	s.eventually("a delivery fails while the receiver is down", 60*time.Second, func() error {
		if recv.refused.Load() == 0 {
			return fmt.Errorf("no attempt yet")
		}
		return nil
	})
	leader := leaderOf(t, s, ops)
	ops[leader].kill()
	ops[leader] = s.startOperator(ops[leader].name+"-restarted", flags...)
	// The standby took over (the restarted replica has not refreshed yet): kill it too, so that
	// what was pending is delivered by restarted processes only.
	leader = leaderOf(t, s, ops)
	ops[leader].kill()
	ops[leader] = s.startOperator(ops[leader].name+"-restarted", flags...)
	time.Sleep(time.Until(downSince.Add(time.Minute)))
	recv.down.Store(false)

	// No more events: the schedule stops, and every crossing recorded must arrive.
	patch := client.MergeFrom(obj.DeepCopy())
	obj.Spec.Suspend = true
	if err := s.kube.Patch(ctx, obj, patch); err != nil {
		t.Fatal(err)
	}
	// A run under way when the schedule was suspended appends its events before the leader's next
	// reconcile marks the schedule suspended, and no replica holds events waiting for Redis.
	s.eventually("the suspension is observed and every event is in the history", 60*time.Second, func() error {
		var got analysisv1alpha1.AnalysisSchedule
		if err := s.kube.Get(ctx, client.ObjectKeyFromObject(obj), &got); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(got.Status.Conditions, analysisv1alpha1.ConditionReady); c == nil ||
			c.Reason != "Suspended" || got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("generation %d, observed %d, ready %+v", got.Generation, got.Status.ObservedGeneration, c)
		}
		for _, o := range ops {
			m, err := httpGet("http://" + o.metrics + "/metrics")
			if err != nil {
				return err
			}
			if n := metricValue(m, "hama_signal_events_waiting"); n != 0 {
				return fmt.Errorf("%s holds %v events waiting for Redis", o.name, n)
			}
		}
		return nil
	})
	store := dispatch.NewStore(raw, "e2e-probe")
	s.eventually("every delivery is settled", 90*time.Second, func() error {
		if n, err := store.Backlog(ctx); err != nil || n > 0 {
			return fmt.Errorf("backlog %d: %v", n, err)
		}
		return nil
	})

	events := crossings()
	want := make([]string, 0, len(events))
	for _, e := range events {
		want = append(want, e.ID)
	}
	got := recv.got("/signed")
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("the signed alert got %d notifications, want each of the %d crossings once:\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	if recv.badSigs > 0 {
		t.Errorf("%d notifications with a bad signature", recv.badSigs)
	}
	t.Logf("%d crossings, each delivered once; %d attempts refused during the outage", len(want), recv.refused.Load())

	// The cooldown (an hour) lets one notification per symbol, timeframe and kind through.
	firstOf := map[string]bool{}
	for _, e := range events {
		firstOf[e.Symbol+"/"+e.Timeframe+"/"+string(e.Kind)] = true
	}
	if n := len(recv.got("/cooldown")); n != len(firstOf) {
		t.Errorf("the cooldown alert got %d notifications, want %d (one per symbol, timeframe and kind)", n, len(firstOf))
	}

	// Status: counts from the delivery state; the alert without its Secret says so.
	s.eventually("the alerts' status", 30*time.Second, func() error {
		var signed, missing analysisv1alpha1.SignalAlert
		if err := s.kube.Get(ctx, client.ObjectKey{Namespace: "default", Name: "signed"}, &signed); err != nil {
			return err
		}
		if err := s.kube.Get(ctx, client.ObjectKey{Namespace: "default", Name: "no-secret"}, &missing); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(signed.Status.Conditions, "Ready"); c == nil || c.Status != metav1.ConditionTrue ||
			signed.Status.Deliveries.Sent != int64(len(want)) || signed.Status.Deliveries.Failed != 0 {
			return fmt.Errorf("signed: %+v %+v", signed.Status.Deliveries, signed.Status.Conditions)
		}
		if c := meta.FindStatusCondition(missing.Status.Conditions, "Ready"); c == nil || c.Reason != "SecretNotFound" {
			return fmt.Errorf("no-secret: %+v", missing.Status.Conditions)
		}
		return nil
	})
}

// leaderOf is the replica that delivers: the one whose process holds the lease, as its refresh
// counter shows.
func leaderOf(t *testing.T, s *system, ops []*operator) int {
	t.Helper()
	var idx int
	s.eventually("one replica leads", 30*time.Second, func() error {
		found := 0
		for i, o := range ops {
			if m, err := httpGet("http://" + o.metrics + "/metrics"); err == nil && metricValue(m, "hama_refresh_runs_total") > 0 {
				idx, found = i, found+1
			}
		}
		if found != 1 {
			return fmt.Errorf("%d replicas have refreshed", found)
		}
		return nil
	})
	return idx
}
