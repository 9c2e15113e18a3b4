package apiserver

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hama-operator/hama-operator/internal/gainers"
	"github.com/hama-operator/hama-operator/internal/legacy"
	"github.com/hama-operator/hama-operator/internal/market"
)

// GainerBoard ranks a market's symbols by 24-hour price change; gainers.Board implements it.
type GainerBoard interface {
	Top(ctx context.Context, exchange, baseURL string, q gainers.Query) ([]market.Ticker, gainers.Snapshot, error)
}

// The original service's bounds and defaults for the gainers list.
const (
	defaultGainers = 20
	maxGainers     = 100
	// gainersQuote is the quote asset the original kept: its list is the USDT pairs.
	gainersQuote = "USDT"
	// topGainerPercent is the original's is_top_gainer threshold: more than 5 % in 24 hours.
	topGainerPercent = 5
)

// gainerRow is one symbol of a gainers answer: the original's fields from the ticker, then the
// symbol's analysis from the cache.
type gainerRow struct {
	Symbol             string  `json:"symbol"`
	BaseAsset          string  `json:"base_asset"`
	Price              float64 `json:"price"`
	PriceChange        float64 `json:"price_change_abs"`
	PriceChangePercent float64 `json:"price_change_percent"`
	High               float64 `json:"high"`
	Low                float64 `json:"low"`
	Volume             float64 `json:"volume"`
	QuoteVolume        float64 `json:"quote_volume"`
	// OpenTime and CloseTime bound the 24-hour window, in Unix milliseconds as Binance gives them.
	OpenTime     int64  `json:"open_time"`
	CloseTime    int64  `json:"close_time"`
	Source       string `json:"source"`
	ContractType string `json:"contract_type,omitempty"`
	IsTopGainer  bool   `json:"is_top_gainer"`
	// HAMAAnalysis and Conditions are the original's view of the analysis (legacy.Unavailable's
	// stand-in when the symbol could not be analysed); HasStrongBuySignal is conditions.meets_buy_criteria.
	HAMAAnalysis       json.RawMessage `json:"hama_analysis"`
	Conditions         json.RawMessage `json:"conditions"`
	HasStrongBuySignal bool            `json:"has_strong_buy_signal"`
	// Analysis is the document analyze-batch answers for the symbol; null when the symbol could not
	// be analysed, and AnalysisError says why.
	Analysis      json.RawMessage `json:"analysis"`
	AnalysisError *batchError     `json:"analysis_error,omitempty"`
}

// withView sets the row's hama_analysis, conditions and has_strong_buy_signal from its analysis,
// or from the original's stand-in when there is none.
func (row *gainerRow) withView(now time.Time) error {
	var view struct {
		HAMAAnalysis json.RawMessage `json:"hama_analysis"`
		Conditions   json.RawMessage `json:"conditions"`
	}
	if row.Analysis != nil {
		if err := json.Unmarshal(row.Analysis, &view); err != nil {
			return err
		}
	}
	if view.HAMAAnalysis == nil || view.Conditions == nil {
		stand := legacy.Unavailable(row.Symbol, now)
		var err error
		if view.HAMAAnalysis, err = json.Marshal(stand.HAMAAnalysis); err != nil {
			return err
		}
		if view.Conditions, err = json.Marshal(stand.Conditions); err != nil {
			return err
		}
	}
	var met struct {
		MeetsBuyCriteria bool `json:"meets_buy_criteria"`
	}
	if err := json.Unmarshal(view.Conditions, &met); err != nil {
		return err
	}
	row.HAMAAnalysis, row.Conditions, row.HasStrongBuySignal = view.HAMAAnalysis, view.Conditions, met.MeetsBuyCriteria
	return nil
}

type gainersResponse struct {
	Count     int    `json:"count"`
	Timestamp string `json:"timestamp"`
	Market    string `json:"market"`
	// Exchange answered the ticker, at TickerFetchedAt (it is cached for a short while).
	Exchange        string       `json:"exchange"`
	TickerFetchedAt time.Time    `json:"ticker_fetched_at"`
	Symbols         []gainerRow  `json:"symbols"`
	Summary         batchSummary `json:"summary"`
}

