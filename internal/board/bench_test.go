package board

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fill caches n symbols with three timeframes each (copies of one analysis, renamed).
func (f *fixture) fill(n int) {
	doc := f.analyse("BTCUSDT", start, "15m", "1h", "4h")
	for i := range n {
		doc.Symbol = fmt.Sprintf("B%04dUSDT", i)
		f.store("hama:analysis:"+doc.Symbol, doc)
	}
}

// BenchmarkIndex1000 renders the board of 1000 symbols × 3 timeframes from the memory cache: with
// every document decoded and every row rendered (the first page after a refresh that changed them
// all), and with the rows kept from the previous read (nothing changed since).
func BenchmarkIndex1000(b *testing.B) {
	f := newFixture(b)
	f.fill(1000)
	req := httptest.NewRequest(http.MethodGet, "/board/", nil)
	for _, kept := range []bool{false, true} {
		b.Run(map[bool]string{false: "all_rendered", true: "rows_kept"}[kept], func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				if !kept {
					f.board.mu.Lock()
					f.board.last = snapshot{}
					f.board.mu.Unlock()
				}
				w := httptest.NewRecorder()
				f.board.ServeHTTP(w, req)
				size = w.Body.Len()
			}
			b.ReportMetric(float64(size)/1024, "page_KiB")
		})
	}
}

// BenchmarkPoll1000 is one poll of the stream's hub over 1000 unchanged symbols: what a replica
// spends each second while a browser watches.
func BenchmarkPoll1000(b *testing.B) {
	f := newFixture(b)
	f.fill(1000)
	prev, err := f.board.hub.poll(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		next, err := f.board.hub.poll(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		f.board.hub.diff(prev, next)
		prev = next
	}
}
