package apiserver

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// defaultSeriesTimeframe is the series route's timeframe when the call names none: the original
// service's main timeframe.
const defaultSeriesTimeframe = "15m"

// getSeries is GET /api/v1/analysis/{symbol}/series?timeframe=15m&bars=200: the cached chart of one
// timeframe, its last bars. It never computes: a chart is written with its analysis.
func (s *Server) getSeries(w http.ResponseWriter, r *http.Request) {
	symbol, tf, err := s.symbolRead(r, defaultSeriesTimeframe)
	if err != nil {
		writeError(w, err)
		return
	}
	bars := analysis.ChartBars
	if v := r.URL.Query().Get("bars"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > analysis.ChartBars {
			writeError(w, errorf(http.StatusBadRequest, "bars %q must be a whole number from 1 to %d", v, analysis.ChartBars))
			return
		}
		bars = n
	}
	e, err := s.cache.Get(r.Context(), refresh.SeriesKey(symbol, tf))
	if errors.Is(err, cache.ErrNotFound) {
		writeError(w, errorf(http.StatusNotFound, "no %s chart of %s is cached: a schedule covering it, or an analysis of it, writes one", tf, symbol))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	chart, err := analysis.DecodeChart(e.Value)
	if err != nil {
		writeError(w, err)
		return
	}
	chart.Series = chart.Last(bars)
	writeOK(w, chart)
}
