package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// waveExchange speaks Binance's klines format with a fast market: one more closed 15m candle every
// real second, on a wave that crosses, flips colour and squeezes every few dozen candles, so that
// every refresh finds new signals. inFlight and served let a test kill an operator mid-run.
type waveExchange struct {
	*httptest.Server
	start    time.Time // when bar first closed
	first    int64
	inFlight atomic.Int64
	served   atomic.Int64
}

func newWaveExchange(t *testing.T, latency time.Duration) *waveExchange {
	e := &waveExchange{start: time.Now(), first: 1000}
	// Bar k opens at anchor + k·15m; the anchor is far enough back that every bar of the test has
	// closed by the real clock, which the client checks.
	anchor := e.start.Add(-time.Duration(e.first+5000) * 15 * time.Minute).Truncate(15 * time.Minute)
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.inFlight.Add(1)
		defer e.inFlight.Add(-1)
		time.Sleep(latency)
		symbol := r.URL.Query().Get("symbol")
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		var phase float64 // each symbol its own wave
		for _, c := range symbol {
			phase += float64(c)
		}
		last := e.first + int64(time.Since(e.start)/time.Second)
		var b strings.Builder
		b.WriteString("[")
		for k := last - int64(limit) + 1; k <= last; k++ {
			if b.Len() > 1 {
				b.WriteString(",")
			}
			x := float64(k)
			p := 100 + 2*math.Sin(x/37*2*math.Pi+phase) + 1.2*math.Sin(x/101*2*math.Pi+phase) + 3*math.Sin(x/700*2*math.Pi+phase)
			open := anchor.Add(time.Duration(k) * 15 * time.Minute)
			fmt.Fprintf(&b, `[%d,"%.6f","%.6f","%.6f","%.6f","10",%d,"1000",1,"1","1","0"]`,
				open.UnixMilli(), p-0.1, p+0.4, p-0.4, p+0.1, open.Add(15*time.Minute).UnixMilli()-1)
		}
		b.WriteString("]")
		w.Header().Set("X-MBX-USED-WEIGHT-1M", "10")
		_, _ = w.Write([]byte(b.String()))
		e.served.Add(1)
	}))
	t.Cleanup(e.Close)
	return e
}

// midRun waits until a refresh is under way with some of its symbols done, so that a kill lands
// in the middle of a run.
func (e *waveExchange) midRun(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if e.inFlight.Load() > 0 {
			before := e.served.Load()
			for e.served.Load() < before+3 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if e.inFlight.Load() > 0 {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no refresh was under way within 30s")
}

// Two replicas, the leader killed with -9 in the middle of a run and restarted, then the new
// leader killed mid-run too (the leadership changes twice): the history holds each signal once,
// events keep coming after each change, and every replica serves the same history.
func TestSignalsOnceAcrossKillsAndLeaderChanges(t *testing.T) {
	ctx := context.Background()
	s, _, raw := startSystemWithRedis(t)
	ex := newWaveExchange(t, 100*time.Millisecond)
	fastLease := []string{"--leader-election-lease-duration", "3s", "--leader-election-renew-deadline", "2s",
		"--leader-election-retry-period", "500ms"}
	ops := []*operator{s.startOperator("signals-a", fastLease...), s.startOperator("signals-b", fastLease...)}

	symbols := make([]string, 0, 16)
	for i := range 16 {
		symbols = append(symbols, fmt.Sprintf("W%02dUSDT", i))
	}
	obj := schedule("waves", symbols, analysisv1alpha1.ExchangeBinance, ex.URL)
	obj.Spec.Timeframes = []analysisv1alpha1.Timeframe{"15m"}
	obj.Spec.Candles = 450
	obj.Spec.Concurrency = 2 // 16 symbols × 100 ms / 2: a run lasts about a second
	obj.Spec.Interval = metav1.Duration{Duration: interval}
	if err := s.kube.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}

	streamLen := func() int64 { return raw.XLen(ctx, signals.StreamKey).Val() }
	moreEvents := func(what string) {
		t.Helper()
		before := streamLen()
		s.eventually(what, 60*time.Second, func() error {
			if n := streamLen(); n <= before {
				return fmt.Errorf("%d events, none since %d", n, before)
			}
			return nil
		})
	}

	moreEvents("the first signals")
	for round := range 2 {
		i := leaderOf(t, s, ops)
		ex.midRun(t)
		ops[i].kill()
		ops[i] = s.startOperator(fmt.Sprintf("%s-restart-%d", ops[i].name, round), fastLease...)
		moreEvents(fmt.Sprintf("signals after leader change %d", round+1))
	}
	// One more run after the last change.
	moreEvents("signals of the next run")

	entries, err := raw.XRange(ctx, signals.StreamKey, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(entries))
	seen := map[string]string{}
	for _, m := range entries {
		e, err := signals.DecodeEntry(m)
		if err != nil {
			t.Fatal(err)
		}
		if first, dup := seen[e.ID]; dup {
			t.Fatalf("signal %s is in the history twice: entries %s and %s", e.ID, first, m.ID)
		}
		seen[e.ID] = m.ID
		if e.Namespace != "default" || e.Schedule != "waves" || e.Price <= 0 {
			t.Fatalf("entry %+v", e)
		}
		ids = append(ids, e.ID)
	}
	t.Logf("%d signals, each once, across two kills mid-run and two leader changes", len(ids))
	slices.Sort(ids)
	for _, o := range ops {
		b, err := httpGet("http://" + o.api + "/api/v1/signals?limit=1000")
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Data struct {
				Signals []signals.Event `json:"signals"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		served := make([]string, 0, len(env.Data.Signals))
		for _, e := range env.Data.Signals {
			served = append(served, e.ID)
		}
		slices.Sort(served)
		// A run may have appended since the XRANGE: the replica serves at least what it read.
		for _, id := range ids {
			if _, ok := slices.BinarySearch(served, id); !ok {
				t.Fatalf("%s does not serve %s", o.name, id)
			}
		}
		if len(slices.Compact(served)) != len(env.Data.Signals) {
			t.Fatalf("%s serves a signal twice", o.name)
		}
		// The chart written with the same analyses, from every replica.
		b, err = httpGet("http://" + o.api + "/api/v1/analysis/W03USDT/series?timeframe=15m&bars=50")
		if err != nil {
			t.Fatal(err)
		}
		var chart struct {
			Data struct {
				CandleCloseTime time.Time `json:"candle_close_time"`
				Time            []int64   `json:"time"`
				HAMAClose       []float64 `json:"hama_close"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &chart); err != nil || len(chart.Data.Time) != 50 || len(chart.Data.HAMAClose) != 50 ||
			!time.Unix(chart.Data.Time[49], 0).Add(15*time.Minute-time.Millisecond).Equal(chart.Data.CandleCloseTime) {
			t.Fatalf("%s's chart of W03USDT: %v %.300s", o.name, err, b)
		}
	}
}
