package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

const interval = 10 * time.Second

func schedule(name string, symbols []string, exchange analysisv1alpha1.Exchange, baseURL string) *analysisv1alpha1.AnalysisSchedule {
	s := &analysisv1alpha1.AnalysisSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: analysisv1alpha1.AnalysisScheduleSpec{
			Interval:   metav1.Duration{Duration: interval},
			Timeframes: []analysisv1alpha1.Timeframe{"15m", "1h"},
			Source:     analysisv1alpha1.SourceSpec{Exchange: exchange, BaseURL: baseURL},
		},
	}
	for _, sym := range symbols {
		s.Spec.Symbols = append(s.Spec.Symbols, analysisv1alpha1.Symbol(sym))
	}
	return s
}

func (s *system) get(name string) *analysisv1alpha1.AnalysisSchedule {
	obj := &analysisv1alpha1.AnalysisSchedule{}
	if err := s.kube.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, obj); err != nil {
		s.t.Fatal(err)
	}
	return obj
}

func (s *system) update(name string, change func(*analysisv1alpha1.AnalysisSchedule)) {
	s.eventually("updating "+name, 10*time.Second, func() error {
		obj := s.get(name)
		change(obj)
		return s.kube.Update(context.Background(), obj)
	})
}

func readyReason(obj *analysisv1alpha1.AnalysisSchedule) (bool, string) {
	c := meta.FindStatusCondition(obj.Status.Conditions, analysisv1alpha1.ConditionReady)
	if c == nil {
		return false, ""
	}
	return c.Status == metav1.ConditionTrue && c.ObservedGeneration == obj.Generation, c.Reason
}

