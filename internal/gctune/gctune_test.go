package gctune

import (
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// restore puts the collector settings and the environment back after a test.
func restore(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(percent)
	for _, name := range []string{"GOGC", "GOMEMLIMIT", "AUTOMEMLIMIT"} {
		t.Setenv(name, "") // and t restores the original value, or its absence, when the test ends
		_ = os.Unsetenv(name)
	}
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })
}

func TestApplySetsThePercentAndAFractionOfTheContainerLimit(t *testing.T) {
	restore(t)
	r, err := apply(Settings{GCPercent: 800, MemoryLimitRatio: 0.9}, memlimit.Limit(1000<<20))
	if err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(100); got != 800 || r.GCPercent != 800 || r.GCPercentFrom != "flag" {
		t.Fatalf("GC percent %d (result %+v), want 800 from the flag", got, r)
	}
	if got := debug.SetMemoryLimit(-1); got != 900<<20 || r.MemoryLimit != got {
		t.Fatalf("memory limit %d (result %d), want 90%% of 1000 MiB", got, r.MemoryLimit)
	}
}

func TestApplyLeavesWhatTheEnvironmentSets(t *testing.T) {
	restore(t)
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "300MiB")
	debug.SetGCPercent(150) // what the runtime read from GOGC at start
	debug.SetMemoryLimit(300 << 20)
	r, err := apply(Settings{GCPercent: 800, MemoryLimitRatio: 0.9}, memlimit.Limit(1000<<20))
	if err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(100); got != 150 || r.GCPercentFrom != "GOGC" {
		t.Fatalf("GC percent %d (result %+v), want GOGC's 150", got, r)
	}
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Fatalf("memory limit %d, want GOMEMLIMIT's 300 MiB", got)
	}
}

func TestApplyWithoutAContainerLimitSetsNone(t *testing.T) {
	restore(t)
	debug.SetMemoryLimit(math.MaxInt64)
	noLimit := func() (uint64, error) { return 0, memlimit.ErrNoLimit }
	r, err := apply(Settings{GCPercent: 800, MemoryLimitRatio: 0.9}, noLimit)
	if err != nil || r.MemoryLimit != math.MaxInt64 {
		t.Fatalf("result %+v, %v; want no limit and no error", r, err)
	}
	if _, err := apply(Settings{GCPercent: 800, MemoryLimitRatio: 0}, memlimit.Limit(1000<<20)); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("ratio 0 set a limit of %d", got)
	}
}

func TestApplyRefusesBadSettings(t *testing.T) {
	restore(t)
	for _, s := range []Settings{{GCPercent: 100, MemoryLimitRatio: 1.5}, {GCPercent: 100, MemoryLimitRatio: -0.1}, {GCPercent: -5}} {
		if _, err := apply(s, memlimit.Limit(1<<30)); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}
