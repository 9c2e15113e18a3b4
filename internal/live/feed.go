package live

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/market/binance/klinestream"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// queueSize bounds each worker's backlog of closed klines; when every candle closes at once, the
// stream's reader waits for room rather than dropping one.
const queueSize = 4096

// feed is one schedule's stream and its series.
type feed struct {
	m      *Manager
	src    RangeSource
	client *klinestream.Client
	queues []chan klinestream.Kline
	ctx    context.Context
	cancel context.CancelFunc
	done   sync.WaitGroup

	mu        sync.Mutex
	job       refresh.Job
	series    map[klinestream.Stream]*series
	lastClose time.Time
	lastLag   time.Duration
	gaps      int64
	// lastEvent and lastReceived are the newest closed kline's event time (the exchange's clock)
	// and when it arrived (ours): exchangeNow estimates the exchange's clock from them.
	lastEvent, lastReceived time.Time
}

// series is one symbol-timeframe's candles, oldest first, at most job.Candles of them.
type series struct {
	mu      sync.Mutex
	loaded  bool            // backfilled over REST
	candles []market.Candle // closed candles, contiguous in open time
	pending []market.Candle // closes that arrived during the backfill
}

func newFeed(m *Manager, job refresh.Job, src RangeSource, url string, dials *rate.Limiter) *feed {
	ctx, cancel := context.WithCancel(m.ctx)
	f := &feed{m: m, src: src, job: job, ctx: ctx, cancel: cancel, series: map[klinestream.Stream]*series{}}
	cfg := m.Stream
	cfg.URL, cfg.Dials, cfg.Clock, cfg.Log = url, dials, m.Clock, m.Log.WithValues("schedule", job.Schedule)
	if m.Observer != nil {
		cfg.Observer = m.Observer
	}
	cfg.OnClose = f.enqueue
	cfg.OnResume = func(streams []klinestream.Stream) { f.heal(ctx, streams) }
	cfg.OnChange = func() { m.changed(job.Schedule) }
	f.client = klinestream.New(cfg)
	f.queues = make([]chan klinestream.Kline, m.Workers)
	for i := range f.queues {
		f.queues[i] = make(chan klinestream.Kline, queueSize)
		f.done.Add(1)
		go func(q chan klinestream.Kline) {
			defer f.done.Done()
			f.work(ctx, q)
		}(f.queues[i])
	}
	f.done.Add(1)
	go func() {
		defer f.done.Done()
		f.client.Run(ctx)
	}()
	return f
}

func (f *feed) stop() {
	f.cancel()
	f.done.Wait()
}

// sameSource reports whether job reads the same candles the same way: otherwise the series and the
// connections start over.
func (f *feed) sameSource(job refresh.Job) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.job
	return old.Exchange == job.Exchange && old.BaseURL == job.BaseURL && old.StreamURL == job.StreamURL &&
		old.Candles == job.Candles && old.Params == job.Params
}

// follow takes the job's current settings and streams; series of streams no longer wanted go.
func (f *feed) follow(job refresh.Job, symbols []string) {
	want := make([]klinestream.Stream, 0, len(symbols)*len(job.Timeframes))
	for _, s := range symbols {
		for _, tf := range job.Timeframes {
			want = append(want, klinestream.Stream{Symbol: s, Interval: tf})
		}
	}
	f.mu.Lock()
	f.job = job
	keep := make(map[klinestream.Stream]*series, len(want))
	for _, st := range want {
		keep[st] = cmp.Or(f.series[st], &series{})
	}
	f.series = keep
	f.mu.Unlock()
	f.client.Set(want)
}

func (f *feed) seriesOf(st klinestream.Stream) (*series, refresh.Job) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.series[st], f.job
}

// enqueue hands a closed kline to its symbol's worker.
func (f *feed) enqueue(k klinestream.Kline) {
	f.mu.Lock()
	if k.EventTime.After(f.lastEvent) {
		f.lastEvent, f.lastReceived = k.EventTime, k.Received
	}
	f.mu.Unlock()
	h := fnv.New32a()
	_, _ = h.Write([]byte(k.Symbol))
	select {
	case f.queues[h.Sum32()%uint32(len(f.queues))] <- k:
	case <-f.ctx.Done():
	}
}

