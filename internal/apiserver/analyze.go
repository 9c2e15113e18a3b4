package apiserver

import (
	"context"
	"errors"
	"net/http"
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
}

// get serves a symbol from the cache, or computes it on a miss or when forced. Concurrent callers
// of one symbol share one computation (single-flight); the computation's merge into the cache,
// done by the Analyzer as a scheduled refresh does it, is the only write. wait is how long to
// queue for a computation slot.
func (s *Server) get(ctx context.Context, symbol string, force bool, wait time.Duration) (lookup, error) {
	if !force {
		e, err := s.cache.Get(ctx, s.cfg.Keys.Key(symbol))
		if err == nil {
			return lookup{doc: e.Value, source: string(e.Backend), cached: true}, nil
		}
		if !errors.Is(err, cache.ErrNotFound) {
			return lookup{}, err
		}
	}
	doc, err, _ := s.flight.Do(symbol, func() (any, error) { return s.compute(ctx, symbol, wait) })
	if err != nil {
		return lookup{}, err
	}
	return lookup{doc: doc.([]byte), source: "computed"}, nil
}

// compute analyses a symbol in one of the bounded slots, so a replica with a cold cache (a Redis
// outage on a non-leader) answers what it can and refuses the rest instead of melting.
func (s *Server) compute(ctx context.Context, symbol string, wait time.Duration) ([]byte, error) {
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
	doc, err := s.analyzer.AnalyzeNow(ctx, symbol)
	if err != nil && len(doc.Timeframes) == 0 {
		return nil, upstreamError(symbol, err)
	}
	return analysis.Encode(doc)
}

// upstreamError maps an analysis failure to the status a client can act on.
func upstreamError(symbol string, err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	out := &apiError{status: http.StatusBadGateway, msg: "analysing " + symbol + ": " + err.Error(), reason: refresh.Reason(err)}
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
}

func (s *Server) analyzeSymbol(w http.ResponseWriter, r *http.Request) {
	var req analyzeSymbolRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := validateSymbol(req.Symbol); err != nil {
		writeError(w, err)
		return
	}
	if err := s.authorize(r, req.ForceRefresh); err != nil {
		writeError(w, err)
		return
	}
	l, err := s.get(r.Context(), req.Symbol, req.ForceRefresh, s.cfg.ComputeWait)
	if err != nil {
		writeError(w, err)
		return
	}
	writeAnalysis(w, l, time.Now(), legacyNowForm)
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
}

type batchResponse struct {
	Results map[string]jsonRaw `json:"results"`
	Errors  []batchError       `json:"errors"`
	Summary batchSummary       `json:"summary"`
}

// jsonRaw is already-valid JSON (a cached document with its metadata spliced in).
type jsonRaw []byte

func (j jsonRaw) MarshalJSON() ([]byte, error) { return j, nil }

func (s *Server) analyzeBatch(w http.ResponseWriter, r *http.Request) {
	var req analyzeBatchRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	s.serveBatch(w, r, req.Symbols, req.ForceRefresh)
}

// serveBatch checks the symbols and the caller (a forced batch is mutating work), then answers them.
func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request, symbols []string, force bool) {
	if err := validateSymbols(symbols, maxBatchSymbols); err != nil {
		writeError(w, err)
		return
	}
	if err := s.authorize(r, force); err != nil {
		writeError(w, err)
		return
	}
	writeOK(w, s.batch(r.Context(), symbols, force))
}

// batch answers each symbol, BatchConcurrency at a time; a symbol's failure is reported beside the
// others' results. Computations queue for a slot as long as the request lasts.
func (s *Server) batch(ctx context.Context, symbols []string, force bool) batchResponse {
	resp := batchResponse{Results: make(map[string]jsonRaw, len(symbols)), Errors: []batchError{},
		Summary: batchSummary{Total: len(symbols)}}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, s.cfg.BatchConcurrency)
	)
	now := time.Now()
	for _, sym := range symbols {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			l, err := s.get(ctx, sym, force, s.cfg.ComputeTimeout)
			var meta []byte
			if err == nil {
				meta, err = withMeta(nil, l, now, legacyForm)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				resp.Errors = append(resp.Errors, batchErrorOf(sym, err))
				resp.Summary.Failed++
				return
			}
			resp.Results[sym] = meta
			resp.Summary.Success++
			if l.cached {
				resp.Summary.Cached++
			}
		}()
	}
	wg.Wait()
	return resp
}

func batchErrorOf(symbol string, err error) batchError {
	be := batchError{Symbol: symbol, Error: err.Error(), Status: http.StatusInternalServerError}
	var ae *apiError
	if errors.As(err, &ae) {
		be.Reason, be.Status = ae.reason, ae.status
	}
	return be
}

func validateSymbols(symbols []string, limit int) error {
	switch {
	case len(symbols) == 0:
		return errorf(http.StatusBadRequest, "symbols is required: a list of 1 to %d symbols", limit)
	case len(symbols) > limit:
		return errorf(http.StatusBadRequest, "%d symbols is more than the %d allowed in one call", len(symbols), limit)
	}
	seen := make(map[string]bool, len(symbols))
	for _, sym := range symbols {
		if err := validateSymbol(sym); err != nil {
			return err
		}
		if seen[sym] {
			return errorf(http.StatusBadRequest, "symbol %s is listed twice", sym)
		}
		seen[sym] = true
	}
	return nil
}

type preloadRequest struct {
	Symbols []string `json:"symbols"`
}

// preload computes the symbols now, ignoring the cache: a batch with force.
func (s *Server) preload(w http.ResponseWriter, r *http.Request) {
	var req preloadRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	s.serveBatch(w, r, req.Symbols, true)
}
