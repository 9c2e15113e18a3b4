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

// ema writes ta.ema(src, n) into out: smoothed with alpha = 2/(n+1).
func ema(src []float64, n int, out []float64) { smooth(src, n, 2/float64(n+1), out) }

// smooth is the recurrence Pine's ta.ema and ta.rma (alpha = 1/n) share. Pine seeds it with ta.sma(src, n) on the
// first bar where the previous value is na, then applies prev + alpha·(src − prev); an na in src
// makes that bar na, and the next bars re-seed from the SMA once its window is clean again.
func smooth(src []float64, n int, alpha float64, out []float64) {
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

// smoother is the ta.ema / ta.rma recurrence one bar at a time: the same values as smooth, bar by
// bar. Seeding needs n consecutive non-na values, so a running sum since the last na is the SMA
// window.
type smoother struct {
	n           int
	alpha, beta float64
	clean       int     // consecutive non-na values so far, up to n
	sum         float64 // their sum until the seed
	value       float64 // the current output; na until seeded
}

func newSmoother(n int, alpha float64) smoother {
	return smoother{n: n, alpha: alpha, beta: 1 - alpha, value: na}
}

func emaSmoother(n int) smoother { return newSmoother(n, 2/float64(n+1)) }

// rmaSmoother is ta.rma, the average ta.rsi uses.
func rmaSmoother(n int) smoother { return newSmoother(n, 1/float64(n)) }

// next feeds the next bar's value and returns the output at that bar.
func (s *smoother) next(v float64) float64 {
	switch {
	case isNA(v):
		s.clean, s.sum, s.value = 0, 0, na
	case s.clean == s.n:
		s.value = s.alpha*v + s.beta*s.value
	default:
		s.clean++
		s.sum += v
		if s.clean == s.n {
			s.value = s.sum / float64(s.n)
		}
	}
	return s.value
}

// rsiState is ta.rsi(src, n) one bar at a time, as TradingView's built-in RSI defines it:
// up = ta.rma(max(ta.change(src), 0), n), down = ta.rma(−min(ta.change(src), 0), n),
// rsi = down == 0 ? 100 : up == 0 ? 0 : 100 − 100 / (1 + up/down). ta.change is na on the first bar,
// so the first RSI is at bar n.
type rsiState struct {
	up, down smoother
	prev     float64
}

func newRSI(n int) rsiState { return rsiState{up: rmaSmoother(n), down: rmaSmoother(n), prev: na} }

func (r *rsiState) next(v float64) float64 {
	change := v - r.prev // na on the first bar or next to an na; max and min keep na
	r.prev = v
	return rsiOf(r.up.next(max(change, 0)), r.down.next(-min(change, 0)))
}

// rsiOf is the RSI of an average gain and loss.
func rsiOf(gain, loss float64) float64 {
	switch {
	case isNA(gain) || isNA(loss):
		return na
	case loss == 0:
		return 100
	case gain == 0:
		return 0
	}
	return 100 - 100/(1+gain/loss)
}

// macdState is ta.macd(src, fast, slow, signal) one bar at a time: the line is
// ta.ema(src, fast) − ta.ema(src, slow), the signal ta.ema(line, signal), the histogram their
// difference.
type macdState struct{ fast, slow, signal smoother }

func newMACD(fast, slow, signal int) macdState {
	return macdState{fast: emaSmoother(fast), slow: emaSmoother(slow), signal: emaSmoother(signal)}
}

func (m *macdState) next(v float64) (line, signal float64) {
	line = m.fast.next(v) - m.slow.next(v) // na − x and x − na are na
	return line, m.signal.next(line)
}

// highestAt is ta.highest(src, n) at the last bar; na with fewer than n bars or an na among them.
func highestAt(src []float64, n int) float64 {
	if n < 1 || len(src) < n {
		return na
	}
	best := math.Inf(-1)
	for _, v := range src[len(src)-n:] {
		if isNA(v) {
			return na
		}
		best = math.Max(best, v)
	}
	return best
}

// lowestAt is ta.lowest(src, n) at the last bar; na with fewer than n bars or an na among them.
func lowestAt(src []float64, n int) float64 {
	if n < 1 || len(src) < n {
		return na
	}
	best := math.Inf(1)
	for _, v := range src[len(src)-n:] {
		if isNA(v) {
			return na
		}
		best = math.Min(best, v)
	}
	return best
}
