// Package gctune sets the Go garbage collector for a server in a container. Answering cache hits
// allocates a few KiB per request while the live heap stays small, so with Go's default GOGC=100
// the collector runs dozens of times a second under load and its mark phases show up as the
// latency tail. A higher GC percentage collects less often; a memory limit at a fraction of the
// container's own (GOMEMLIMIT, read from the cgroup by automemlimit, as Prometheus does) makes the
// collector work harder before the pod nears its limit, so the higher percentage cannot cost an OOM kill.
package gctune

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// Settings are the collector settings; the GOGC and GOMEMLIMIT environment variables win over them.
type Settings struct {
	// GCPercent is the GOGC value to use when the environment sets none.
	GCPercent int
	// MemoryLimitRatio is the fraction of the container's memory limit to set as GOMEMLIMIT when
	// the environment sets none; 0 sets no limit.
	MemoryLimitRatio float64
}

// Defaults: a heap may grow to nine times its live size between collections (the operator's live
// heap is 5-12 MB, so 45-110 MB; docs/deploy.md), and the soft limit leaves a tenth of the container's memory for
// what the Go runtime does not count. The share of time the collector spends marking falls as the
// percentage rises, whatever the live heap; at 400 it still decided the API's p99 in about one load
// run in three (docs/performance.md), at 800 it no longer does.
const (
	DefaultGCPercent        = 800
	DefaultMemoryLimitRatio = 0.9
)

// BindFlags registers the settings' flags on fs with the defaults.
func (s *Settings) BindFlags(fs *flag.FlagSet) {
	fs.IntVar(&s.GCPercent, "gc-percent", DefaultGCPercent,
		"Garbage collection target percentage, as GOGC (which wins when set); -1 turns the collector off below the memory limit.")
	fs.Float64Var(&s.MemoryLimitRatio, "memory-limit-ratio", DefaultMemoryLimitRatio,
		"Set GOMEMLIMIT to this fraction of the container's memory limit (cgroup), unless GOMEMLIMIT is set; 0 disables.")
}

// Result says what Apply set, for the log.
type Result struct {
	GCPercent int
	// GCPercentFrom is "GOGC" when the environment decided, else "flag".
	GCPercentFrom string
	// MemoryLimit is GOMEMLIMIT in bytes; math.MaxInt64 means none.
	MemoryLimit int64
}

// Apply sets the collector from s and the container's memory limit.
func Apply(s Settings) (Result, error) { return apply(s, memlimit.FromCgroup) }

func apply(s Settings, containerLimit memlimit.Provider) (Result, error) {
	if s.MemoryLimitRatio < 0 || s.MemoryLimitRatio > 1 || math.IsNaN(s.MemoryLimitRatio) {
		return Result{}, fmt.Errorf("--memory-limit-ratio %v: want 0 (off) or a fraction up to 1", s.MemoryLimitRatio)
	}
	if s.GCPercent < -1 {
		return Result{}, fmt.Errorf("--gc-percent %d: want -1 (off) or more", s.GCPercent)
	}
	r := Result{GCPercentFrom: "GOGC"}
	if _, set := os.LookupEnv("GOGC"); set {
		r.GCPercent = debug.SetGCPercent(-1)
		debug.SetGCPercent(r.GCPercent)
	} else {
		debug.SetGCPercent(s.GCPercent)
		r.GCPercent, r.GCPercentFrom = s.GCPercent, "flag"
	}
	r.MemoryLimit = debug.SetMemoryLimit(-1)
	if s.MemoryLimitRatio == 0 {
		return r, nil
	}
	// memlimit leaves GOMEMLIMIT alone when the environment sets it, and treats "no limit" as success.
	limit, err := memlimit.Set(memlimit.WithRatio(s.MemoryLimitRatio), memlimit.WithProvider(containerLimit))
	if err != nil && !errors.Is(err, memlimit.ErrNoLimit) {
		return r, err
	}
	r.MemoryLimit = limit
	return r, nil
}
