package controllers

import (
	"math/rand/v2"
	"time"
)

// runReason says why a run is due; it ends up in logs and in the Reconciling condition.
type runReason string

const (
	reasonWarmUp      runReason = "WarmUp"
	reasonSpecChanged runReason = "SpecChanged"
	reasonRequested   runReason = "RefreshRequested"
	reasonScheduled   runReason = "Scheduled"
	// reasonResultsMissing: the schedule is not due, but results it stored are gone from the cache.
	reasonResultsMissing runReason = "ResultsMissing"
)

// planInput is what the schedule's status and spec say about timing.
type planInput struct {
	now                time.Time
	interval           time.Duration
	generation         int64
	observedGeneration int64
	lastRun            *time.Time
	nextRun            *time.Time
	refreshRequest     string
	lastHandledRefresh string
	// firstSight is true the first time this process looks at the schedule (after a start or a
	// leader change): overdue runs are then spread over the jitter window instead of all firing at once.
	firstSight bool
}

// plan is the decision for one reconcile.
type plan struct {
	due    bool
	reason runReason
	// at is when the run is due; in the future when not due yet.
	at time.Time
}

// scheduler decides when schedules run. Its decisions depend only on status, so an operator restart
// neither resets the clock nor skips an overdue run.
type scheduler struct {
	// jitter is a fraction of the interval (0.05 = 5%) by which runs are spread.
	jitter float64
	// randFloat returns a number in [0,1); replaced in tests.
	randFloat func() float64
}

func newScheduler(jitterPercent float64) scheduler {
	return scheduler{jitter: jitterPercent / 100, randFloat: rand.Float64}
}

func (s scheduler) plan(in planInput) plan {
	switch {
	case in.refreshRequest != "" && in.refreshRequest != in.lastHandledRefresh:
		return plan{due: true, reason: reasonRequested, at: in.now}
	case in.lastRun == nil:
		return plan{due: true, reason: reasonWarmUp, at: in.now}
	case in.generation != in.observedGeneration:
		return plan{due: true, reason: reasonSpecChanged, at: in.now}
	}

	next := in.lastRun.Add(in.interval)
	if in.nextRun != nil {
		next = *in.nextRun
	}
	if in.now.Before(next) {
		return plan{reason: reasonScheduled, at: next}
	}
	if in.firstSight {
		// Overdue when this process first sees it: run within the jitter window, not this very second.
		if delay := s.spread(in.interval); delay > 0 {
			return plan{reason: reasonScheduled, at: in.now.Add(delay)}
		}
	}
	return plan{due: true, reason: reasonScheduled, at: in.now}
}

// nextAfter plans the run after one that started at start and ended at end: one interval after the
// start, so run time does not make the schedule drift, shifted by up to ±jitter/2 of the interval.
func (s scheduler) nextAfter(start, end time.Time, interval time.Duration) time.Time {
	next := start.Add(interval)
	if s.jitter > 0 {
		window := time.Duration(float64(interval) * s.jitter)
		next = next.Add(time.Duration(s.randFloat()*float64(window)) - window/2)
	}
	if next.Before(end) {
		return end
	}
	return next
}

func (s scheduler) spread(interval time.Duration) time.Duration {
	return time.Duration(s.randFloat() * s.jitter * float64(interval))
}

// refill decides on a schedule that is not due but whose results are partly gone from the cache
// (Redis flushed or restarted empty with no memory copy to refill it, or results expired while no
// operator ran): it runs now rather than at its planned time. missing counts the symbols without a
// result beyond those that failed in the last run, which have none to lose. A run within minGap
// waits: results that vanish again at once are a cache problem that another run does not fix.
func refill(p plan, in planInput, missing int, minGap time.Duration) plan {
	if p.due || missing == 0 || (in.lastRun != nil && in.now.Sub(*in.lastRun) < minGap) {
		return p
	}
	return plan{due: true, reason: reasonResultsMissing, at: in.now}
}
