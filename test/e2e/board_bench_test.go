package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

// BenchmarkBoard1000Symbols: 1000 simulated symbols × 3 timeframes cached by the operator, the board
// opened in headless chromium. It reports how long the page takes to be usable and what the update
// stream sends when one symbol is rewritten and when all 1000 are (docs/performance.md).
func BenchmarkBoard1000Symbols(b *testing.B) {
	s, op := benchSystem(b)
	timeframes := []analysisv1alpha1.Timeframe{"15m", "1h", "4h"}
	symbols := runThousand(b, s, analysisv1alpha1.ExchangeSimulated, "", timeframes...)
	board := "http://" + op.api + "/board/"

	// The page as the server renders it: first when the board has not read the run's documents yet
	// (it decodes all 1000 and renders their rows), then again (rows kept from the first read).
	for _, phase := range []string{"cold", "warm"} {
		start := time.Now()
		page, err := httpGet(board)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "server_render_"+phase+"_ms")
		if n := strings.Count(string(page), "<tr data-symbol="); n != 1000 {
			b.Fatalf("the page has %d rows, want 1000", n)
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
		_, _ = zw.Write(page)
		_ = zw.Close()
		b.ReportMetric(float64(len(page))/1024, "page_KiB")
		b.ReportMetric(float64(gz.Len())/1024, "page_gzip_KiB")
	}

	// In the browser: five loads of the page (the first in a freshly started chromium), each timed by
	// the browser (navigation timing, first
	// contentful paint, and the page's own "board-usable" mark: the first frame after the whole table
	// is in the page and the sort and filter controls are bound), then a filter and a sort.
	br := newBrowser(b)
	const loads = 5
	metrics := map[string][]float64{}
	for i := range loads {
		start := time.Now()
		br.run("opening the board", chromedp.Navigate(board))
		br.waitFor("the page is usable and loaded", `performance.getEntriesByName('board-usable').length > 0 &&
			performance.getEntriesByType('navigation')[0].loadEventEnd > 0`, 60*time.Second)
		br.waitFor("the stream is live", `document.getElementById('live').dataset.state === 'live'`, 60*time.Second)
		openToLive := float64(time.Since(start).Milliseconds())
		nav := eval[map[string]float64](br, `(() => { const n = performance.getEntriesByType('navigation')[0];
			const fcp = performance.getEntriesByName('first-contentful-paint')[0];
			return {response_end: n.responseEnd, first_contentful_paint: fcp ? fcp.startTime : -1,
				dom_content_loaded: n.domContentLoadedEventEnd, usable: performance.getEntriesByName('board-usable')[0].startTime,
				load_event: n.loadEventEnd,
				rows: document.querySelectorAll('#board tbody tr').length,
				aged: document.querySelectorAll('#board td.age time:not(:empty)').length} })()`)
		if nav["rows"] != 1000 || nav["aged"] != 1000 {
			b.Fatalf("load %d: %v rows, %v with their data age shown; want 1000", i+1, nav["rows"], nav["aged"])
		}
		nav["open_to_live"] = openToLive
		b.Logf("load %d (ms): %v", i+1, nav)
		for k, v := range nav {
			metrics[k] = append(metrics[k], v)
		}
	}
	for _, k := range []string{"response_end", "first_contentful_paint", "dom_content_loaded", "usable", "load_event", "open_to_live"} {
		b.ReportMetric(median(metrics[k]), k+"_ms")
	}
	b.ReportMetric(slices.Max(metrics["usable"]), "usable_slowest_ms")
	b.ReportMetric(slices.Max(metrics["load_event"]), "load_event_slowest_ms")
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
	go countStream(ctx, board+"events?since="+time.Now().UTC().Format(time.RFC3339Nano), nil, nil, events)
	one := schedule("one", symbols[:1], analysisv1alpha1.ExchangeSimulated, "")
	one.Spec.Timeframes = timeframes
	if err := s.kube.Create(context.Background(), one); err != nil {
		b.Fatal(err)
	}
	time.Sleep(25 * time.Second) // two or three runs of "one"
	cancel()
	c := <-events
	b.ReportMetric(float64(c.rows), "one_symbol_row_events")
	b.ReportMetric(float64(c.rowBytes)/float64(max(c.rows, 1)), "bytes_per_row_event")
	b.ReportMetric(float64(c.updated), "one_symbol_updated_events")

	// Counted until every symbol of the forced run was announced, as a row or as a new time.
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	connected := make(chan struct{})
	everySymbol := func(c sseCount) bool { return c.rows+c.updatedSymbols >= len(symbols) }
	go countStream(ctx, board+"events?since="+time.Now().UTC().Format(time.RFC3339Nano), connected, everySymbol, events)
	select {
	case <-connected:
	case <-ctx.Done():
		b.Fatal("the board's event stream did not answer")
	}
	s.update("thousand", func(o *analysisv1alpha1.AnalysisSchedule) {
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		o.Annotations[analysisv1alpha1.RefreshRequestedAtAnnotation] = time.Now().String()
	})
	c = <-events
	if !everySymbol(c) {
		b.Fatalf("the stream announced %d rows and %d symbols' times in 3 minutes, want all %d symbols", c.rows, c.updatedSymbols, len(symbols))
	}
	b.ReportMetric(float64(c.rows), "full_run_row_events")
	b.ReportMetric(float64(c.updated), "full_run_updated_events")
	b.ReportMetric(float64(c.updatedSymbols), "full_run_updated_symbols")
	b.ReportMetric(float64(c.rowBytes+c.updatedBytes)/1024, "full_run_KiB")
	if errs := br.consoleErrors(); len(errs) > 0 {
		b.Errorf("the browser reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

type sseCount struct{ rows, rowBytes, updated, updatedSymbols, updatedBytes int }

// countStream counts the row and updated events of a board stream until ctx ends or, when until is
// not nil, until(counts) holds after an event. connected, when not nil, is closed once the stream answers.
func countStream(ctx context.Context, url string, connected chan<- struct{}, until func(sseCount) bool, out chan<- sseCount) {
	var c sseCount
	defer func() { out <- c }()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer func() { _ = resp.Body.Close() }()
	if connected != nil {
		close(connected)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && name == "row":
			c.rows++
			c.rowBytes += len(line)
		case strings.HasPrefix(line, "data: ") && name == "updated":
			var times map[string]string
			_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &times)
			c.updated++
			c.updatedSymbols += len(times)
			c.updatedBytes += len(line)
		case line == "":
			name = ""
			if until != nil && until(c) {
				return
			}
		}
	}
}

// median is the middle value (the upper of the two middle ones for an even count).
func median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(values))
	return sorted[len(sorted)/2]
}
