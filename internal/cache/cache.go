// Package cache stores the analysis documents: Redis first (standalone, Sentinel or Cluster), with a
// write-through in-memory copy that serves every request while Redis is down, so no caller ever sees
// a Redis failure. It is value-agnostic and imports nothing from Kubernetes.
package cache

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is a miss.
var ErrNotFound = errors.New("cache: not found")

// ErrUpdateConflict means other writers kept changing a key during Update until its retries ran
// out. Redis is healthy; the caller may retry later.
var ErrUpdateConflict = errors.New("cache: too many concurrent writers of the key")

// Backend names where a value came from or went to.
type Backend string

// Backends.
const (
	BackendRedis  Backend = "redis"
	BackendMemory Backend = "memory"
)

// Entry is a cached value. Value is shared with the store: callers must not modify it.
type Entry struct {
	Value   []byte
	Backend Backend
	// TTL is the remaining time to live (0 for a Redis key without expiry).
	TTL time.Duration
}

// UpdateFunc returns the new value of a key from its current one (nil when absent). A ttl <= 0
// deletes the key. It is an alias so that callers can pass a plain function literal.
type UpdateFunc = func(current []byte) (value []byte, ttl time.Duration, err error)

// Store is a key-value cache with TTLs.
type Store interface {
	// Get returns ErrNotFound on a miss.
	Get(ctx context.Context, key string) (Entry, error)
	// Set stores value for ttl; ttl <= 0 deletes the key.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Update atomically replaces key's value with fn(current); used to merge documents when two
	// schedules cover one symbol. An error from fn is returned unchanged and nothing is written.
	Update(ctx context.Context, key string, fn UpdateFunc) error
	Delete(ctx context.Context, keys ...string) error
	// Keys lists the keys under prefix (SCAN in Redis, never KEYS).
	Keys(ctx context.Context, prefix string) ([]string, error)
	Stats(ctx context.Context) Stats
	Close() error
}

// Stats describe a store for the API, logs and tests.
type Stats struct {
	// Serving is the backend reads go to now.
	Serving      Backend `json:"serving"`
	RedisEnabled bool    `json:"redis_enabled"`
	RedisUp      bool    `json:"redis_up"`
	// Fallbacks counts operations that Redis should have served and memory answered: after a failed
	// Redis call, or while the breaker skips Redis.
	Fallbacks uint64 `json:"fallbacks"`
	// RedisErrors counts failed Redis calls (requests and health probes).
	RedisErrors uint64    `json:"redis_errors"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// MemoryEntries counts the live entries of the memory copy.
	MemoryEntries int `json:"memory_entries"`
	// Keys counts the keys under the key prefix on the serving backend.
	Keys int `json:"keys"`
	// Reads by the backend that answered them.
	RedisHits    uint64 `json:"redis_hits"`
	RedisMisses  uint64 `json:"redis_misses"`
	MemoryHits   uint64 `json:"memory_hits"`
	MemoryMisses uint64 `json:"memory_misses"`
	// Resynced counts entries copied to Redis after outages.
	Resynced uint64 `json:"resynced"`
}

// Observer receives cache events for metrics.
type Observer interface {
	// ObserveCacheRequest counts a read by the backend that answered; result is "hit" or "miss".
	ObserveCacheRequest(backend Backend, result string)
	// ObserveFallback counts an operation memory answered in place of Redis.
	ObserveFallback()
	// SetBackendUp reports whether Redis serves.
	SetBackendUp(up bool)
}

type nopObserver struct{}

func (nopObserver) ObserveCacheRequest(Backend, string) {}
func (nopObserver) ObserveFallback()                    {}
func (nopObserver) SetBackendUp(bool)                   {}

func result(hit bool) string {
	if hit {
		return "hit"
	}
	return "miss"
}
