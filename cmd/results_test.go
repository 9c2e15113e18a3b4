package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

func TestCachedResultsNamesTheSymbolsWithoutAKey(t *testing.T) {
	store, err := cache.New(cache.DefaultConfig(), nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	ctx := context.Background()
	for _, key := range []string{"hama:analysis:BTCUSDT", "other:ETHUSDT"} {
		if err := store.Update(ctx, key, func([]byte) ([]byte, time.Duration, error) { return []byte(`{}`), time.Hour, nil }); err != nil {
			t.Fatal(err)
		}
	}
	missing, err := cachedResults{store: store, keys: refresh.DefaultKeyPrefix}.Missing(ctx, []string{"BTCUSDT", "ETHUSDT", "SOLUSDT"})
	if err != nil || !slices.Equal(missing, []string{"ETHUSDT", "SOLUSDT"}) {
		t.Fatalf("Missing = %v, %v; want ETHUSDT (under another prefix) and SOLUSDT", missing, err)
	}
}