func (f *feed) work(ctx context.Context, q chan klinestream.Kline) {
	for {
		select {
		case k := <-q:
			f.apply(ctx, k)
		case <-ctx.Done():
			return
		}
	}
}

// apply appends a closed kline to its series and writes the new result.
func (f *feed) apply(ctx context.Context, k klinestream.Kline) {
	s, job := f.seriesOf(k.Stream)
	if s == nil {
		return // unsubscribed meanwhile
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		s.pending = append(s.pending, k.Candle)
		return
	}
	added, err := f.extend(ctx, s, job, k.Stream, []market.Candle{k.Candle})
	if err != nil {
		f.m.Log.Info("a closed kline waits for the resync", "stream", k.Name(), "error", err.Error())
	}
	if added == 0 {
		return
	}
	f.healed(added - 1) // all but the kline itself
	if err := f.write(ctx, s, job, k.Stream); err != nil {
		f.m.Log.Info("writing a stream result failed; the resync writes it again", "stream", k.Name(), "error", err.Error())
		return
	}
	lag := f.m.Clock.Since(k.Received)
	if f.m.Observer != nil {
		f.m.Observer.ObserveCloseToCache(lag)
	}
	f.mu.Lock()
	if k.Candle.CloseTime.After(f.lastClose) {
		f.lastClose = k.Candle.CloseTime
	}
	f.lastLag = lag
	f.mu.Unlock()
}

// extend appends candles newer than the series' last; a gap before one is first filled over REST
// with exactly the missing candles. It returns how many candles it appended.
func (f *feed) extend(ctx context.Context, s *series, job refresh.Job, st klinestream.Stream, candles []market.Candle) (int, error) {
	added := 0
	for _, c := range candles {
		last := s.candles[len(s.candles)-1].OpenTime
		if !c.OpenTime.After(last) {
			continue // known already
		}
		if next := market.NextOpen(st.Interval, last); c.OpenTime.After(next) {
			missing, err := f.src.KlinesBetween(ctx, st.Symbol, st.Interval, next, c.OpenTime.Add(-time.Millisecond))
			if err != nil {
				return added, fmt.Errorf("healing the gap before %s: %w", c.OpenTime.Format(time.RFC3339), err)
			}
			if !contiguous(st.Interval, last, missing, c.OpenTime) {
				return added, fmt.Errorf("the exchange did not return every candle between %s and %s",
					next.Format(time.RFC3339), c.OpenTime.Format(time.RFC3339))
			}
			s.candles = append(s.candles, missing...)
			added += len(missing)
		}
		s.candles = append(s.candles, c)
		added++
	}
	if extra := len(s.candles) - job.Candles; extra > 0 {
		s.candles = slices.Delete(s.candles, 0, extra)
	}
	return added, nil
}

// contiguous reports whether candles open exactly one interval apart from after last up to before.
func contiguous(interval string, last time.Time, candles []market.Candle, before time.Time) bool {
	for _, c := range candles {
		if last = market.NextOpen(interval, last); !c.OpenTime.Equal(last) {
			return false
		}
	}
	return market.NextOpen(interval, last).Equal(before)
}

func (f *feed) healed(n int) {
	if n == 0 {
		return
	}
	f.mu.Lock()
	f.gaps += int64(n)
	f.mu.Unlock()
	if f.m.Observer != nil {
		f.m.Observer.ObserveGapHealed(n)
	}
}

// write analyses the series and merges the result into the cache; s.mu is held.
func (f *feed) write(ctx context.Context, s *series, job refresh.Job, st klinestream.Stream) error {
	_, err := f.m.Writer.AnalyzeCandles(ctx, job, st.Symbol, st.Interval, s.candles)
	return err
}

// exchangeNow is the exchange's clock as its last closed kline tells it, moved on by our clock since
// it arrived: a host clock that runs ahead of the exchange's does not make every series look behind.
// Before the first close it is our clock.
func (f *feed) exchangeNow() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lastEvent.IsZero() {
		return f.m.Clock.Now()
	}
	return f.lastEvent.Add(f.m.Clock.Since(f.lastReceived))
}

