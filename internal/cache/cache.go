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

// Backend names where a value came from or went to.
type Backend string

// Backends.
const (
	BackendRedis  Backend = "redis"
	BackendMemory Backend = "memory"
)

// Entry is a cached value.
type Entry struct {
	Value   []byte
	Backend Backend
	// TTL is the remaining time to live.
	TTL time.Duration
}

// UpdateFunc returns the new value of a key from its current one (nil when absent). A ttl <= 0
// deletes the key. It is an alias so that callers can name the plain function type.
type UpdateFunc = func(current []byte) (value []byte, ttl time.Duration, err error)

// Store is a key-value cache with TTLs.
type Store interface {
	Get(ctx context.Context, key string) (Entry, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Update replaces key's value atomically with fn's result.
	Update(ctx context.Context, key string, fn UpdateFunc) error
	Delete(ctx context.Context, keys ...string) error
	// Keys lists the keys under prefix (SCAN in Redis, never KEYS).
	Keys(ctx context.Context, prefix string) ([]string, error)
	Close() error
}

// Stats describe the cache for the API and logs.
type Stats struct {
	// Serving is the backend reads go to now.
	Serving      Backend   `json:"serving"`
	RedisEnabled bool      `json:"redis_enabled"`
	RedisUp      bool      `json:"redis_up"`
	Fallbacks    uint64    `json:"fallbacks"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
	// MemoryEntries counts the live entries of the memory copy.
	MemoryEntries int `json:"memory_entries"`
	// Resynced counts entries copied to Redis after outages.
	Resynced uint64 `json:"resynced"`
}

// Observer receives cache events for metrics.
type Observer interface {
	ObserveCacheRequest(backend Backend, result string)
	ObserveFallback()
	SetBackendUp(up bool)
}
