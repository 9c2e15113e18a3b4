package apiserver

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

const maxBatchSymbols = 200

// lookup is one symbol's answer: the cached document bytes and where they came from.
type lookup struct {
	doc    []byte
	source string // redis | memory | computed
	cached bool
	// requested is the symbol as the client sent it, when it was normalised.
	requested string
}

// get serves a symbol from the cache, or computes it on a miss or when forced. Concurrent callers
// of one symbol share one computation (single-flight); the computation's merge into the cache,
// done by the Analyzer as a scheduled refresh does it, is the only write. wait is how long to
// queue for a computation slot; exchange ("" for the default) is where a computation gets candles.
func (s *Server) get(ctx context.Context, symbol, exchange string, force bool, wait time.Duration) (lookup, error) {
	if !force {
		e, err := s.cache.Get(ctx, s.cfg.Keys.Key(symbol))
		if err == nil {
			return lookup{doc: e.Value, source: string(e.Backend), cached: true}, nil
		}
		if !errors.Is(err, cache.ErrNotFound) {
			return lookup{}, err
		}
	}
	doc, err, _ := s.flight.Do(symbol, func() (any, error) { return s.compute(ctx, symbol, exchange, wait) })
	if err != nil {
		return lookup{}, err
	}
	return lookup{doc: doc.([]byte), source: "computed"}, nil
}

// compute analyses a symbol in one of the bounded slots, so a replica with a cold cache (a Redis
// outage on a non-leader) answers what it can and refuses the rest instead of melting.
func (s *Server) compute(ctx context.Context, symbol, exchange string, wait time.Duration) ([]byte, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case s.computes <- struct{}{}:
		defer func() { <-s.computes }()
	case <-timer.C:
		return nil, &apiError{status: http.StatusServiceUnavailable, reason: "Busy",
			msg: "too many analyses in progress on this replica; retry shortly"}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Detached: every concurrent caller of this symbol waits for this computation, so the first
	// caller hanging up must not cancel it for the others.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ComputeTimeout)
	defer cancel()
	doc, err := s.analyzer.AnalyzeOn(ctx, exchange, symbol)
	if err != nil && len(doc.Timeframes) == 0 {
		return nil, upstreamError("analysing "+symbol, err)
	}
	return analysis.Encode(doc)
}

// upstreamError maps a failure of what (an analysis, a ticker) to the status a client can act on.
func upstreamError(what string, err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	out := &apiError{status: http.StatusBadGateway, msg: what + ": " + err.Error(), reason: refresh.Reason(err)}
	switch out.reason {
	case market.ReasonInvalidSymbol:
		out.status = http.StatusNotFound
	case refresh.ReasonInsufficientData, market.ReasonInvalidRequest:
		out.status = http.StatusUnprocessableEntity
	case market.ReasonRateLimited, market.ReasonIPBanned:
		out.status = http.StatusServiceUnavailable
		var rate *market.RateLimitError
		if errors.As(err, &rate) {
			out.retryAfter = rate.RetryAfter
		}
	case market.ReasonTimeout:
		out.status = http.StatusGatewayTimeout
	case market.ReasonCanceled:
		out.status = http.StatusServiceUnavailable
	}
	return out
}

type analyzeSymbolRequest struct {
	Symbol       string `json:"symbol"`
	ForceRefresh bool   `json:"force_refresh"`
	Market       string `json:"market"`
}

// marketExchange maps the original's market names to an exchange; "" keeps the default.
func marketExchange(name string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "":
		return "", nil
	case "spot":
		return market.Binance, nil
	case "futures":
		return market.BinanceFutures, nil
	}
	return "", errorf(http.StatusBadRequest, "market %.40q must be spot or futures", name)
}

func (s *Server) analyzeSymbol(w http.ResponseWriter, r *http.Request) {
	var req analyzeSymbolRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	symbol, err := legacySymbol(req.Symbol)
	if err != nil {
		writeError(w, err)
		return
	}
	exchange, err := marketExchange(req.Market)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.authorize(r, req.ForceRefresh); err != nil {
		writeError(w, err)
		return
	}
	l, err := s.get(r.Context(), symbol, exchange, req.ForceRefresh, s.cfg.ComputeWait)
	if err != nil {
		writeError(w, err)
		return
	}
	if symbol != req.Symbol {
		l.requested = req.Symbol
	}
	writeAnalysis(w, l, s.cfg.Clock.Now(), legacyNowForm)
}

// authorize checks a token for mutating work (forced refresh, preload), and for reads when configured.
func (s *Server) authorize(r *http.Request, mutating bool) error {
	switch {
	case mutating:
		return s.auth.Authorize(r.Context(), r, "update", s.cfg.Namespace)
	case s.cfg.AuthReads:
		return s.auth.Authorize(r.Context(), r, "get", s.cfg.Namespace)
	}
	return nil
}

type analyzeBatchRequest struct {
	Symbols      []string `json:"symbols"`
	ForceRefresh bool     `json:"force_refresh"`
	Market       string   `json:"market"`
}

type batchSummary struct {
	Total   int `json:"total"`
	Success int `json:"success"`
	Cached  int `json:"cached"`
	Failed  int `json:"failed"`
}

type batchError struct {
	Symbol string `json:"symbol"`
	Error  string `json:"error"`
	Reason string `json:"reason,omitempty"`
	// Status is the HTTP status a single-symbol call would have answered.
	Status int `json:"status"`
	// RequestedSymbol is the symbol as sent, when it was normalised.
	RequestedSymbol string `json:"requested_symbol,omitempty"`
}