// topGainers is GET /api/gainer-analysis/top-gainers?limit=20&market=spot.
func (s *Server) topGainers(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r, false); err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	limit := defaultGainers
	if v := strings.TrimSpace(q.Get("limit")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, errorf(http.StatusBadRequest, "limit %.20q must be a whole number between 1 and %d", v, maxGainers))
			return
		}
		limit = n
	}
	s.serveGainers(w, r, q.Get("market"), limit, false)
}

type refreshGainersRequest struct {
	Limit  *int   `json:"limit"`
	Market string `json:"market"`
}

// refreshGainers is POST /api/gainer-analysis/refresh {limit, market}: the gainers with every
// analysis computed now, which is mutating work like a forced analyze-symbol.
func (s *Server) refreshGainers(w http.ResponseWriter, r *http.Request) {
	var req refreshGainersRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	limit := defaultGainers
	if req.Limit != nil {
		limit = *req.Limit
	}
	if err := s.authorize(r, true); err != nil {
		writeError(w, err)
		return
	}
	s.serveGainers(w, r, req.Market, limit, true)
}

// serveGainers ranks the market's symbols and answers each with its analysis: from the cache, or
// computed on a miss (or always, with force) through the same bounded path as analyze-batch.
func (s *Server) serveGainers(w http.ResponseWriter, r *http.Request, mkt string, limit int, force bool) {
	mkt = cmp.Or(strings.ToLower(strings.TrimSpace(mkt)), "spot")
	exchange, err := marketExchange(mkt)
	if err != nil {
		writeError(w, err)
		return
	}
	if override, ok := s.cfg.MarketExchanges[mkt]; ok {
		exchange = override
	}
	if limit < 1 || limit > maxGainers {
		writeError(w, errorf(http.StatusBadRequest, "limit must be between 1 and %d, not %d", maxGainers, limit))
		return
	}
	top, snap, err := s.cfg.Gainers.Top(r.Context(), exchange, "", gainers.Query{Limit: limit, QuoteAsset: gainersQuote})
	if err != nil {
		writeError(w, upstreamError("ranking the "+mkt+" gainers", err))
		return
	}
	items := make([]batchItem, len(top))
	for i, t := range top {
		items[i] = batchItem{requested: t.Symbol, symbol: t.Symbol}
	}
	// Each row is analysed on the market it was ranked in.
	outcomes := s.batch(r.Context(), items, exchange, force)
	now := s.cfg.Clock.Now()
	resp := gainersResponse{Count: len(top), Timestamp: now.UTC().Format(legacy.TimestampLayout), Market: mkt,
		Exchange: snap.Exchange, TickerFetchedAt: snap.FetchedAt, Symbols: make([]gainerRow, len(top)),
		Summary: batchSummary{Total: len(top)}}
	for i, t := range top {
		row := gainerRow{Symbol: t.Symbol, BaseAsset: gainers.BaseAsset(t.Symbol, gainersQuote), Price: t.LastPrice,
			PriceChange: t.PriceChange, PriceChangePercent: t.PriceChangePercent, High: t.HighPrice, Low: t.LowPrice,
			Volume: t.Volume, QuoteVolume: t.QuoteVolume, OpenTime: t.OpenTime.UnixMilli(), CloseTime: t.CloseTime.UnixMilli(),
			Source: sourceLabel(snap.Exchange), IsTopGainer: t.PriceChangePercent > topGainerPercent}
		if mkt == "futures" {
			row.ContractType = "perpetual" // USDT-quoted futures symbols are the perpetuals; deliveries carry a date
		}
		switch o := outcomes[i]; {
		case o.err != nil:
			be := o.failure()
			row.AnalysisError = &be
			resp.Summary.Failed++
		default:
			row.Analysis = json.RawMessage(o.doc)
			resp.Summary.Success++
			if o.cached {
				resp.Summary.Cached++
			}
		}
		if err := row.withView(now); err != nil {
			writeError(w, err)
			return
		}
		resp.Symbols[i] = row
	}
	writeOK(w, resp)
}

// sourceLabel is how the original named where a row came from.
func sourceLabel(exchange string) string {
	switch exchange {
	case market.Binance:
		return "Binance"
	case market.BinanceFutures:
		return "Binance Futures"
	}
	return exchange
}
