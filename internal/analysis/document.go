// Package analysis turns candles into the per-symbol document the cache holds: one JSON document per
// symbol with every analysed timeframe, and the rule that merges documents written by different
// schedules. It imports nothing from Kubernetes.
package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/legacy"
	"github.com/hama-operator/hama-operator/internal/market"
)

// Document is the cached value of hama:analysis:<SYMBOL>.
type Document struct {
	Symbol string `json:"symbol"`
	// Timeframes maps a kline interval ("15m") to its analysis.
	Timeframes map[string]hama.Result `json:"timeframes"`
	UpdatedAt  time.Time              `json:"updated_at"`
	// Series holds the last bars of each timeframe a fresh analysis computed, when its Request asked
	// for them; they are cached under their own keys (SeriesKey), never inside the document.
	Series map[string]hama.Series `json:"-"`
}

// Request is one symbol to analyse.
type Request struct {
	Symbol     string
	Timeframes []string
	Candles    int
	Params     hama.Params
	// TTL sets each result's expires_at.
	TTL time.Duration
	// SeriesBars, when positive, asks for the last bars of each timeframe in Document.Series.
	SeriesBars int
}

// Analyze fetches candles for each timeframe and computes HAMA on them. The document holds every
// timeframe that succeeded; the error, if any, names the timeframes that failed.
func Analyze(ctx context.Context, src market.Source, req Request, now time.Time) (Document, error) {
	doc := Document{Symbol: req.Symbol, Timeframes: make(map[string]hama.Result, len(req.Timeframes)), UpdatedAt: now.UTC()}
	var errs []error
	for _, tf := range req.Timeframes {
		candles, err := src.Klines(ctx, req.Symbol, tf, req.Candles)
		if err == nil {
			var r hama.Result
			var s hama.Series
			if req.SeriesBars > 0 {
				r, s, err = hama.AnalyzeSeries(candles, req.Params, req.SeriesBars)
			} else {
				r, err = hama.Analyze(candles, req.Params)
			}
			if err == nil {
				r.Symbol, r.Timeframe, r.Source = req.Symbol, tf, src.Name()
				r.ComputedAt = now.UTC()
				r.ExpiresAt = now.UTC().Add(req.TTL)
				doc.Timeframes[tf] = r
				if req.SeriesBars > 0 {
					if doc.Series == nil {
						doc.Series = map[string]hama.Series{}
					}
					doc.Series[tf] = s
				}
				continue
			}
		}
		errs = append(errs, fmt.Errorf("%s %s: %w", req.Symbol, tf, err))
	}
	return doc, errors.Join(errs...)
}

// Merge combines the cached document with a fresh one for the same symbol. Two schedules may cover
// one symbol with different timeframes or settings: every timeframe of either survives; for the same
// timeframe the result of the newer candle wins, then the newer computation; expired results go.
func Merge(cached, fresh Document, now time.Time) Document {
	out := Document{Symbol: fresh.Symbol, Timeframes: make(map[string]hama.Result, len(cached.Timeframes)+len(fresh.Timeframes))}
	if out.Symbol == "" {
		out.Symbol = cached.Symbol
	}
	for tf, r := range cached.Timeframes {
		if r.ExpiresAt.After(now) {
			out.Timeframes[tf] = r
		}
	}
	for tf, r := range fresh.Timeframes {
		if old, ok := out.Timeframes[tf]; ok && newer(old, r) {
			continue
		}
		out.Timeframes[tf] = r
	}
	out.UpdatedAt = fresh.UpdatedAt
	if cached.UpdatedAt.After(out.UpdatedAt) {
		out.UpdatedAt = cached.UpdatedAt
	}
	return out
}

// newer reports whether a is strictly newer than b.
func newer(a, b hama.Result) bool {
	if !a.CandleCloseTime.Equal(b.CandleCloseTime) {
		return a.CandleCloseTime.After(b.CandleCloseTime)
	}
	return a.ComputedAt.After(b.ComputedAt)
}

// ExpiresAt is the latest expiry of the document's results: the key's TTL ends there.
func (d Document) ExpiresAt() time.Time {
	var latest time.Time
	for _, r := range d.Timeframes {
		if r.ExpiresAt.After(latest) {
			latest = r.ExpiresAt
		}
	}
	return latest
}

// Encode is the cached form: the document, and the original service's view of it (package legacy)
// derived here, once per write, so that readers answer the legacy routes without computing it. The
// view's fields come after timeframes and before updated_at, which stays the last field.
func Encode(d Document) ([]byte, error) {
	stored := struct {
		Symbol     string                 `json:"symbol"`
		Timeframes map[string]hama.Result `json:"timeframes"`
		*legacy.View
		UpdatedAt time.Time `json:"updated_at"`
	}{Symbol: d.Symbol, Timeframes: d.Timeframes, UpdatedAt: d.UpdatedAt}
	if view, ok := legacy.Of(d.Symbol, d.Timeframes); ok {
		stored.View = &view
	}
	return json.Marshal(stored)
}

// Decode reads a cached document.
func Decode(b []byte) (Document, error) {
	var d Document
	if err := json.Unmarshal(b, &d); err != nil {
		return Document{}, fmt.Errorf("decoding cached analysis: %w", err)
	}
	return d, nil
}

// SignalChange is a HAMA cross that the cached document did not know yet: the cross events of
// package signals, as the controller announces them.
type SignalChange struct {
	Symbol    string
	Timeframe string
	// Direction is "up" or "down".
	Direction string
	Time      time.Time
}
