package hama

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b float64) bool {
	if isNA(a) || isNA(b) {
		return isNA(a) && isNA(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func assertSeries(t *testing.T, name string, got, want []float64) {
	t.Helper()
	for i := range want {
		if !near(got[i], want[i]) {
			t.Fatalf("%s[%d] = %v, want %v (all: %v)", name, i, got[i], want[i], got)
		}
	}
}

// Hand-worked: src 1,2,3,4,5 — SMA(3) of bars 2..4 is (1+2+3)/3=2, 3, 4.
func TestSMAByHand(t *testing.T) {
	out := make([]float64, 5)
	sma([]float64{1, 2, 3, 4, 5}, 3, out)
	assertSeries(t, "sma", out, []float64{na, na, 2, 3, 4})
}

// Hand-worked: WMA(3) of 1,2,3 = (1·1+2·2+3·3)/6 = 14/6; of 2,3,4 = (2+6+12)/6 = 20/6; of 3,4,5 = 26/6.
// With an na in the middle, every window that holds it is na.
func TestWMAByHand(t *testing.T) {
	out := make([]float64, 5)
	wma([]float64{1, 2, 3, 4, 5}, 3, out)
	assertSeries(t, "wma", out, []float64{na, na, 14.0 / 6, 20.0 / 6, 26.0 / 6})

	out = make([]float64, 7)
	wma([]float64{1, 2, na, 4, 5, 6, 7}, 3, out)
	assertSeries(t, "wma with na", out, []float64{na, na, na, na, na, (4 + 10 + 18) / 6.0, (5 + 12 + 21) / 6.0})
}

// Hand-worked: EMA(3), alpha = 0.5. Seeded with SMA(3) of 1,2,3 = 2; then 0.5·4+0.5·2 = 3;
// 0.5·10+0.5·3 = 6.5.
func TestEMAByHand(t *testing.T) {
	src := []float64{1, 2, 3, 4, 10}
	out := make([]float64, 5)
	ema(src, 3, out)
	assertSeries(t, "ema", out, []float64{na, na, 2, 3, 6.5})
}

// SourceOpen is na on the first bar, so the EMA seeds one bar later: SMA(3) of 2,3,4 = 3 at bar 3.
func TestEMAStartsOneBarLaterAfterLeadingNA(t *testing.T) {
	src := []float64{na, 2, 3, 4, 5}
	out := make([]float64, 5)
	ema(src, 3, out)
	assertSeries(t, "ema", out, []float64{na, na, na, 3, 4})
}

func TestMovingAveragesOfAConstantAreTheConstant(t *testing.T) {
	const c = 42.125
	src := make([]float64, 300)
	for i := range src {
		src[i] = c
	}
	out := make([]float64, len(src))
	for _, kind := range []MAType{EMA, SMA, WMA} {
		for _, n := range []int{1, 2, 7, 100} {
			movingAverage(kind, src, n, out)
			for i := n - 1; i < len(src); i++ {
				if !near(out[i], c) {
					t.Fatalf("%s(%d)[%d] = %v, want %v", kind, n, i, out[i], c)
				}
			}
		}
	}
}

// The rolling WMA and SMA must equal a naive window computation on random data.
func TestRollingAveragesMatchNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]float64, 2000)
	for i := range src {
		src[i] = 1e-5 + r.Float64()*1e-4 // XLMBTC-like magnitudes stress cancellation
	}
	out := make([]float64, len(src))
	for _, n := range []int{3, 40, 400} {
		wma(src, n, out)
		for i := n - 1; i < len(src); i += 37 {
			var num float64
			for k := range n {
				num += src[i-n+1+k] * float64(k+1)
			}
			if want := num / (float64(n) * float64(n+1) / 2); !near(out[i], want) {
				t.Fatalf("wma(%d)[%d] = %v, naive %v", n, i, out[i], want)
			}
		}
		sma(src, n, out)
		for i := n - 1; i < len(src); i += 37 {
			var sum float64
			for _, v := range src[i-n+1 : i+1] {
				sum += v
			}
			if want := sum / float64(n); !near(out[i], want) {
				t.Fatalf("sma(%d)[%d] = %v, naive %v", n, i, out[i], want)
			}
		}
	}
}

