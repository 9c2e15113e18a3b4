package main

import (
	"context"

	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// cachedResults answers the controller's "which symbols have no result in the cache?" with one
// listing of the key prefix on the serving backend, which leaves the read metrics alone.
type cachedResults struct {
	store *cache.Cache
	keys  refresh.KeyPrefix
}

func (c cachedResults) Missing(ctx context.Context, symbols []string) ([]string, error) {
	keys, err := c.store.Keys(ctx, string(c.keys))
	if err != nil {
		return nil, err
	}
	present := make(map[string]bool, len(keys))
	for _, k := range keys {
		present[c.keys.Symbol(k)] = true
	}
	var missing []string
	for _, s := range symbols {
		if !present[s] {
			missing = append(missing, s)
		}
	}
	return missing, nil
}
