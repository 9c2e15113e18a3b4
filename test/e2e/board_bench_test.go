package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

// BenchmarkBoard1000Symbols: 1000 simulated symbols × 3 timeframes cached by the operator, the board
// opened in headless chromium. It reports how long the page takes to be usable and what the update
// stream sends when one symbol is rewritten and when all 1000 are (docs/performance.md).
func BenchmarkBoard1000Symbols(b *testing.B) {
	s, op := benchSystem(b)
	symbols := make([]string, 1000)
	for i := range symbols {
		symbols[i] = fmt.Sprintf("B%04dUSDT", i)
	}
	thousand := schedule("thousand", symbols, analysisv1alpha1.ExchangeSimulated, "")
	thousand.Spec.Timeframes = []analysisv1alpha1.Timeframe{"15m", "1h", "4h"}
	thousand.Spec.Concurrency = 16
	thousand.Spec.Interval = metav1.Duration{Duration: 10 * time.Minute}
	if err := s.kube.Create(context.Background(), thousand); err != nil {
		b.Fatal(err)
	}
	s.eventually("the 1000-symbol run completes", 5*time.Minute, func() error {
		if ok, reason := readyReason(s.get("thousand")); !ok {
			return fmt.Errorf("ready=%v %s", ok, reason)
		}
		return nil
	})
	board := "http://" + op.api + "/board/"

	// The page as the server renders it.
	start := time.Now()
	page, err := httpGet(board)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "server_render_ms")
	b.ReportMetric(float64(len(page))/1024, "page_KiB")
	if n := strings.Count(string(page), "<tr data-symbol="); n != 1000 {
		b.Fatalf("the page has %d rows, want 1000", n)
	}

	// In the browser: navigation to interactive, the stream connected, a filter and a sort.
	br := newBrowser(b)
	start = time.Now()
	br.run("opening the board", chromedp.Navigate(board))
	br.waitFor("the stream is live", `document.getElementById('live').dataset.state === 'live'`, 60*time.Second)
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "open_to_live_ms")
	nav := eval[map[string]float64](br, `(() => { const n = performance.getEntriesByType('navigation')[0];
		const fcp = performance.getEntriesByName('first-contentful-paint')[0];
		return {response: n.responseEnd, interactive: n.domInteractive, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd,
			fcp: fcp ? fcp.startTime : -1} })()`)
	b.ReportMetric(nav["response"], "response_end_ms")
	b.ReportMetric(nav["fcp"], "first_contentful_paint_ms")
	b.ReportMetric(nav["interactive"], "dom_interactive_ms")
	b.ReportMetric(nav["dcl"], "dom_content_loaded_ms")
	b.ReportMetric(nav["load"], "load_event_ms")
	filter := eval[float64](br, `(() => { const el = document.getElementById('filter-text'); const t0 = performance.now();
		el.value = 'B01'; el.dispatchEvent(new Event('input', {bubbles: true})); return performance.now() - t0 })()`)
	b.ReportMetric(filter, "filter_ms")
	if shown := eval[int](br, `document.querySelectorAll('#board tbody tr:not([hidden])').length`); shown != 100 {
		b.Fatalf("the filter B01 shows %d rows, want 100", shown)
	}
	sorted := eval[float64](br, `(() => { const th = document.querySelector('#board thead th[data-timeframe="1h"]'); const t0 = performance.now();
		th.click(); return performance.now() - t0 })()`)
	b.ReportMetric(sorted, "sort_ms")

	// The stream: a schedule that rewrites one of the symbols every 10 s, then a forced run of all.
	events := make(chan sseCount, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go countStream(ctx, board+"events?since="+time.Now().UTC().Format(time.RFC3339Nano), events)
	one := schedule("one", symbols[:1], analysisv1alpha1.ExchangeSimulated, "")
	one.Spec.Timeframes = thousand.Spec.Timeframes
	if err := s.kube.Create(context.Background(), one); err != nil {
		b.Fatal(err)
	}
	time.Sleep(25 * time.Second) // two or three runs of "one"
	cancel()
	c := <-events
	b.ReportMetric(float64(c.rows), "one_symbol_row_events")
	b.ReportMetric(float64(c.rowBytes)/float64(max(c.rows, 1)), "bytes_per_row_event")

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go countStream(ctx, board+"events?since="+time.Now().UTC().Format(time.RFC3339Nano), events)
	time.Sleep(2 * time.Second)
	s.update("thousand", func(o *analysisv1alpha1.AnalysisSchedule) {
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		o.Annotations[analysisv1alpha1.RefreshRequestedAtAnnotation] = time.Now().String()
	})
	time.Sleep(40 * time.Second)
	cancel()
	c = <-events
	b.ReportMetric(float64(c.rows), "full_run_row_events")
	b.ReportMetric(float64(c.rowBytes)/1024, "full_run_KiB")
	if errs := br.consoleErrors(); len(errs) > 0 {
		b.Errorf("the browser reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

type sseCount struct{ rows, rowBytes int }

// countStream counts the row events of a board stream until ctx ends.
func countStream(ctx context.Context, url string, out chan<- sseCount) {
	var c sseCount
	defer func() { out <- c }()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	row := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "event: row":
			row = true
			c.rows++
		case strings.HasPrefix(line, "data: ") && row:
			c.rowBytes += len(line)
		case line == "":
			row = false
		}
	}
}
