package main

import (
	"context"
	"strings"

	"github.com/hama-operator/hama-operator/internal/cache"
)

// cachedResults answers the controller's "which symbols have no result in the cache?" with one
// listing of the key prefix on the serving backend, which leaves the read metrics alone.
type cachedResults struct{ store *cache.Tiered }

func (c cachedResults) Missing(ctx context.Context, symbols []string) ([]string, error) {
	prefix := c.store.Config().KeyPrefix
	keys, err := c.store.Keys(ctx, prefix)
	if err != nil {
		return nil, err
	}
	present := make(map[string]bool, len(keys))
	for _, k := range keys {
		present[strings.TrimPrefix(k, prefix)] = true
	}
	var missing []string
	for _, s := range symbols {
		if !present[s] {
			missing = append(missing, s)
		}
	}
	return missing, nil
}
