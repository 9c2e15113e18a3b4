// Package live keeps stream-mode schedules fresh at each candle close. Per schedule it backfills
// every symbol-timeframe once over REST, then appends the closed klines the exchange pushes over
// WebSocket (package klinestream), heals a gap in open times with a REST fetch of exactly the
// missing candles, and writes each new result through the refresh pipeline's single write path
// (cache merge and signals). A schedule's run becomes a resync: a check, against the clock, that
// every series has every candle that closed, fetching over REST only what is missing. It knows
// nothing of Kubernetes.
package live

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/market/binance/klinestream"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// Writer is the refresh pipeline's side of stream mode; refresh.Pipeline implements it.
type Writer interface {
	// AnalyzeCandles analyses held candles (by timeframe) of symbol and merges the results into the
	// cache. The candles are lent for the call: it must not keep them.
	AnalyzeCandles(ctx context.Context, job refresh.Job, symbol string, candles map[string][]market.Candle) ([]analysis.SignalChange, error)
	// Symbols are the symbols a run of job covers now.
	Symbols(ctx context.Context, job refresh.Job) ([]string, error)
	CacheState() (backend string, degraded bool)
}

// RangeSource fetches candles over REST, a full window or an exact range; binance.Client is one.
type RangeSource interface {
	market.Source
	KlinesBetween(ctx context.Context, symbol, interval string, from, to time.Time) ([]market.Candle, error)
}

// Observer is told about the streams, for metrics.
type Observer interface {
	klinestream.Observer
	// ObserveGapHealed counts candles a stream missed and REST supplied.
	ObserveGapHealed(candles int)
	// ObserveCloseToCache is the time from a closed kline's arrival to its result in the cache.
	ObserveCloseToCache(d time.Duration)
}

// Manager runs the streams of every stream-mode schedule. It is a manager Runnable that needs the
// leader election: streams run on the leader only, and stop with it.
type Manager struct {
	Writer  Writer
	Sources refresh.SourceProvider
	// Observer may be nil.
	Observer Observer
	// Clock is replaceable in tests; nil means the real clock.
	Clock clock.WithTicker
	Log   logr.Logger
	// Changed, when set, is told the schedule ("namespace/name") whose connections changed, so
	// that its status can show it.
	Changed func(schedule string)
	// Workers write results in parallel, per schedule; a symbol always goes to the same worker, so
	// that the timeframes of one symbol never contend for its cache entry (8).
	Workers int
	// ResyncGrace is how long after a candle's close the resync waits for the stream before it
	// fetches the candle over REST (10s).
	ResyncGrace time.Duration
	// Stream configures each schedule's stream client (URL, callbacks and clock are set here).
	Stream klinestream.Config

	mu      sync.Mutex
	ctx     context.Context
	started chan struct{}
	once    sync.Once
	feeds   map[string]*feed
	dials   map[string]*rate.Limiter // per stream URL: connection attempts are counted per IP
}

// NeedLeaderElection makes the streams leader-only, like refreshes.
func (m *Manager) NeedLeaderElection() bool { return true }

func (m *Manager) init() {
	m.once.Do(func() {
		m.started = make(chan struct{})
		m.feeds = map[string]*feed{}
		m.dials = map[string]*rate.Limiter{}
		if m.Clock == nil {
			m.Clock = clock.RealClock{}
		}
		if m.Workers <= 0 {
			m.Workers = 8
		}
		if m.ResyncGrace <= 0 {
			m.ResyncGrace = 10 * time.Second
		}
	})
}

// Start runs until ctx ends, then stops every stream.
func (m *Manager) Start(ctx context.Context) error {
	m.init()
	m.mu.Lock()
	m.ctx = ctx
	close(m.started)
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	feeds := m.feeds
	m.feeds = map[string]*feed{}
	m.mu.Unlock()
	for _, f := range feeds {
		f.stop()
	}
	return nil
}

// Sync makes job's stream run with its current symbols and timeframes (subscribing and
// unsubscribing only the difference), then resyncs: a symbol-timeframe seen for the first time is
// backfilled over REST, one missing candles that closed is healed over REST, and every result is
// written again, which keeps it from expiring between closes. The report is a refresh's.
func (m *Manager) Sync(ctx context.Context, job refresh.Job) (refresh.Report, error) {
	m.init()
	select {
	case <-m.started:
	case <-ctx.Done():
		return refresh.Report{}, ctx.Err()
	}
	symbols, err := m.Writer.Symbols(ctx, job)
	if err != nil {
		return refresh.Report{}, err
	}
	f, err := m.feed(job)
	if err != nil {
		return refresh.Report{}, err
	}
	f.follow(job, symbols)
	report := f.resync(ctx, symbols)
	report.CacheBackend, report.CacheDegraded = m.Writer.CacheState()
	return report, nil
}

// Stop ends the stream of schedule, if it has one; its cached results stay until their TTL.
func (m *Manager) Stop(schedule string) {
	m.init()
	m.mu.Lock()
	f := m.feeds[schedule]
	delete(m.feeds, schedule)
	m.mu.Unlock()
	if f != nil {
		f.stop()
	}
}

// Status is the health of one schedule's stream.
type Status struct {
	klinestream.Stats
	// WantConnections is how many connections the streams need.
	WantConnections int
	// LastClose is the close time of the newest candle written from the stream; LastLag how long
	// that took from the message's arrival to the cache.
	LastClose  time.Time
	LastLag    time.Duration
	GapsHealed int64
}

// Status returns schedule's stream health, and false when it has no stream.
func (m *Manager) Status(schedule string) (Status, bool) {
	m.init()
	m.mu.Lock()
	f := m.feeds[schedule]
	m.mu.Unlock()
	if f == nil {
		return Status{}, false
	}
	return f.status(), true
}

// feed returns job's running feed, replacing it when a setting that its series depend on changed.
func (m *Manager) feed(job refresh.Job) (*feed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil || m.ctx.Err() != nil {
		return nil, errors.New("the stream manager is not running")
	}
	f := m.feeds[job.Schedule]
	if f != nil && f.sameSource(job) {
		return f, nil
	}
	if f != nil {
		go f.stop()
	}
	src, err := m.Sources.Source(job.Exchange, job.BaseURL)
	if err != nil {
		return nil, err
	}
	rs, ok := src.(RangeSource)
	if !ok {
		return nil, fmt.Errorf("exchange %q has no kline streams", src.Name())
	}
	url := job.StreamURL
	if url == "" {
		url = klinestream.DefaultSpotURL
		if job.Exchange == market.BinanceFutures {
			url = klinestream.DefaultFuturesURL
		}
	}
	dials := m.dials[url]
	if dials == nil {
		dials = rate.NewLimiter(1, 10) // Binance allows 300 connection attempts per 5 minutes and IP
		m.dials[url] = dials
	}
	f = newFeed(m, job, rs, url, dials)
	m.feeds[job.Schedule] = f
	return f, nil
}

func (m *Manager) changed(schedule string) {
	if m.Changed != nil {
		m.Changed(schedule)
	}
}
