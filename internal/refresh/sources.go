package refresh

import (
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/market/binance"
	"github.com/hama-operator/hama-operator/internal/market/simulated"
)

// Sources hands out one market source per exchange and base URL, so every schedule that talks to
// the same endpoint shares its connection pool and, above all, its request-weight budget.
type Sources struct {
	// Observer receives every exchange request, for metrics; may be nil.
	Observer binance.Observer
	// WeightPerMinute overrides the exchange clients' request-weight budget (0: Binance-safe
	// defaults), for a private mirror that allows more.
	WeightPerMinute int

	mu      sync.Mutex
	clients map[string]market.Source
}

// Source returns the source for exchange, one of market.Exchanges ("" is market.Binance).
func (s *Sources) Source(exchange, baseURL string) (market.Source, error) {
	if baseURL != "" {
		u, err := url.Parse(baseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("base URL %q is not an absolute http(s) URL", baseURL)
		}
	}
	key := exchange + " " + baseURL
	s.mu.Lock()
	defer s.mu.Unlock()
	if src, ok := s.clients[key]; ok {
		return src, nil
	}
	var src market.Source
	switch exchange {
	case market.Simulated:
		src = simulated.New()
	case market.Binance, market.BinanceFutures, "":
		src = binance.New(binance.Config{BaseURL: baseURL, Futures: exchange == market.BinanceFutures, Observer: s.Observer,
			WeightPerMinute: s.WeightPerMinute})
	default:
		return nil, fmt.Errorf("unknown exchange %q: want one of %s", exchange, strings.Join(market.Exchanges, ", "))
	}
	if s.clients == nil {
		s.clients = map[string]market.Source{}
	}
	s.clients[key] = src
	return src, nil
}