func TestWholeSystem(t *testing.T) {
	ctx := context.Background()
	s, redisServer, raw := startSystemWithRedis(t)
	op := s.startOperator("operator-1")

	var simSymbols []string
	for i := 1; i <= 20; i++ {
		simSymbols = append(simSymbols, fmt.Sprintf("S%02dUSDT", i))
	}
	exSymbols := []string{"BTCUSDT", "ETHUSDT", "XRPUSDT", "LTCUSDT"}
	for _, obj := range []*analysisv1alpha1.AnalysisSchedule{
		schedule("simulated", simSymbols, analysisv1alpha1.ExchangeSimulated, ""),
		schedule("exchange", exSymbols, analysisv1alpha1.ExchangeBinance, s.exchange.URL),
	} {
		if err := s.kube.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"simulated", "exchange"} {
		s.eventually(name+" is Ready", 60*time.Second, func() error {
			if ok, reason := readyReason(s.get(name)); !ok {
				return fmt.Errorf("ready=%v reason=%s", ok, reason)
			}
			return nil
		})
	}

	t.Run("every symbol reads through the REST API from Redis", func(t *testing.T) {
		for _, sym := range append(append([]string{}, simSymbols...), exSymbols...) {
			code, env, err := post("http://"+op.api+"/api/gainer-analysis/analyze-symbol", `{"symbol":"`+sym+`"}`)
			var data struct {
				Timeframes  map[string]json.RawMessage `json:"timeframes"`
				Cached      bool                       `json:"cached"`
				CacheSource string                     `json:"cache_source"`
			}
			if err != nil || code != 200 || json.Unmarshal(env.Data, &data) != nil {
				t.Fatalf("%s: %d %v %s", sym, code, err, env.Msg)
			}
			if !data.Cached || data.CacheSource != "redis" || len(data.Timeframes) != 2 {
				t.Fatalf("%s: cached=%v source=%s timeframes=%d", sym, data.Cached, data.CacheSource, len(data.Timeframes))
			}
		}
	})

	t.Run("keys and TTLs in Redis", func(t *testing.T) {
		keys, err := raw.Keys(ctx, "hama:analysis:*").Result()
		if err != nil || len(keys) != 24 {
			t.Fatalf("%d keys in Redis (%v), want 24", len(keys), err)
		}
		ttl := raw.TTL(ctx, "hama:analysis:S01USDT").Val()
		if ttl <= 0 || ttl > 3*interval {
			t.Fatalf("TTL %s, want up to three intervals (the default)", ttl)
		}
		v := raw.Get(ctx, "hama:analysis:BTCUSDT").Val()
		if !strings.Contains(v, `"source":"binance"`) || !strings.Contains(v, `"1h":`) {
			t.Fatalf("cached document %.300s", v)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		wantPositive(t, op, []metricSeries{
			{"hama_refresh_runs_total", []string{`schedule="simulated"`, `result="success"`}},
			{"hama_upstream_requests_total", []string{`exchange="binance"`, `code="200"`}},
			{"hama_cache_backend_up", nil},
			{"hama_symbol_analyses_total", []string{`result="success"`}},
			{"hama_cache_requests_total", []string{`backend="redis"`, `result="hit"`}},
		})
	})

	t.Run("manual refresh by annotation", func(t *testing.T) {
		s.update("exchange", func(o *analysisv1alpha1.AnalysisSchedule) {
			o.Annotations = map[string]string{analysisv1alpha1.RefreshRequestedAtAnnotation: "e2e-1"}
		})
		s.eventually("the request is handled", 20*time.Second, func() error {
			if got := s.get("exchange").Status.LastHandledRefreshAt; got != "e2e-1" {
				return fmt.Errorf("lastHandledRefreshAt=%q", got)
			}
			return nil
		})
	})

	t.Run("Redis killed during a stream of reads", func(t *testing.T) {
		var failures, reads atomic.Int32
		var stop atomic.Bool
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					sym := simSymbols[(g+i)%len(simSymbols)]
					code, _, err := post("http://"+op.api+"/api/gainer-analysis/analyze-symbol", `{"symbol":"`+sym+`"}`)
					reads.Add(1)
					if err != nil || code != 200 {
						failures.Add(1)
					}
				}
			}()
		}
		readsSince := func(what string, from int32) {
			s.eventually(what, 30*time.Second, func() error {
				if n := reads.Load() - from; n < 100 {
					return fmt.Errorf("%d reads", n)
				}
				return nil
			})
		}
		readsSince("reads are flowing", 0)
		redisServer.Kill()
		s.eventually("the operator notices Redis is gone", 30*time.Second, func() error {
			_, env, err := post("http://"+op.api+"/api/gainer-analysis/analyze-symbol", `{"symbol":"S01USDT"}`)
			if err != nil || strings.Contains(string(env.Data), `"cache_source":"redis"`) {
				return fmt.Errorf("%v %.200s", err, env.Data)
			}
			return nil
		})
		readsSince("reads go on without Redis", reads.Load())
		stop.Store(true)
		wg.Wait()
		if failures.Load() != 0 || reads.Load() < 100 {
			t.Fatalf("%d of %d reads failed while Redis died", failures.Load(), reads.Load())
		}
		redisServer.Restart()
		s.eventually("the operator serves from Redis again", 30*time.Second, func() error {
			_, env, err := post("http://"+op.api+"/api/gainer-analysis/analyze-symbol", `{"symbol":"S01USDT"}`)
			if err != nil || !strings.Contains(string(env.Data), `"cache_source":"redis"`) {
				return fmt.Errorf("%v %.200s", err, env.Data)
			}
			return nil
		})
		s.eventually("every key is back in Redis", 30*time.Second, func() error {
			if n := len(raw.Keys(ctx, "hama:analysis:*").Val()); n != 24 {
				return fmt.Errorf("%d keys", n)
			}
			return nil
		})
	})

	t.Run("exchange faults are reported and the last good values served", func(t *testing.T) {
		s.exchange.setFault("ETHUSDT", "429")
		s.exchange.setFault("XRPUSDT", "500")
		s.exchange.setFault("LTCUSDT", "garbage")
		defer func() {
			for _, sym := range []string{"ETHUSDT", "XRPUSDT", "LTCUSDT"} {
				s.exchange.setFault(sym, "")
			}
		}()
		s.update("exchange", func(o *analysisv1alpha1.AnalysisSchedule) {
			o.Annotations[analysisv1alpha1.RefreshRequestedAtAnnotation] = "e2e-faults"
		})
		s.eventually("the failures are in the status", 60*time.Second, func() error {
			o := s.get("exchange")
			if o.Status.LastHandledRefreshAt != "e2e-faults" {
				return fmt.Errorf("not run yet")
			}
			reasons := map[string]string{}
			for _, f := range o.Status.FailedSymbols {
				reasons[f.Symbol] = f.Reason
			}
			if reasons["ETHUSDT"] != "RateLimited" || reasons["XRPUSDT"] != "UpstreamUnavailable" || reasons["LTCUSDT"] != "BadResponse" {
				return fmt.Errorf("failed symbols %v", reasons)
			}
			if ok, reason := readyReason(o); ok || reason != "SymbolsFailed" {
				return fmt.Errorf("ready=%v reason=%s", ok, reason)
			}
			return nil
		})
		code, env, err := post("http://"+op.api+"/api/gainer-analysis/analyze-symbol", `{"symbol":"LTCUSDT"}`)
		if err != nil || code != 200 || !strings.Contains(string(env.Data), `"cached":true`) {
			t.Fatalf("the last good LTCUSDT result is not served: %d %v %.200s", code, err, env.Data)
		}
	})

	var op2 *operator
	t.Run("operator killed and restarted resumes on time without double runs", func(t *testing.T) {
		before := s.get("simulated").Status.LastRunTime.Time
		op.kill()
		op = s.startOperator("operator-1-restarted")
		s.eventually("runs resume", 60*time.Second, func() error {
			if last := s.get("simulated").Status.LastRunTime.Time; !last.After(before) {
				return fmt.Errorf("last run still %s", last)
			}
			return nil
		})
		first := s.get("simulated").Status.LastRunTime.Time
		var second time.Time
		s.eventually("the next run", 3*interval, func() error {
			if second = s.get("simulated").Status.LastRunTime.Time; !second.After(first) {
				return fmt.Errorf("last run still %s", second)
			}
			return nil
		})
		if gap := second.Sub(first); gap < interval-time.Second || gap > 2*interval {
			t.Fatalf("runs %s apart after the restart, want about %s", gap, interval)
		}
	})

	t.Run("two replicas: one refreshes, both serve", func(t *testing.T) {
		leaderRuns := func() float64 {
			m, _ := httpGet("http://" + op.metrics + "/metrics")
			return metricValue(m, "hama_refresh_runs_total")
		}
		op2 = s.startOperator("operator-2")
		// Both schedules come due at least once while the standby is up.
		before := leaderRuns()
		s.eventually("the leader refreshes both schedules again", 3*interval, func() error {
			if n := leaderRuns() - before; n < 2 {
				return fmt.Errorf("%v runs since the standby started", n)
			}
			return nil
		})
		m2, _ := httpGet("http://" + op2.metrics + "/metrics")
		if r2 := metricValue(m2, "hama_refresh_runs_total"); r2 != 0 {
			t.Fatalf("the standby ran %v refreshes; want only the leader to refresh", r2)
		}
		code, env, err := post("http://"+op2.api+"/api/gainer-analysis/analyze-symbol", `{"symbol":"S05USDT"}`)
		if err != nil || code != 200 || !strings.Contains(string(env.Data), `"cache_source":"redis"`) {
			t.Fatalf("the standby does not serve: %d %v %.200s", code, err, env.Data)
		}
	})

	t.Run("suspend stops the runs", func(t *testing.T) {
		due := s.get("simulated").Status.NextRunTime.Time
		s.update("simulated", func(o *analysisv1alpha1.AnalysisSchedule) { o.Spec.Suspend = true })
		s.eventually("suspended", 20*time.Second, func() error {
			if o := s.get("simulated"); o.Status.NextRunTime != nil || o.Status.ObservedGeneration != o.Generation {
				return fmt.Errorf("next run %v", o.Status.NextRunTime)
			}
			return nil
		})
		last := s.get("simulated").Status.LastRunTime.Time
		// The other schedule running after the suspended one's planned time shows that time has come.
		s.eventually("the leader runs past the suspended schedule's planned time", 3*interval, func() error {
			if ran := s.get("exchange").Status.LastRunTime.Time; !ran.After(due.Add(2 * time.Second)) {
				return fmt.Errorf("exchange last ran %s, the suspended run was due %s", ran, due)
			}
			return nil
		})
		if now := s.get("simulated").Status.LastRunTime.Time; !now.Equal(last) {
			t.Fatalf("a suspended schedule ran at %s", now)
		}
	})

	t.Run("deletion removes the keys", func(t *testing.T) {
		if err := s.kube.Delete(ctx, schedule("simulated", nil, "", "")); err != nil {
			t.Fatal(err)
		}
		s.eventually("the simulated symbols' keys are gone", 30*time.Second, func() error {
			if n := raw.Exists(ctx, "hama:analysis:S01USDT", "hama:analysis:S20USDT").Val(); n != 0 {
				return fmt.Errorf("%d keys left", n)
			}
			return nil
		})
		if n := raw.Exists(ctx, "hama:analysis:BTCUSDT").Val(); n != 1 {
			t.Fatal("the other schedule's key went too")
		}
	})
}
