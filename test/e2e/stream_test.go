package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/market/binance/binancetest"
)

// closeTimeOf reads the candle close time of symbol's tf result from Redis; zero when absent.
func closeTimeOf(raw *redis.Client, symbol, tf string) time.Time {
	v, err := raw.Get(context.Background(), "hama:analysis:"+symbol).Bytes()
	if err != nil {
		return time.Time{}
	}
	var doc struct {
		Timeframes map[string]struct {
			CandleCloseTime time.Time `json:"candle_close_time"`
		} `json:"timeframes"`
	}
	if json.Unmarshal(v, &doc) != nil {
		return time.Time{}
	}
	return doc.Timeframes[tf].CandleCloseTime
}

// TestStreamMode runs a stream-mode schedule against an exchange of the test's own (REST and
// WebSocket): every candle close reaches Redis and the REST API, the status shows the stream, and a
// killed connection heals without losing a candle. The time from each close to Redis is logged;
// docs/performance.md measures it under load.
func TestStreamMode(t *testing.T) {
	s, _, raw := startSystemWithRedis(t)
	ex := binancetest.New(time.Time{})
	t.Cleanup(ex.Close)
	op := s.startOperator("operator-1")

	symbols := []string{"BTCUSDT", "ETHUSDT", "SOLUSDT"}
	obj := schedule("streamed", symbols, analysisv1alpha1.ExchangeBinance, ex.URL)
	obj.Spec.Timeframes = []analysisv1alpha1.Timeframe{"1m", "5m"}
	obj.Spec.Source.Mode = analysisv1alpha1.ModeStream
	obj.Spec.Source.StreamURL = ex.StreamURL
	if err := s.kube.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	s.eventually("the schedule is Ready and streaming", 60*time.Second, func() error {
		got := s.get("streamed")
		ready, reason := readyReason(got)
		c := meta.FindStatusCondition(got.Status.Conditions, analysisv1alpha1.ConditionStreaming)
		if !ready || c == nil || c.Status != metav1.ConditionTrue || got.Status.Stream == nil || got.Status.Stream.Streams != 6 {
			return fmt.Errorf("ready=%v (%s), streaming %+v, stream %+v", ready, reason, c, got.Status.Stream)
		}
		return nil
	})
	s.eventually("the exchange carries 6 streams", 10*time.Second, func() error {
		if st := ex.Stats(); st.Streams != 6 || st.Connections != 1 {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	start := ex.Now()
	for _, sym := range symbols {
		if got := closeTimeOf(raw, sym, "5m"); !got.Equal(start.Add(-time.Millisecond)) {
			t.Fatalf("%s 5m backfilled up to %s, want the candle closing at %s", sym, got, start)
		}
	}

	// waitClose waits for every symbol's 1m result to be the candle closing at close, and returns how
	// long the slowest took from the exchange's push.
	waitClose := func(close time.Time, pushed time.Time) time.Duration {
		t.Helper()
		want := close.Add(-time.Millisecond)
		var slowest time.Duration
		for _, sym := range symbols {
			deadline := time.Now().Add(30 * time.Second)
			for !closeTimeOf(raw, sym, "1m").Equal(want) {
				if time.Now().After(deadline) {
					t.Fatalf("%s 1m never reached the candle closing at %s (has %s)", sym, close, closeTimeOf(raw, sym, "1m"))
				}
				time.Sleep(2 * time.Millisecond)
			}
			slowest = max(slowest, time.Since(pushed))
		}
		return slowest
	}

	t.Run("each candle close reaches Redis and the REST API", func(t *testing.T) {
		for i := 1; i <= 5; i++ {
			pushed := time.Now()
			ex.Advance(time.Minute)
			took := waitClose(start.Add(time.Duration(i)*time.Minute), pushed)
			t.Logf("close %d: all %d symbols in Redis %s after the push", i, len(symbols), took.Round(time.Millisecond))
		}
		close5m := start.Add(5 * time.Minute).Add(-time.Millisecond)
		body, err := httpGet("http://" + op.api + "/api/v1/analysis/ETHUSDT?timeframe=5m")
		if err != nil {
			t.Fatal(err)
		}
		var env envelope
		var res struct {
			CandleCloseTime time.Time `json:"candle_close_time"`
			Source          string    `json:"source"`
		}
		if json.Unmarshal(body, &env) != nil || json.Unmarshal(env.Data, &res) != nil || !res.CandleCloseTime.Equal(close5m) || res.Source != "binance" {
			t.Fatalf("REST API answered %.300s, want the 5m candle closing at %s", body, close5m)
		}
	})

	t.Run("the status shows the stream", func(t *testing.T) {
		s.eventually("the status shows the last close", 30*time.Second, func() error {
			st := s.get("streamed").Status.Stream
			if st == nil || st.Connections != 1 || st.LastMessageTime == nil || st.LastCloseTime == nil || st.LastLag == nil {
				return fmt.Errorf("status.stream %+v", st)
			}
			return nil
		})
	})

	t.Run("a killed connection heals without losing a candle", func(t *testing.T) {
		ex.DropConnections()
		ex.Advance(time.Minute) // closes while nobody listens: healed over REST after the reconnect
		waitClose(start.Add(6*time.Minute), time.Now())
		s.eventually("reconnected", 30*time.Second, func() error {
			got := s.get("streamed")
			c := meta.FindStatusCondition(got.Status.Conditions, analysisv1alpha1.ConditionStreaming)
			if c == nil || c.Status != metav1.ConditionTrue || got.Status.Stream.Reconnects < 1 {
				return fmt.Errorf("streaming %+v, stream %+v", c, got.Status.Stream)
			}
			return nil
		})
		pushed := time.Now()
		ex.Advance(time.Minute)
		t.Logf("after the reconnect: all symbols in Redis %s after the push", waitClose(start.Add(7*time.Minute), pushed).Round(time.Millisecond))

		wantPositive(t, op, []metricSeries{
			{"hama_stream_connections", nil},
			{"hama_stream_messages_total", []string{`kind="closed"`}},
			{"hama_stream_reconnects_total", nil},
			{"hama_stream_close_to_cache_seconds_count", nil},
		})
	})
}
