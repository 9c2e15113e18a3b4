package binance

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	testingclock "k8s.io/utils/clock/testing"
)

func FuzzDecodeKlines(f *testing.F) {
	f.Add([]byte(klinesBody(3)))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[[1,"1","1","1","1","1",2,"1",0,"0","0","0"]]`))
	f.Add([]byte(`[[1,"1e400","1","1","1","1",2,"1",0,"0","0","0"]]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		candles, err := DecodeKlines(body)
		if err != nil && candles != nil {
			t.Fatalf("returned candles with an error: %v", err)
		}
	})
}

func BenchmarkDecode1000(b *testing.B) {
	body := []byte(klinesBody(1000))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeKlines(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFanOut1000 fetches 1000 symbols, 16 at a time, from a local exchange that answers each
// request after 50 ms; the ideal is 1000 × 50 ms / 16 = 3.125 s. Run with -benchtime=1x.
func BenchmarkFanOut1000(b *testing.B) {
	body := []byte(klinesBody(501))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(50 * time.Millisecond)
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	c := New(Config{BaseURL: srv.URL, Clock: testingclock.NewFakePassiveClock(now), WeightPerMinute: 1_000_000})
	const symbols, concurrency = 1000, 16
	ideal := symbols * 50 * time.Millisecond / concurrency
	for b.Loop() {
		start := time.Now()
		var g errgroup.Group
		g.SetLimit(concurrency)
		for i := range symbols {
			g.Go(func() error {
				_, err := c.Klines(context.Background(), fmt.Sprintf("SYM%dUSDT", i), "1m", 500)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start))/float64(ideal), "x_ideal")
	}
}