// catchUp loads a series over REST the first time, and afterwards fetches the candles that closed
// by now, more than grace ago, and did not arrive; s.mu is held. It reports whether the series grew.
func (f *feed) catchUp(ctx context.Context, s *series, job refresh.Job, st klinestream.Stream,
	now time.Time, grace time.Duration) (bool, error) {
	if !s.loaded {
		candles, err := f.src.Klines(ctx, st.Symbol, st.Interval, job.Candles)
		if err != nil {
			return false, err
		}
		if len(candles) == 0 {
			return false, fmt.Errorf("%s %s: the exchange has no closed candles", st.Symbol, st.Interval)
		}
		s.candles, s.loaded = candles, true
		pending := s.pending
		s.pending = nil
		_, err = f.extend(ctx, s, job, st, pending)
		return true, err
	}
	next := market.NextOpen(st.Interval, s.candles[len(s.candles)-1].OpenTime)
	if market.NextOpen(st.Interval, next).After(now.Add(-grace)) {
		return false, nil // the next candle has not closed (long enough) yet
	}
	missing, err := f.src.KlinesBetween(ctx, st.Symbol, st.Interval, next, now)
	if err != nil {
		return false, err
	}
	added, err := f.extend(ctx, s, job, st, missing)
	f.healed(added)
	return added > 0, err
}

// heal catches up the given streams and writes the ones that grew: after a reconnect, the candles
// that closed while the connection was down. The later of both clocks decides: a reconnect is rare,
// and a candle missed then would otherwise wait for the next close or resync.
func (f *feed) heal(ctx context.Context, streams []klinestream.Stream) {
	now := f.exchangeNow()
	if local := f.m.Clock.Now(); local.After(now) {
		now = local
	}
	for _, st := range streams {
		s, job := f.seriesOf(st)
		if s == nil {
			continue
		}
		s.mu.Lock()
		if s.loaded {
			grew, err := f.catchUp(ctx, s, job, st, now, 0)
			if err == nil && grew {
				err = f.write(ctx, s, job, st)
			}
			if err != nil && ctx.Err() == nil {
				f.m.Log.Info("healing after a reconnect failed; the resync tries again", "stream", st.Name(), "error", err.Error())
			}
		}
		s.mu.Unlock()
	}
}

// resync catches up every series of symbols and writes its result, job.Concurrency symbols at a time.
func (f *feed) resync(ctx context.Context, symbols []string) refresh.Report {
	f.mu.Lock()
	job := f.job
	f.mu.Unlock()
	var (
		mu     sync.Mutex
		report = refresh.Report{Symbols: symbols}
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(job.Concurrency, 1))
	for _, symbol := range symbols {
		g.Go(func() error {
			var errs []error
			for _, tf := range job.Timeframes {
				if err := f.resyncOne(gctx, klinestream.Stream{Symbol: symbol, Interval: tf}); err != nil {
					errs = append(errs, fmt.Errorf("%s %s: %w", symbol, tf, err))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err := errors.Join(errs...); err != nil {
				report.Failures = append(report.Failures, refresh.SymbolFailure{Symbol: symbol, Reason: refresh.Reason(err), Message: err.Error()})
			} else {
				report.Succeeded++
			}
			return nil
		})
	}
	_ = g.Wait()
	slices.SortFunc(report.Failures, func(a, b refresh.SymbolFailure) int { return cmp.Compare(a.Symbol, b.Symbol) })
	return report
}

func (f *feed) resyncOne(ctx context.Context, st klinestream.Stream) error {
	s, job := f.seriesOf(st)
	if s == nil {
		return errors.New("no longer followed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := f.catchUp(ctx, s, job, st, f.exchangeNow(), f.m.ResyncGrace)
	if !s.loaded {
		return err
	}
	// Written even when nothing changed: a result must not expire between two closes of its timeframe.
	return errors.Join(err, f.write(ctx, s, job, st))
}

func (f *feed) status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Status{Stats: f.client.Stats(), WantConnections: f.client.Connections(), LastClose: f.lastClose,
		LastLag: f.lastLag, GapsHealed: f.gaps}
}
