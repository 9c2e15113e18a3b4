package live

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/utils/clock"

	"github.com/hama-operator/hama-operator/internal/analysis"
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
	candles []bar           // closed candles, contiguous in open time
	pending []market.Candle // closes that arrived during the backfill
	written time.Time       // when its result was last written (our clock)
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

// maxBatch bounds the closed klines a worker takes at once.
const maxBatch = 512

// gatherWait bounds how long a worker holds a symbol's closed klines for its other timeframes
// whose candles close at the same instant (all five at the top of an hour), so that they are
// written in one merge; the exchange pushes them within a fraction of a second of each other.
const gatherWait = 250 * time.Millisecond

// gathering is a symbol's closed klines waiting for the rest of the timeframes closing with them.
type gathering struct {
	klines   []klinestream.Kline
	want     map[string]bool // timeframes whose next candle closes with the first kline
	deadline time.Time
}

func (g *gathering) complete() bool {
	for _, k := range g.klines {
		delete(g.want, k.Interval)
	}
	return len(g.want) == 0
}

// work applies closed klines. A symbol's kline waits (up to gatherWait) for the symbol's other
// timeframes that close at the same instant, so that they are written to its cache entry at once;
// a close no other timeframe shares is applied as soon as it arrives.
func (f *feed) work(ctx context.Context, q chan klinestream.Kline) {
	held := map[string]*gathering{}
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var fire <-chan time.Time
		if timer != nil {
			fire = timer.C()
		}
		select {
		case k := <-q:
			f.hold(held, k)
		case <-fire:
			timer = nil
		case <-ctx.Done():
			return
		}
	drain:
		for range maxBatch {
			select {
			case k := <-q:
				f.hold(held, k)
			default:
				break drain
			}
		}
		now := f.m.Clock.Now()
		var next time.Time
		for symbol, g := range held {
			if g.complete() || !now.Before(g.deadline) {
				delete(held, symbol)
				f.apply(ctx, symbol, g.klines)
			} else if next.IsZero() || g.deadline.Before(next) {
				next = g.deadline
			}
		}
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		if !next.IsZero() {
			timer = f.m.Clock.NewTimer(next.Sub(now))
		}
	}
}

// hold adds k to its symbol's gathering, starting one with the timeframes that close with it.
func (f *feed) hold(held map[string]*gathering, k klinestream.Kline) {
	g := held[k.Symbol]
	if g == nil {
		g = &gathering{want: f.closingWith(k), deadline: f.m.Clock.Now().Add(gatherWait)}
		held[k.Symbol] = g
	}
	g.klines = append(g.klines, k)
}

// closingWith are the timeframes of k's symbol whose next candle, by their series, closes when k's
// does.
func (f *feed) closingWith(k klinestream.Kline) map[string]bool {
	f.mu.Lock()
	timeframes := f.job.Timeframes
	streams := make([]*series, len(timeframes))
	for i, tf := range timeframes {
		streams[i] = f.series[klinestream.Stream{Symbol: k.Symbol, Interval: tf}]
	}
	f.mu.Unlock()
	want := map[string]bool{}
	for i, s := range streams {
		if s == nil {
			continue
		}
		s.mu.Lock()
		if s.loaded && len(s.candles) > 0 {
			tf := timeframes[i]
			next := market.NextOpen(tf, s.candles[len(s.candles)-1].openTime())
			if market.NextOpen(tf, next).Add(-time.Millisecond).Equal(k.Candle.CloseTime) {
				want[tf] = true
			}
		}
		s.mu.Unlock()
	}
	return want
}