// Hand-worked population stdev of 2,4,4,4,5,5,7,9: mean 5, variance 32/8 = 4, stdev 2.
func TestStdevByHand(t *testing.T) {
	mean, dev := stdevAt([]float64{100, 2, 4, 4, 4, 5, 5, 7, 9}, 8)
	if mean != 5 || dev != 2 {
		t.Fatalf("stdev = (%v, %v), want (5, 2)", mean, dev)
	}
}

func TestCrossesAreSymmetricUnderNegation(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a, b := make([]float64, 500), make([]float64, 500)
	na2, nb := make([]float64, 500), make([]float64, 500)
	for i := range a {
		a[i], b[i] = r.Float64(), r.Float64()
		if i%50 == 7 {
			a[i] = na
		}
		na2[i], nb[i] = -a[i], -b[i]
	}
	crosses := 0
	for i := range a {
		if crossover(a, b, i) != crossunder(na2, nb, i) || crossunder(a, b, i) != crossover(na2, nb, i) {
			t.Fatalf("bar %d: crossover/crossunder not symmetric under negation", i)
		}
		if crossover(a, b, i) {
			crosses++
		}
	}
	if crosses == 0 {
		t.Fatal("random series never crossed: the property was not exercised")
	}
}

func TestCrossNeedsTheBarBefore(t *testing.T) {
	a := []float64{1, 3, 3, na, 5}
	b := []float64{2, 2, 2, 2, 2}
	want := []bool{false, true, false, false, false} // bar 4: a[3] is na, so no cross
	for i := range a {
		if got := crossover(a, b, i); got != want[i] {
			t.Fatalf("crossover at %d = %v, want %v", i, got, want[i])
		}
	}
}

// An na inside the series makes that bar na and re-seeds from the SMA once the window is clean:
// SMA(3) of 5,6,7 = 6 at bar 6, then 0.5·8 + 0.5·6 = 7.
func TestEMAReseedsAfterNA(t *testing.T) {
	out := make([]float64, 8)
	ema([]float64{1, 2, 3, na, 5, 6, 7, 8}, 3, out)
	assertSeries(t, "ema", out, []float64{na, na, 2, na, na, na, 6, 7})
}

// run feeds src to a one-bar-at-a-time state and collects the outputs bar by bar.
func run(next func(float64) float64, src []float64) []float64 {
	out := make([]float64, len(src))
	for i, v := range src {
		out[i] = next(v)
	}
	return out
}

// Test states, built for one run.
func rma(n int) func(float64) float64    { s := rmaSmoother(n); return s.next }
func emaOne(n int) func(float64) float64 { s := emaSmoother(n); return s.next }
func rsiOne(n int) func(float64) float64 { r := newRSI(n); return r.next }

// Hand-worked: RMA(3), alpha = 1/3. Seeded with SMA(3) of 3,6,9 = 6; then 6 + (12 − 6)/3 = 8.
// A leading na delays the seed by a bar, as for the EMA.
func TestRMAByHand(t *testing.T) {
	assertSeries(t, "rma", run(rma(3), []float64{3, 6, 9, 12}), []float64{na, na, 6, 8})
	assertSeries(t, "rma after na", run(rma(3), []float64{na, 3, 6, 9}), []float64{na, na, na, 6})
}

// The one-bar-at-a-time smoother gives exactly the series ema gives, na and re-seeding included.
func TestSmootherMatchesTheSeries(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	src := make([]float64, 3000)
	for i := range src {
		src[i] = 1 + r.Float64()
		if r.IntN(60) == 0 {
			src[i] = na
		}
	}
	want := make([]float64, len(src))
	for _, n := range []int{1, 2, 9, 26, 50} {
		ema(src, n, want)
		got := run(emaOne(n), src)
		for i := range src {
			if got[i] != want[i] && !(isNA(got[i]) && isNA(want[i])) {
				t.Fatalf("ema(%d)[%d]: smoother %v, series %v", n, i, got[i], want[i])
			}
		}
	}
}

