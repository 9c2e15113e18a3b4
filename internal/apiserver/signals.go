package apiserver

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/hama-operator/hama-operator/internal/signals"
)

// SignalHistory is the signal history the API reads; signals.Log implements it.
type SignalHistory interface {
	List(ctx context.Context, q signals.Query) ([]signals.Event, error)
}

// maxSignals bounds the limit of one signals call.
const maxSignals = 1000

// listSignals is GET /api/v1/signals?symbol=&timeframe=&kind=&since=&limit=: the signal history,
// newest first.
func (s *Server) listSignals(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r, false); err != nil {
		writeError(w, err)
		return
	}
	q, err := signalQuery(r)
	if err != nil {
		writeError(w, err)
		return
	}
	events, err := s.cfg.Signals.List(r.Context(), q)
	if err != nil {
		writeError(w, err)
		return
	}
	if events == nil {
		events = []signals.Event{}
	}
	writeOK(w, map[string]any{"signals": events})
}

// signalQuery reads the filters; since is RFC3339 or unix seconds, limit 1..1000 (default 100).
func signalQuery(r *http.Request) (signals.Query, error) {
	v := r.URL.Query()
	q := signals.Query{Symbol: v.Get("symbol"), Timeframe: v.Get("timeframe"), Limit: 100}
	if q.Symbol != "" {
		if err := validateSymbol(q.Symbol); err != nil {
			return q, err
		}
	}
	if err := validateTimeframe(q.Timeframe); err != nil {
		return q, err
	}
	if k := v.Get("kind"); k != "" {
		kind, err := signals.ParseKind(k)
		if err != nil {
			return q, errorf(http.StatusBadRequest, "%s", err.Error())
		}
		q.Kind = kind
	}
	if since := v.Get("since"); since != "" {
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			secs, serr := strconv.ParseInt(since, 10, 64)
			if serr != nil || secs < 0 {
				return q, errorf(http.StatusBadRequest, "since %q is neither an RFC3339 time (2026-01-02T15:04:05Z) nor unix seconds", since)
			}
			t = time.Unix(secs, 0)
		}
		q.Since = t
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxSignals {
			return q, errorf(http.StatusBadRequest, "limit %q must be a whole number from 1 to %d", l, maxSignals)
		}
		q.Limit = n
	}
	return q, nil
}
