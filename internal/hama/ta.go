// Package hama computes the "NSDT HAMA Candles with Bollinger Bands" indicator with the semantics
// of Pine Script v5: na is NaN, moving averages are na until their window is full of values, and
// comparisons with na are false. It imports nothing from Kubernetes.
package hama

import "math"

var na = math.NaN()

func isNA(v float64) bool { return math.IsNaN(v) }

// sma writes ta.sma(src, n) into out: the mean of the last n values, na while any is na.
func sma(src []float64, n int, out []float64) {
	var sum float64
	nas := 0
	for i, v := range src {
		if isNA(v) {
			nas++
		} else {
			sum += v
		}
		if i >= n {
			if old := src[i-n]; isNA(old) {
				nas--
			} else {
				sum -= old
			}
		}
		// sum holds only the window's non-na values, so it is exact whenever nas is 0.
		if i < n-1 || nas > 0 {
			out[i] = na
			continue
		}
		out[i] = sum / float64(n)
	}
}

// ema writes ta.ema(src, n) into out. Pine seeds it with ta.sma(src, n) on the first bar where the
// previous EMA is na, then applies alpha = 2/(n+1); an na in src makes that bar na, and the next
// bars re-seed from the SMA once its window is clean again.
func ema(src []float64, n int, out []float64) {
	alpha := 2 / float64(n+1)
	beta := 1 - alpha
	i := 0
	for i < len(src) {
		// Seed: the first bar whose window of n values holds no na.
		clean := 0
		for i < len(src) && clean < n {
			if isNA(src[i]) {
				clean = 0
			} else {
				clean++
			}
			if clean < n {
				out[i] = na
				i++
			}
		}
		if i == len(src) {
			return
		}
		var sum float64
		for _, v := range src[i-n+1 : i+1] {
			sum += v
		}
		prev := sum / float64(n)
		out[i] = prev
		// The recurrence, kept tight: it is the hot loop of the whole analysis.
		for i++; i < len(src); i++ {
			v := src[i]
			if isNA(v) {
				out[i] = na
				i++
				break
			}
			prev = alpha*v + beta*prev
			out[i] = prev
		}
	}
}

// wma writes ta.wma(src, n) into out: weights 1..n, the newest value heaviest; na while any value
// of the window is na.
func wma(src []float64, n int, out []float64) {
	denom := float64(n) * float64(n+1) / 2
	var num, sum float64 // weighted and plain sums of the current window
	clean := 0           // how many consecutive non-na values end at i
	for i, v := range src {
		if isNA(v) {
			clean = 0
			out[i] = na
			continue
		}
		clean++
		switch {
		case clean < n:
			out[i] = na
			continue
		case clean == n:
			num, sum = 0, 0
			for k := 0; k < n; k++ {
				w := src[i-k]
				num += w * float64(n-k)
				sum += w
			}
		default:
			// Slide: every weight drops by one, the oldest leaves, the newest enters with weight n.
			num += float64(n)*v - sum
			sum += v - src[i-n]
		}
		out[i] = num / denom
	}
}

// movingAverage dispatches on the type.
func movingAverage(t MAType, src []float64, n int, out []float64) {
	switch t {
	case SMA:
		sma(src, n, out)
	case WMA:
		wma(src, n, out)
	default:
		ema(src, n, out)
	}
}

// stdevAt is ta.stdev(src, n) at the last bar: the population standard deviation (Pine's default,
// biased) of the last n values, computed in two passes for accuracy; na if any is na.
func stdevAt(src []float64, n int) (mean, dev float64) {
	if len(src) < n {
		return na, na
	}
	window := src[len(src)-n:]
	for _, v := range window {
		if isNA(v) {
			return na, na
		}
		mean += v
	}
	mean /= float64(n)
	var sq float64
	for _, v := range window {
		d := v - mean
		sq += d * d
	}
	return mean, math.Sqrt(sq / float64(n))
}

// crossover is ta.crossover at bar i: a crossed above b (a > b now, a <= b on the previous bar).
// Any na makes it false, as comparisons with na are in Pine.
func crossover(a, b []float64, i int) bool {
	return i > 0 && a[i] > b[i] && a[i-1] <= b[i-1]
}

// crossunder is ta.crossunder at bar i.
func crossunder(a, b []float64, i int) bool {
	return i > 0 && a[i] < b[i] && a[i-1] >= b[i-1]
}
