package apiserver

import (
	"context"
	"net/http"
	"slices"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/board"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// mountBoard serves the signal board (package board) under /board/, behind the same read
// authentication as the API's reads, and redirects / there.
func (s *Server) mountBoard() {
	cfg := board.Config{Cache: s.cache, Keys: s.cfg.Keys, Log: s.log.WithName("board")}
	if s.kube != nil {
		cfg.Schedules = s.scheduleMembers
	}
	if s.cfg.Signals != nil {
		cfg.Signals = s.recentSignals
	}
	b := board.New(cfg)
	s.mux.Handle("/board/", s.instrument("/board/", func(w http.ResponseWriter, r *http.Request) {
		if err := s.authorize(r, false); err != nil {
			writeError(w, err)
			return
		}
		b.ServeHTTP(w, r)
	}))
	s.handle("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/board/", http.StatusFound)
	})
}

// scheduleMembers maps each symbol to the "namespace/name" of the schedules that cover it: their
// spec.symbols, or the top gainers their last run resolved.
func (s *Server) scheduleMembers(ctx context.Context) (map[string][]string, error) {
	var list analysisv1alpha1.AnalysisScheduleList
	if err := s.kube.List(ctx, &list); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, sched := range list.Items {
		symbols := sched.Spec.Symbols
		if len(symbols) == 0 {
			symbols = sched.Status.ResolvedSymbols
		}
		for _, sym := range symbols {
			out[string(sym)] = append(out[string(sym)], sched.Namespace+"/"+sched.Name)
		}
	}
	for _, names := range out {
		slices.Sort(names)
	}
	return out, nil
}

// recentSignals is the board's feed: the newest signals of the history, as GET /api/v1/signals
// answers them.
func (s *Server) recentSignals(ctx context.Context, limit int) ([]board.Signal, error) {
	events, err := s.cfg.Signals.List(ctx, signals.Query{Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]board.Signal, 0, len(events))
	for _, e := range events {
		out = append(out, board.Signal{ID: e.ID, Data: e})
	}
	return out, nil
}
