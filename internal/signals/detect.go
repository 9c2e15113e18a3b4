package signals

import (
	"slices"
	"time"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/hama"
)

// Detect lists the events of a write: what fresh shows that the cached document had not seen,
// timeframe by timeframe (sorted by timeframe, then kind). Only a result of a newer candle than the
// cached one can announce: a recomputation of the same candle, or an older one, is not news; nor
// is a timeframe seen for the first time, whose state is history. The events carry no schedule:
// the caller knows it.
func Detect(cached, fresh analysis.Document) []Event {
	var out []Event
	for _, tf := range sortedTimeframes(fresh) {
		r := fresh.Timeframes[tf]
		old, known := cached.Timeframes[tf]
		if !known || !r.CandleCloseTime.After(old.CandleCloseTime) {
			continue
		}
		at := func(kind Kind, t time.Time, price float64) {
			out = append(out, Event{ID: EventID(fresh.Symbol, tf, kind, t), Symbol: fresh.Symbol, Timeframe: tf,
				Kind: kind, CandleCloseTime: t.UTC(), Price: price, Summary: r.Signal.Summary, Color: r.HAMA.Color})
		}
		// A cross on a bar after the cached candle: the cached result could not have seen it.
		if c := r.Cross; c.LastTime != nil && c.LastTime.After(old.CandleCloseTime) {
			kind := CrossUp
			if c.Last == hama.CrossDown {
				kind = CrossDown
			}
			at(kind, *c.LastTime, crossPrice(r, fresh.Series[tf]))
		}
		if r.HAMA.Color != old.HAMA.Color {
			at(ColorFlip, r.CandleCloseTime, r.LastPrice)
		}
		switch {
		case r.Bollinger.Squeeze && !old.Bollinger.Squeeze:
			at(SqueezeStart, r.CandleCloseTime, r.LastPrice)
		case !r.Bollinger.Squeeze && old.Bollinger.Squeeze:
			at(SqueezeEnd, r.CandleCloseTime, r.LastPrice)
		}
	}
	return out
}

// crossPrice is the close of the bar of the last cross: the last price when it is the last bar,
// else the series' close of that bar. A cross beyond the series (the previous write is older than
// its bars) falls back to the last price.
func crossPrice(r hama.Result, s hama.Series) float64 {
	bars := *r.Cross.BarsSince
	if i := s.Len() - 1 - bars; bars > 0 && i >= 0 {
		return s.Close[i]
	}
	return r.LastPrice
}

func sortedTimeframes(d analysis.Document) []string {
	tfs := make([]string, 0, len(d.Timeframes))
	for tf := range d.Timeframes {
		tfs = append(tfs, tf)
	}
	slices.Sort(tfs)
	return tfs
}
