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