// apply appends closed klines of one symbol to their series and writes the new results.
func (f *feed) apply(ctx context.Context, symbol string, klines []klinestream.Kline) {
	byStream := map[klinestream.Stream][]market.Candle{}
	for _, k := range klines {
		byStream[k.Stream] = append(byStream[k.Stream], k.Candle)
	}
	grew, err := f.update(ctx, symbol, slices.Collect(maps.Keys(byStream)), false,
		func(s *series, job refresh.Job, st klinestream.Stream) (bool, error) {
			if !s.loaded {
				s.pending = append(s.pending, byStream[st]...)
				return false, nil
			}
			added, err := f.extend(ctx, s, job, st, byStream[st])
			f.healed(max(added-len(byStream[st]), 0)) // the candles the stream had skipped
			return added > 0, err
		})
	if err != nil {
		f.m.Log.Info("closed klines wait for the resync", "symbol", symbol, "error", err.Error())
	}
	for _, k := range klines {
		if !grew[k.Stream] {
			continue
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
}

// update runs step on the series of symbol's streams, each locked, then writes the results of the
// ones that grew (and, when always is set, the ones whose result would expire before the next
// resync) in one merge into the symbol's cache entry. It
// returns the streams whose results were written.
func (f *feed) update(ctx context.Context, symbol string, streams []klinestream.Stream, always bool,
	step func(*series, refresh.Job, klinestream.Stream) (bool, error)) (map[klinestream.Stream]bool, error) {
	slices.SortFunc(streams, func(a, b klinestream.Stream) int { return cmp.Compare(a.Interval, b.Interval) })
	f.mu.Lock()
	job := f.job
	locked := make([]*series, 0, len(streams))
	targets := make([]klinestream.Stream, 0, len(streams))
	for _, st := range streams {
		if s := f.series[st]; s != nil {
			locked, targets = append(locked, s), append(targets, st)
		}
	}
	f.mu.Unlock()
	var (
		errs    []error
		written = map[klinestream.Stream]bool{}
		windows = map[string][]market.Candle{}
	)
	for i, s := range locked {
		s.mu.Lock()
		defer s.mu.Unlock()
		grew, err := step(s, job, targets[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", symbol, targets[i].Interval, err))
		}
		if s.loaded && (grew || always && f.expiresBeforeNextResync(s, job)) {
			windows[targets[i].Interval] = candlesOf(s.candles)
			written[targets[i]] = true
		}
	}
	if len(windows) > 0 {
		_, err := f.m.Writer.AnalyzeCandles(ctx, job, symbol, windows)
		for _, w := range windows {
			release(w)
		}
		if err != nil {
			return nil, errors.Join(append(errs, err)...)
		}
		now := f.m.Clock.Now()
		for i, s := range locked {
			if written[targets[i]] {
				s.written = now
			}
		}
	}
	return written, errors.Join(errs...)
}

// expiresBeforeNextResync reports whether the series' cached result, written at s.written with the
// job's TTL, would expire before the resync after this one (an interval and its jitter away): a
// short timeframe's closes keep its result alive, a long one's need the resync to rewrite it.
func (f *feed) expiresBeforeNextResync(s *series, job refresh.Job) bool {
	if job.Interval <= 0 || s.written.IsZero() {
		return true
	}
	nextResync := f.m.Clock.Now().Add(job.Interval + job.Interval/10 + f.m.ResyncGrace)
	return !s.written.Add(job.TTL).After(nextResync)
}

// extend appends candles newer than the series' last; a gap before one is first filled over REST
// with exactly the missing candles. It returns how many candles it appended. The series keeps
// job.Candles candles in a backing array of that size.
func (f *feed) extend(ctx context.Context, s *series, job refresh.Job, st klinestream.Stream, candles []market.Candle) (int, error) {
	added := 0
	push := func(c market.Candle) {
		if len(s.candles) >= job.Candles {
			n := copy(s.candles, s.candles[len(s.candles)-job.Candles+1:])
			s.candles = s.candles[:n]
		}
		s.candles = append(s.candles, barOf(c))
		added++
	}
	for _, c := range candles {
		last := s.candles[len(s.candles)-1].openTime()
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
			for _, m := range missing {
				push(m)
			}
		}
		push(c)
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
	if n <= 0 {
		return
	}
	f.mu.Lock()
	f.gaps += int64(n)
	f.mu.Unlock()
	if f.m.Observer != nil {
		f.m.Observer.ObserveGapHealed(n)
	}
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
			return false, errors.New("the exchange has no closed candles")
		}
		s.candles = make([]bar, 0, job.Candles)
		for _, c := range candles[max(len(candles)-job.Candles, 0):] {
			s.candles = append(s.candles, barOf(c))
		}
		s.loaded = true
		pending := s.pending
		s.pending = nil
		_, err = f.extend(ctx, s, job, st, pending)
		return true, err
	}
	next := market.NextOpen(st.Interval, s.candles[len(s.candles)-1].openTime())
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
	bySymbol := map[string][]klinestream.Stream{}
	for _, st := range streams {
		bySymbol[st.Symbol] = append(bySymbol[st.Symbol], st)
	}
	for symbol, sts := range bySymbol {
		_, err := f.update(ctx, symbol, sts, false, func(s *series, job refresh.Job, st klinestream.Stream) (bool, error) {
			if !s.loaded {
				return false, nil // the resync backfills it
			}
			return f.catchUp(ctx, s, job, st, now, 0)
		})
		if err != nil && ctx.Err() == nil {
			f.m.Log.Info("healing after a reconnect failed; the resync tries again", "symbol", symbol, "error", err.Error())
		}
	}
}

// resync catches up every series of symbols and writes the results that grew or would expire
// before the next resync (a 1h result must not expire between two closes), job.Concurrency symbols
// at a time.
func (f *feed) resync(ctx context.Context, symbols []string) refresh.Report {
	f.mu.Lock()
	job := f.job
	f.mu.Unlock()
	now := f.exchangeNow()
	return refresh.EachSymbol(ctx, symbols, job.Concurrency, func(ctx context.Context, symbol string) ([]analysis.SignalChange, error) {
		streams := make([]klinestream.Stream, len(job.Timeframes))
		for i, tf := range job.Timeframes {
			streams[i] = klinestream.Stream{Symbol: symbol, Interval: tf}
		}
		loaded := 0
		_, err := f.update(ctx, symbol, streams, true, func(s *series, job refresh.Job, st klinestream.Stream) (bool, error) {
			grew, err := f.catchUp(ctx, s, job, st, now, f.m.ResyncGrace)
			if s.loaded {
				loaded++
			}
			return grew, err
		})
		if err == nil && loaded < len(streams) {
			err = fmt.Errorf("%s: %d of %d timeframes have no candles yet", symbol, len(streams)-loaded, len(streams))
		}
		return nil, err
	})
}

func (f *feed) status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Status{Stats: f.client.Stats(), WantConnections: f.client.Connections(), LastClose: f.lastClose,
		LastLag: f.lastLag, GapsHealed: f.gaps}
}
