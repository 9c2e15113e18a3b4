package cache

import (
	"context"
	"errors"
	"time"
)

// ComputeFunc produces a value and its TTL (<= 0: the configured DefaultTTL).
type ComputeFunc = func(ctx context.Context) ([]byte, time.Duration, error)

type flightResult struct {
	entry    Entry
	computed bool
}

// GetOrCompute returns the cached value, or computes it once for all concurrent callers of the same
// key (single-flight), stores it in both tiers and returns it with computed set. The computation
// runs with the context of the caller that started it; callers that must not share its
// cancellation pass a detached context.
func (t *Tiered) GetOrCompute(ctx context.Context, key string, compute ComputeFunc) (Entry, bool, error) {
	if e, err := t.Get(ctx, key); err == nil {
		return e, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Entry{}, false, err
	}
	v, err, _ := t.flight.Do("miss\x00"+key, func() (any, error) {
		// A caller that missed just before the previous computation stored its value finds it here.
		if e, err := t.get(ctx, key); err == nil {
			return flightResult{entry: e}, nil
		}
		e, err := t.computeAndStore(ctx, key, compute)
		return flightResult{entry: e, computed: true}, err
	})
	if err != nil {
		return Entry{}, false, err
	}
	r := v.(flightResult)
	return r.entry, r.computed, nil
}

// Compute runs compute once per key across concurrent callers, stores the result and returns it,
// ignoring the cached value: for a forced refresh. It does not join a GetOrCompute of the same key,
// which may answer from the cache.
func (t *Tiered) Compute(ctx context.Context, key string, compute ComputeFunc) (Entry, error) {
	v, err, _ := t.flight.Do("force\x00"+key, func() (any, error) {
		return t.computeAndStore(ctx, key, compute)
	})
	if err != nil {
		return Entry{}, err
	}
	return v.(Entry), nil
}

// computeAndStore returns the computed value even when storing it ends with ctx: the caller paid
// for the computation.
func (t *Tiered) computeAndStore(ctx context.Context, key string, compute ComputeFunc) (Entry, error) {
	value, ttl, err := compute(ctx)
	if err != nil {
		return Entry{}, err
	}
	if ttl <= 0 {
		ttl = t.cfg.DefaultTTL
	}
	backend, _ := t.set(ctx, key, value, ttl)
	return Entry{Value: value, Backend: backend, TTL: ttl}, nil
}
