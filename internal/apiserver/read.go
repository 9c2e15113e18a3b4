package apiserver

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/cache"
)

// cacheStatsResponse is the original's cache-stats answer (cache_type … memory_cache_fallback, and
// oldest_cache/newest_cache while memory serves), with the Redis state beside it.
type cacheStatsResponse struct {
	CacheType            string   `json:"cache_type"`
	CachedSymbols        int      `json:"cached_symbols"`
	CacheDurationMinutes float64  `json:"cache_duration_minutes"`
	Symbols              []string `json:"symbols"`
	// MemoryCacheFallback counts the analyses in this replica's memory copy, as the original counted
	// its memory cache's.
	MemoryCacheFallback int        `json:"memory_cache_fallback"`
	OldestCache         *time.Time `json:"oldest_cache,omitempty"`
	NewestCache         *time.Time `json:"newest_cache,omitempty"`
	RedisEnabled        bool       `json:"redis_enabled"`
	RedisUp             bool       `json:"redis_up"`
	Fallbacks           uint64     `json:"fallbacks"`
	LastError           string     `json:"last_error,omitempty"`
}

func (s *Server) cachedSymbols(ctx context.Context) ([]string, error) {
	keys, err := s.cache.Keys(ctx, string(s.cfg.Keys))
	if err != nil {
		return nil, err
	}
	symbols := make([]string, 0, len(keys))
	for _, k := range keys {
		symbols = append(symbols, s.cfg.Keys.Symbol(k))
	}
	slices.Sort(symbols)
	return slices.Compact(symbols), nil
}

// CountCachedSymbols counts the symbols cache-stats lists; the hama_cached_symbols gauge asks it on
// every scrape.
func (s *Server) CountCachedSymbols(ctx context.Context) (int, error) {
	symbols, err := s.cachedSymbols(ctx)
	return len(symbols), err
}

func (s *Server) statsResponse(r *http.Request) (cacheStatsResponse, error) {
	symbols, err := s.cachedSymbols(r.Context())
	if err != nil {
		return cacheStatsResponse{}, err
	}
	st := s.cache.Stats()
	resp := cacheStatsResponse{
		CacheType: string(st.Serving), CachedSymbols: len(symbols), Symbols: symbols,
		CacheDurationMinutes: s.cfg.OnDemandTTL.Minutes(),
		MemoryCacheFallback:  s.cache.MemoryEntries(string(s.cfg.Keys)), RedisEnabled: st.RedisEnabled, RedisUp: st.RedisUp,
		Fallbacks: st.Fallbacks, LastError: st.LastError,
	}
	if st.Serving == cache.BackendMemory {
		resp.OldestCache, resp.NewestCache = s.updateTimes(r, symbols)
	}
	return resp, nil
}

// updateTimes is the oldest and newest updated_at of the symbols' documents (nil without any). It
// reads every document, so it only runs while memory serves, as the original's did.
func (s *Server) updateTimes(r *http.Request, symbols []string) (oldest, newest *time.Time) {
	for _, sym := range symbols {
		e, err := s.cache.Get(r.Context(), s.cfg.Keys.Key(sym))
		if err != nil {
			continue
		}
		t, ok := updatedAt(e.Value)
		if !ok {
			continue
		}
		if oldest == nil || t.Before(*oldest) {
			oldest = &t
		}
		if newest == nil || t.After(*newest) {
			newest = &t
		}
	}
	return oldest, newest
}

func (s *Server) cacheStats(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r, false); err != nil {
		writeError(w, err)
		return
	}
	resp, err := s.statsResponse(r)
	if err != nil {
		writeError(w, err)
		return
	}
	writeOK(w, resp)
}

// schedulerCacheStats is the original scheduler's cache_stats: {available, cached_symbols,
// cache_ttl_seconds, cache_ttl_minutes}, or an error instead of the minutes, and the serving backend.
type schedulerCacheStats struct {
	// Available is true while Redis serves, as the original's was a PING of Redis.
	Available       bool   `json:"available"`
	CachedSymbols   int    `json:"cached_symbols"`
	CacheTTLSeconds int    `json:"cache_ttl_seconds"`
	CacheTTLMinutes int    `json:"cache_ttl_minutes"`
	CacheType       string `json:"cache_type"`
	Error           string `json:"error,omitempty"`
}

func (s *Server) schedulerCacheStats(r *http.Request) schedulerCacheStats {
	st := s.cache.Stats()
	ttl := s.cfg.OnDemandTTL
	out := schedulerCacheStats{Available: st.Serving == cache.BackendRedis, CacheType: string(st.Serving),
		CacheTTLSeconds: int(ttl.Seconds()), CacheTTLMinutes: int(ttl.Minutes())}
	keys, err := s.cache.Keys(r.Context(), string(s.cfg.Keys))
	if err != nil {
		out.Available, out.Error = false, err.Error()
		return out
	}
	out.CachedSymbols = len(keys)
	return out
}

// getAnalysis is GET /api/v1/analysis/{symbol}[?timeframe=15m].
func (s *Server) getAnalysis(w http.ResponseWriter, r *http.Request) {
	symbol, tf, err := s.symbolRead(r, "")
	if err != nil {
		writeError(w, err)
		return
	}
	l, err := s.get(r.Context(), symbol, "", false, s.cfg.ComputeWait)
	if err != nil {
		writeError(w, err)
		return
	}
	if tf == "" {
		writeAnalysis(w, l, s.cfg.Clock.Now(), cleanForm)
		return
	}
	doc, err := analysis.Decode(l.doc)
	if err != nil {
		writeError(w, err)
		return
	}
	res, ok := doc.Timeframes[tf]
	if !ok {
		writeError(w, errorf(http.StatusNotFound, "%s has no cached %s analysis; cached timeframes: %s", symbol, tf, strings.Join(sortedKeys(doc.Timeframes), ", ")))
		return
	}
	writeOK(w, res)
}

// symbolRead authorises a read of the path's symbol and checks the symbol and the timeframe query,
// which is defaultTF when the call names none ("": any timeframe).
func (s *Server) symbolRead(r *http.Request, defaultTF string) (symbol, tf string, err error) {
	if err := s.authorize(r, false); err != nil {
		return "", "", err
	}
	symbol = r.PathValue("symbol")
	if err := validateSymbol(symbol); err != nil {
		return "", "", err
	}
	tf = cmp.Or(r.URL.Query().Get("timeframe"), defaultTF)
	return symbol, tf, validateTimeframe(tf)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// listAnalyses is GET /api/v1/analysis: the cached symbols.
func (s *Server) listAnalyses(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r, false); err != nil {
		writeError(w, err)
		return
	}
	symbols, err := s.cachedSymbols(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeOK(w, map[string]any{"symbols": symbols, "count": len(symbols)})
}

// readyz reports the cache state; it stays 200 while memory can serve, with the detail.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	st := s.cache.Stats()
	status := "ready"
	if st.RedisEnabled && !st.RedisUp {
		status = "degraded: redis unavailable, serving from memory"
	}
	writeOK(w, map[string]any{
		"status": status, "cache_backend": st.Serving, "redis_enabled": st.RedisEnabled, "redis_up": st.RedisUp,
		"fallbacks": st.Fallbacks, "last_error": st.LastError,
	})
}
