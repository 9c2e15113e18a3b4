package controllers

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time {
	t := t0.Add(d)
	return &t
}

func fixedScheduler(jitterPercent, r float64) scheduler {
	s := newScheduler(jitterPercent)
	s.randFloat = func() float64 { return r }
	return s
}

func TestPlan(t *testing.T) {
	const interval = 5 * time.Minute
	base := planInput{now: t0, interval: interval, generation: 2, observedGeneration: 2}
	tests := []struct {
		name   string
		change func(*planInput)
		jitter float64
		due    bool
		reason runReason
		at     time.Time
	}{
		{"new schedule warms up at once", func(in *planInput) { in.observedGeneration = 0; in.generation = 1 },
			5, true, reasonWarmUp, t0},
		{"spec change runs at once", func(in *planInput) { in.lastRun = at(-time.Minute); in.generation = 3 },
			5, true, reasonSpecChanged, t0},
		{"new refresh request runs at once", func(in *planInput) {
			in.lastRun = at(-time.Minute)
			in.nextRun = at(4 * time.Minute)
			in.refreshRequest = "b"
			in.lastHandledRefresh = "a"
		}, 5, true, reasonRequested, t0},
		{"handled refresh request waits for the interval", func(in *planInput) {
			in.lastRun = at(-time.Minute)
			in.nextRun = at(4 * time.Minute)
			in.refreshRequest = "a"
			in.lastHandledRefresh = "a"
		}, 5, false, reasonScheduled, t0.Add(4 * time.Minute)},
		{"not yet due waits for the planned time", func(in *planInput) {
			in.lastRun = at(-2 * time.Minute)
			in.nextRun = at(3 * time.Minute)
		}, 5, false, reasonScheduled, t0.Add(3 * time.Minute)},
		{"without a planned time, one interval after the last run", func(in *planInput) {
			in.lastRun = at(-2 * time.Minute)
		}, 5, false, reasonScheduled, t0.Add(3 * time.Minute)},
		{"overdue runs now", func(in *planInput) {
			in.lastRun = at(-6 * time.Minute)
			in.nextRun = at(-time.Minute)
		}, 5, true, reasonScheduled, t0},
		{"overdue at first sight is spread over the jitter window", func(in *planInput) {
			in.lastRun = at(-time.Hour)
			in.nextRun = at(-55 * time.Minute)
			in.firstSight = true
		}, 10, false, reasonScheduled, t0.Add(15 * time.Second)}, // 0.5 × 10% × 5m
		{"overdue at first sight without jitter runs now", func(in *planInput) {
			in.lastRun = at(-time.Hour)
			in.nextRun = at(-55 * time.Minute)
			in.firstSight = true
		}, 0, true, reasonScheduled, t0},
		{"a restart before the planned time keeps the plan", func(in *planInput) {
			in.lastRun = at(-time.Minute)
			in.nextRun = at(4 * time.Minute)
			in.firstSight = true
		}, 10, false, reasonScheduled, t0.Add(4 * time.Minute)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			tc.change(&in)
			got := fixedScheduler(tc.jitter, 0.5).plan(in)
			if got.due != tc.due || got.reason != tc.reason || !got.at.Equal(tc.at) {
				t.Fatalf("plan = {due:%v reason:%s at:%s}, want {due:%v reason:%s at:%s}",
					got.due, got.reason, got.at.Format(time.TimeOnly), tc.due, tc.reason, tc.at.Format(time.TimeOnly))
			}
		})
	}
}

func TestNextAfter(t *testing.T) {
	const interval = 10 * time.Minute
	tests := []struct {
		name         string
		jitter, rand float64
		runTook      time.Duration
		want         time.Time
	}{
		{"one interval after the start, not the end", 0, 0, 2 * time.Minute, t0.Add(interval)},
		{"jitter low end is -half the window", 10, 0, time.Second, t0.Add(interval - 30*time.Second)},
		{"jitter high end is +half the window", 10, 0.999999, time.Second, t0.Add(interval + 30*time.Second)},
		{"a run longer than the interval is followed at once", 0, 0, 12 * time.Minute, t0.Add(12 * time.Minute)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fixedScheduler(tc.jitter, tc.rand).nextAfter(t0, t0.Add(tc.runTook), interval)
			if d := got.Sub(tc.want); d > time.Millisecond || d < -time.Millisecond {
				t.Fatalf("nextAfter = %s, want %s", got.Format(time.TimeOnly), tc.want.Format(time.TimeOnly))
			}
		})
	}
}

func TestJitterSpreadsRunsOfSchedulesCreatedTogether(t *testing.T) {
	s := newScheduler(5)
	seen := map[time.Time]bool{}
	for range 100 {
		seen[s.nextAfter(t0, t0.Add(time.Second), 5*time.Minute).Truncate(time.Second)] = true
	}
	if len(seen) < 10 {
		t.Fatalf("100 schedules landed on only %d distinct seconds; jitter should spread them over 15s", len(seen))
	}
}

func TestRefill(t *testing.T) {
	const gap = 30 * time.Second
	waiting := plan{reason: reasonScheduled, at: t0.Add(time.Hour)}
	tests := []struct {
		name    string
		p       plan
		lastRun *time.Time
		missing int
		due     bool
		reason  runReason
	}{
		{"all results cached: keeps its time", waiting, at(-10 * time.Minute), 0, false, reasonScheduled},
		{"results gone since a run long ago (a restart after a flush): runs now", waiting, at(-10 * time.Minute), 3, true, reasonResultsMissing},
		{"results gone right after a run: waits, another run would not keep them", waiting, at(-10 * time.Second), 3, false, reasonScheduled},
		{"never ran: the plan's warm-up stands", plan{due: true, reason: reasonWarmUp, at: t0}, nil, 3, true, reasonWarmUp},
		{"already due: keeps its reason", plan{due: true, reason: reasonSpecChanged, at: t0}, at(-time.Hour), 3, true, reasonSpecChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := planInput{now: t0, interval: time.Hour, lastRun: tt.lastRun}
			got := refill(tt.p, in, tt.missing, gap)
			if got.due != tt.due || got.reason != tt.reason {
				t.Fatalf("refill = %+v, want due=%v reason=%s", got, tt.due, tt.reason)
			}
			if got.due && got.reason == reasonResultsMissing && !got.at.Equal(t0) {
				t.Fatalf("a refill runs now, not at %s", got.at)
			}
		})
	}
}