// batchResponse is the original's {results, summary}: results[SYMBOL] is the analysis or, as in the
// original, {"error": …}; errors repeats the failures as a list.
type batchResponse struct {
	Results map[string]any `json:"results"`
	Errors  []batchError   `json:"errors"`
	Summary batchSummary   `json:"summary"`
}

// jsonRaw is already-valid JSON (a cached document with its metadata spliced in).
type jsonRaw []byte

func (j jsonRaw) MarshalJSON() ([]byte, error) { return j, nil }

// batchItem is one symbol of a batch: as requested, and as answered.
type batchItem struct {
	requested, symbol string
	err               error // the symbol is unusable; nothing is looked up
}

// batchItems normalises the symbols; only an absent or oversized list makes the whole call unusable.
// A symbol listed twice (also after normalisation) is answered once.
func batchItems(symbols []string, limit int) ([]batchItem, error) {
	switch {
	case len(symbols) == 0:
		return nil, errorf(http.StatusBadRequest, "symbols is required: a list of 1 to %d symbols", limit)
	case len(symbols) > limit:
		return nil, errorf(http.StatusBadRequest, "%d symbols is more than the %d allowed in one call", len(symbols), limit)
	}
	items := make([]batchItem, 0, len(symbols))
	seen := make(map[string]bool, len(symbols))
	for _, raw := range symbols {
		sym, err := legacySymbol(raw)
		key := sym
		if err != nil {
			key = raw
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		items = append(items, batchItem{requested: raw, symbol: sym, err: err})
	}
	return items, nil
}

// outcome is one batch item's answer: the document with its metadata, or why there is none.
type outcome struct {
	batchItem
	doc    jsonRaw
	cached bool
}

// key is where the outcome is reported: the symbol answered, or the input when it was unusable.
func (o outcome) key() string {
	if o.symbol == "" {
		return o.requested
	}
	return o.symbol
}

func (o outcome) failure() batchError {
	be := batchError{Symbol: o.key(), Error: o.err.Error(), Status: http.StatusInternalServerError}
	if o.symbol != "" && o.symbol != o.requested {
		be.RequestedSymbol = o.requested
	}
	var ae *apiError
	if errors.As(o.err, &ae) {
		be.Reason, be.Status = ae.reason, ae.status
	}
	return be
}

func (s *Server) analyzeBatch(w http.ResponseWriter, r *http.Request) {
	var req analyzeBatchRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	outcomes, err := s.serveBatch(r, req.Symbols, req.Market, req.ForceRefresh)
	if err != nil {
		writeError(w, err)
		return
	}
	resp := batchResponse{Results: make(map[string]any, len(outcomes)), Errors: []batchError{},
		Summary: batchSummary{Total: len(outcomes)}}
	for _, o := range outcomes {
		if o.err != nil {
			be := o.failure()
			resp.Results[o.key()] = be
			resp.Errors = append(resp.Errors, be)
			resp.Summary.Failed++
			continue
		}
		resp.Results[o.key()] = o.doc
		resp.Summary.Success++
		if o.cached {
			resp.Summary.Cached++
		}
	}
	writeOK(w, resp)
}

// serveBatch checks the request and the caller (a forced batch is mutating work), then answers
// each symbol.
func (s *Server) serveBatch(r *http.Request, symbols []string, marketName string, force bool) ([]outcome, error) {
	items, err := batchItems(symbols, maxBatchSymbols)
	if err != nil {
		return nil, err
	}
	exchange, err := marketExchange(marketName)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(r, force); err != nil {
		return nil, err
	}
	return s.batch(r.Context(), items, exchange, force), nil
}

// batch answers each item, BatchConcurrency at a time; a symbol's failure is reported beside the
// others' results. Computations queue for a slot as long as the request lasts.
func (s *Server) batch(ctx context.Context, items []batchItem, exchange string, force bool) []outcome {
	out := make([]outcome, len(items))
	var (
		wg  sync.WaitGroup
		sem = make(chan struct{}, s.cfg.BatchConcurrency)
	)
	now := s.cfg.Clock.Now()
	for i, item := range items {
		out[i].batchItem = item
		if item.err != nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			l, err := s.get(ctx, item.symbol, exchange, force, s.cfg.ComputeTimeout)
			if err == nil {
				if item.symbol != item.requested {
					l.requested = item.requested
				}
				out[i].doc, err = withMeta(nil, l, now, legacyForm)
				out[i].cached = l.cached
			}
			out[i].err = err
		}()
	}
	wg.Wait()
	return out
}

type preloadRequest struct {
	Symbols []string `json:"symbols"`
	Market  string   `json:"market"`
}

// preloadResponse is the original's answer; errors says why each failed symbol failed.
type preloadResponse struct {
	Total         int          `json:"total"`
	Success       int          `json:"success"`
	Failed        int          `json:"failed"`
	FailedSymbols []string     `json:"failed_symbols"`
	Duration      float64      `json:"duration"`
	Errors        []batchError `json:"errors"`
}

// preload computes the symbols now, ignoring the cache: a batch with force, answered with counts.
func (s *Server) preload(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req preloadRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	outcomes, err := s.serveBatch(r, req.Symbols, req.Market, true)
	if err != nil {
		writeError(w, err)
		return
	}
	resp := preloadResponse{Total: len(outcomes), FailedSymbols: []string{}, Errors: []batchError{}}
	for _, o := range outcomes {
		if o.err != nil {
			resp.FailedSymbols = append(resp.FailedSymbols, o.key())
			resp.Errors = append(resp.Errors, o.failure())
			continue
		}
		resp.Success++
	}
	resp.Failed = len(resp.FailedSymbols)
	resp.Duration = math.Round(time.Since(start).Seconds()*100) / 100
	writeOK(w, resp)
}