// Hand-worked RSI(3) of closes 10, 11, 13, 12, 15, 15:
//
//	change  na  +1  +2  −1  +3   0
//	gain    na   1   2   0   3   0    RMA(3): bar 3 (1+2+0)/3 = 1, bar 4 1+(3−1)/3 = 5/3, bar 5 5/3·2/3 = 10/9
//	loss    na   0   0   1   0   0    RMA(3): bar 3 1/3,          bar 4 1/3·2/3 = 2/9,   bar 5 2/9·2/3 = 4/27
//	RS                   3  15/2 15/2  RSI = 100 − 100/(1+RS): 75, 100 − 100/8.5, the same
//
// ta.change is na on bar 0, so the first RSI is at bar n = 3, not n − 1.
func TestRSIByHand(t *testing.T) {
	assertSeries(t, "rsi", run(rsiOne(3), []float64{10, 11, 13, 12, 15, 15}),
		[]float64{na, na, na, 75, 100 - 100/8.5, 100 - 100/8.5})
}

// The built-in RSI's edge cases: no loss is 100 (even with no gain either), no gain and some loss is
// 0; an na close makes the bars whose window holds it na, then the averages re-seed.
func TestRSIEdges(t *testing.T) {
	rsi := func(src ...float64) []float64 { return run(rsiOne(2), src) }
	assertSeries(t, "rising", rsi(1, 2, 3, 4, 5), []float64{na, na, 100, 100, 100})
	assertSeries(t, "flat", rsi(5, 5, 5, 5, 5), []float64{na, na, 100, 100, 100})
	assertSeries(t, "falling", rsi(5, 4, 3, 2, 1), []float64{na, na, 0, 0, 0})
	// Changes: na, +1, na, na, +1, −1, +1. Gains re-seed at bar 5 with SMA(1, 0) = 0.5, losses with
	// SMA(0, 1) = 0.5: RSI 50; bar 6: gain 0.5·1 + 0.5·0.5 = 0.75, loss 0.25, RS 3, RSI 75.
	assertSeries(t, "na close", rsi(1, 2, na, 3, 4, 3, 4), []float64{na, na, na, na, na, 50, 75})
}

// Hand-worked MACD(2, 3, 2) of 1, 2, 4, 8, 16:
//
//	EMA(2), alpha 2/3:  bar 1 1.5, bar 2 2/3·4 + 1/3·1.5 = 19/6, bar 3 115/18, bar 4 691/54
//	EMA(3), alpha 1/2:  bar 2 7/3, bar 3 31/6, bar 4 127/12
//	line:               bar 2 5/6, bar 3 11/9, bar 4 239/108
//	signal EMA(2):      bar 3 (5/6 + 11/9)/2 = 37/36, bar 4 2/3·239/108 + 1/3·37/36 = 589/324
//
// The signal seeds once its own window of line values is clean: one bar after the line starts.
func TestMACDByHand(t *testing.T) {
	m := newMACD(2, 3, 2)
	line, sig := make([]float64, 5), make([]float64, 5)
	for i, v := range []float64{1, 2, 4, 8, 16} {
		line[i], sig[i] = m.next(v)
	}
	assertSeries(t, "macd line", line, []float64{na, na, 5.0 / 6, 11.0 / 9, 239.0 / 108})
	assertSeries(t, "macd signal", sig, []float64{na, na, na, 37.0 / 36, 589.0 / 324})
	if hist := line[4] - sig[4]; !near(hist, 32.0/81) {
		t.Fatalf("histogram = %v, want 239/108 − 589/324 = 32/81", hist)
	}
}

// ta.highest / ta.lowest over the last n bars; na with too few bars or an na in the window.
func TestHighestLowestByHand(t *testing.T) {
	src := []float64{9, 1, 4, 7, 2}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"highest 3", highestAt(src, 3), 7}, {"lowest 3", lowestAt(src, 3), 2},
		{"highest 5", highestAt(src, 5), 9}, {"lowest 5", lowestAt(src, 5), 1},
		{"highest 6", highestAt(src, 6), na}, {"lowest 6", lowestAt(src, 6), na},
		{"highest with na", highestAt([]float64{1, na, 3}, 2), na},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}
