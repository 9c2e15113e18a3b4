package controllers

import (
	"fmt"
	"strconv"
	"time"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/gainers"
	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// defaultTTLIntervals is how many intervals a result lives when spec.ttl is unset: it survives two
// failed refreshes before it expires.
const defaultTTLIntervals = 3

// effectiveTTL is spec.ttl, or defaultTTLIntervals × interval.
func effectiveTTL(spec analysisv1alpha1.AnalysisScheduleSpec) time.Duration {
	if spec.TTL != nil && spec.TTL.Duration > 0 {
		return spec.TTL.Duration
	}
	return defaultTTLIntervals * spec.Interval.Duration
}

// invalidSpecError is a spec the API server accepted but the analysis cannot use; only a spec change
// can fix it, so the schedule is marked Stalled.
type invalidSpecError struct{ msg string }

func (e invalidSpecError) Error() string { return e.msg }

// jobFor turns a schedule into the refresher's Job.
func jobFor(s *analysisv1alpha1.AnalysisSchedule) (refresh.Job, error) {
	params, err := hamaParams(s.Spec.HAMA)
	if err != nil {
		return refresh.Job{}, err
	}
	if need := params.MinCandles(); int(s.Spec.Candles) < need {
		return refresh.Job{}, invalidSpecError{fmt.Sprintf(
			"spec.candles is %d but these hama parameters need at least %d candles", s.Spec.Candles, need)}
	}
	symbols := make([]string, len(s.Spec.Symbols))
	for i, sym := range s.Spec.Symbols {
		symbols[i] = string(sym)
	}
	timeframes := make([]string, len(s.Spec.Timeframes))
	for i, tf := range s.Spec.Timeframes {
		timeframes[i] = string(tf)
	}
	var top *gainers.Query
	if g := s.Spec.TopGainers; g != nil {
		top = &gainers.Query{Limit: int(g.Limit), QuoteAsset: g.QuoteAsset, MinQuoteVolume: float64(g.MinQuoteVolume)}
	}
	return refresh.Job{
		Schedule:    scheduleKey(s),
		Symbols:     symbols,
		TopGainers:  top,
		Timeframes:  timeframes,
		Candles:     int(s.Spec.Candles),
		Concurrency: int(s.Spec.Concurrency),
		TTL:         effectiveTTL(s.Spec),
		Interval:    s.Spec.Interval.Duration,
		Exchange:    string(s.Spec.Source.Exchange),
		BaseURL:     s.Spec.Source.BaseURL,
		Stream:      s.Spec.Source.Mode == analysisv1alpha1.ModeStream,
		StreamURL:   s.Spec.Source.StreamURL,
		Params:      params,
	}, nil
}

// hamaParams maps the CR's parameters onto the engine's, keeping the engine's defaults for anything
// left empty (objects created before a default existed).
func hamaParams(p analysisv1alpha1.HAMAParameters) (hama.Params, error) {
	out := hama.DefaultParams()
	setMA := func(t analysisv1alpha1.MovingAverage, n int32, typ *hama.MAType, length *int) {
		if t != "" {
			*typ = hama.MAType(t)
		}
		if n > 0 {
			*length = int(n)
		}
	}
	setMA(p.OpenType, p.OpenLength, &out.OpenType, &out.OpenLength)
	setMA(p.HighType, p.HighLength, &out.HighType, &out.HighLength)
	setMA(p.LowType, p.LowLength, &out.LowType, &out.LowLength)
	setMA(p.CloseType, p.CloseLength, &out.CloseType, &out.CloseLength)
	if p.MALength > 0 {
		out.MALength = int(p.MALength)
	}
	if p.BollingerLength > 0 {
		out.BollingerLength = int(p.BollingerLength)
	}
	if p.BollingerMultiplier != "" {
		m, err := strconv.ParseFloat(p.BollingerMultiplier, 64)
		if err != nil {
			return hama.Params{}, invalidSpecError{fmt.Sprintf("spec.hama.bollingerMultiplier %q is not a number", p.BollingerMultiplier)}
		}
		out.BollingerMultiplier = m
	}
	if err := out.Validate(); err != nil {
		return hama.Params{}, invalidSpecError{"spec.hama: " + err.Error()}
	}
	return out, nil
}
