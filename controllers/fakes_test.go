package controllers

import (
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// recordingRefresher stands in for the analysis pipeline in controller tests: it records when each
// schedule ran (on the suite's fake clock), can fail chosen symbols and report chosen signals, and
// checks that no schedule runs twice at once.
type recordingRefresher struct {
	clock      clock.PassiveClock
	mu         sync.Mutex
	runs       map[string][]time.Time
	jobs       map[string]refresh.Job
	inFlight   map[string]int
	overlapped map[string]bool
	failures   map[string]refresh.SymbolFailure
	signals    map[string][]analysis.SignalChange
	runErr     map[string]error
	evicted    []string
	// gainers are what a topGainers job of the schedule resolves to, biggest first.
	gainers  map[string][]string
	delay    time.Duration
	degraded bool
}

func newRecordingRefresher(clk clock.PassiveClock) *recordingRefresher {
	return &recordingRefresher{
		clock: clk,
		runs:  map[string][]time.Time{}, jobs: map[string]refresh.Job{}, inFlight: map[string]int{},
		overlapped: map[string]bool{}, failures: map[string]refresh.SymbolFailure{},
		signals: map[string][]analysis.SignalChange{}, runErr: map[string]error{}, gainers: map[string][]string{},
	}
}

func (f *recordingRefresher) Refresh(ctx context.Context, job refresh.Job) (refresh.Report, error) {
	f.mu.Lock()
	f.runs[job.Schedule] = append(f.runs[job.Schedule], f.clock.Now())
	f.jobs[job.Schedule] = job
	f.inFlight[job.Schedule]++
	if f.inFlight[job.Schedule] > 1 {
		f.overlapped[job.Schedule] = true
	}
	delay := f.delay
	runErr := f.runErr[job.Schedule]
	signals := f.signals[job.Schedule]
	delete(f.signals, job.Schedule)
	report := refresh.Report{Symbols: job.Symbols}
	if q := job.TopGainers; q != nil {
		top := f.gainers[job.Schedule]
		report.Symbols = slices.Clone(top[:min(len(top), q.Limit)])
	}
	for _, s := range report.Symbols {
		if fail, ok := f.failures[s]; ok {
			fail.Symbol = s
			report.Failures = append(report.Failures, fail)
		} else {
			report.Succeeded++
		}
	}
	f.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}

	f.mu.Lock()
	f.inFlight[job.Schedule]--
	f.mu.Unlock()
	if runErr != nil {
		return refresh.Report{}, runErr
	}
	report.Signals = signals
	report.CacheBackend = "memory"
	f.mu.Lock()
	report.CacheDegraded = f.degraded
	f.mu.Unlock()
	return report, nil
}

func (f *recordingRefresher) Evict(_ context.Context, symbols []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.evicted = append(f.evicted, symbols...)
	return nil
}

// isDegraded is the cache's state as the reconciler sees it between runs.
func (f *recordingRefresher) isDegraded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.degraded
}

func (f *recordingRefresher) runCount(schedule string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.runs[schedule])
}

func (f *recordingRefresher) runTimes(schedule string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.runs[schedule])
}

func (f *recordingRefresher) lastJob(schedule string) refresh.Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jobs[schedule]
}

func (f *recordingRefresher) evictedSymbols() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.evicted)
}

func (f *recordingRefresher) everOverlapped(schedule string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.overlapped[schedule]
}

func (f *recordingRefresher) setGainers(schedule string, symbols ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gainers[schedule] = symbols
}

func (f *recordingRefresher) failSymbol(symbol, reason, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[symbol] = refresh.SymbolFailure{Reason: reason, Message: msg}
}

func (f *recordingRefresher) healSymbol(symbol string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.failures, symbol)
}

func (f *recordingRefresher) reportSignals(schedule string, s ...analysis.SignalChange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals[schedule] = append(f.signals[schedule], s...)
}

// recordingMetrics counts what the reconciler reports.
type recordingMetrics struct {
	mu        sync.Mutex
	runs      map[string]map[string]int
	forgotten map[string]bool
	success   map[string]time.Time
	tracked   map[string]time.Duration // active schedules and their intervals
}

func newRecordingMetrics() *recordingMetrics {
	return &recordingMetrics{runs: map[string]map[string]int{}, forgotten: map[string]bool{}, success: map[string]time.Time{},
		tracked: map[string]time.Duration{}}
}

func (m *recordingMetrics) ObserveRun(ns, name, result string, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := ns + "/" + name
	if m.runs[key] == nil {
		m.runs[key] = map[string]int{}
	}
	m.runs[key][result]++
}

func (m *recordingMetrics) SetLastSuccess(ns, name string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.success[ns+"/"+name] = at
}

func (m *recordingMetrics) TrackSchedule(ns, name string, interval time.Duration, _ time.Time, _ *time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tracked[ns+"/"+name] = interval
}

func (m *recordingMetrics) UntrackSchedule(ns, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.tracked, ns+"/"+name)
}

func (m *recordingMetrics) isTracked(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.tracked[key]
	return ok
}

func (m *recordingMetrics) Forget(ns, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgotten[ns+"/"+name] = true
}

func (m *recordingMetrics) resultCount(key, result string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runs[key][result]
}

func (m *recordingMetrics) wasForgotten(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.forgotten[key]
}

// fakeResults stands in for the cache's answer to "which symbols have no result?": in the envtest
// suite every result is cached, so no schedule runs early; the refill itself is unit-tested
// (TestRefill).
type fakeResults struct{}

func (fakeResults) Missing(context.Context, []string) ([]string, error) { return nil, nil }
