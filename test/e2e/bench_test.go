package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/cache/redistest"
)

// The system-level numbers of docs/performance.md; hack/bench.sh runs them. Each starts the whole
// system like TestWholeSystem and reports what it measured as benchmark metrics.

// BenchmarkRefresh1000Symbols: one schedule of 1000 symbols against a local exchange that answers
// each request after 50 ms, concurrency 16. The ideal is 1000 × 50 ms / 16 = 3.125 s when nothing
// else limits it; with the default weight budget (4800 per minute, 5 per request) the client
// paces itself to about a minute instead, which is the point of the budget.
func BenchmarkRefresh1000Symbols(b *testing.B) {
	b.Run("default-weight-budget", func(b *testing.B) { benchmarkRefresh1000(b) })
	b.Run("raised-weight-budget", func(b *testing.B) { benchmarkRefresh1000(b, "--exchange-weight-per-minute", "1000000") })
}

func benchmarkRefresh1000(b *testing.B, operatorArgs ...string) {
	s, op := benchSystem(b, operatorArgs...)
	s.exchange.mu.Lock()
	s.exchange.latency = 50 * time.Millisecond
	s.exchange.mu.Unlock()
	runThousand(b, s, analysisv1alpha1.ExchangeBinance, s.exchange.URL, "15m")
	took := s.get("thousand").Status.LastRunDuration.Duration
	b.ReportMetric(took.Seconds(), "run_s")
	b.ReportMetric(took.Seconds()/3.125, "x_ideal")
	b.ReportMetric(procMiB(b, op, "VmHWM:"), "operator_peak_rss_MiB")
}

// BenchmarkSchedules200: 200 schedules of 5 simulated symbols × 2 timeframes created at once, and
// the time until every one is Ready.
func BenchmarkSchedules200(b *testing.B) {
	s, op := benchSystem(b)
	ctx := context.Background()
	start := time.Now()
	for i := range 200 {
		syms := make([]string, 5)
		for j := range syms {
			syms[j] = fmt.Sprintf("K%03d%dUSDT", i, j)
		}
		obj := schedule(fmt.Sprintf("bench-%03d", i), syms, analysisv1alpha1.ExchangeSimulated, "")
		obj.Spec.Interval = metav1.Duration{Duration: 10 * time.Minute}
		if err := s.kube.Create(ctx, obj); err != nil {
			b.Fatal(err)
		}
	}
	s.eventually("all 200 schedules are Ready", 5*time.Minute, func() error {
		var list analysisv1alpha1.AnalysisScheduleList
		if err := s.kube.List(ctx, &list, client.InNamespace("default")); err != nil {
			return err
		}
		ready := 0
		for i := range list.Items {
			if ok, _ := readyReason(&list.Items[i]); ok {
				ready++
			}
		}
		if ready != 200 {
			return fmt.Errorf("%d ready", ready)
		}
		return nil
	})
	b.ReportMetric(time.Since(start).Seconds(), "all_ready_s")
	b.ReportMetric(procMiB(b, op, "VmHWM:"), "operator_peak_rss_MiB")
}

// runThousand creates the schedule "thousand" of the 1000 symbols B0000USDT … B0999USDT on the
// exchange, concurrency 16, a run every 10 minutes (so that only its first one is measured), and
// waits until that run completed. It returns the symbols.
func runThousand(b *testing.B, s *system, exchange analysisv1alpha1.Exchange, baseURL string,
	timeframes ...analysisv1alpha1.Timeframe) []string {
	symbols := make([]string, 1000)
	for i := range symbols {
		symbols[i] = fmt.Sprintf("B%04dUSDT", i)
	}
	obj := schedule("thousand", symbols, exchange, baseURL)
	obj.Spec.Timeframes = timeframes
	obj.Spec.Concurrency = 16
	obj.Spec.Interval = metav1.Duration{Duration: 10 * time.Minute}
	if err := s.kube.Create(context.Background(), obj); err != nil {
		b.Fatal(err)
	}
	s.eventually("the 1000-symbol run completes", 5*time.Minute, func() error {
		if ok, reason := readyReason(s.get("thousand")); !ok {
			return fmt.Errorf("ready=%v %s", ok, reason)
		}
		return nil
	})
	return symbols
}

func benchSystem(b *testing.B, operatorArgs ...string) (*system, *operator) {
	if b.N > 1 {
		b.Skip("a system benchmark runs once: use -benchtime=1x")
	}
	s := startSystem(b)
	redisServer := redistest.Start(b)
	s.redisAddr = redisServer.Addr()
	return s, s.startOperator("bench-operator", append([]string{"--max-concurrent-runs", "8"}, operatorArgs...)...)
}
