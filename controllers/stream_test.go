package controllers

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/live"
	"github.com/hama-operator/hama-operator/internal/market/binance/klinestream"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// fakeStreams records what the reconciler asks of the streams and reports a health a test sets.
type fakeStreams struct {
	mu      sync.Mutex
	syncs   map[string][]refresh.Job
	stopped []string
	status  map[string]live.Status
	// changed, when set, is told about a connection change in the middle of every Sync, as the
	// streams' connections come up during the first one.
	changed func(schedule string)
}

func newFakeStreams() *fakeStreams {
	return &fakeStreams{syncs: map[string][]refresh.Job{}, status: map[string]live.Status{}}
}

func (f *fakeStreams) Sync(_ context.Context, job refresh.Job) (refresh.Report, error) {
	if f.changed != nil {
		f.changed(job.Schedule)
		time.Sleep(100 * time.Millisecond) // the reconcile it queues waits for this one
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs[job.Schedule] = append(f.syncs[job.Schedule], job)
	n := len(job.Symbols) * len(job.Timeframes)
	f.status[job.Schedule] = live.Status{Stats: klinestream.Stats{Connections: 1, Streams: n}, WantConnections: 1}
	return refresh.Report{Symbols: job.Symbols, Succeeded: len(job.Symbols), CacheBackend: "redis"}, nil
}

func (f *fakeStreams) Stop(schedule string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.status[schedule]; ok {
		f.stopped = append(f.stopped, schedule)
	}
	delete(f.status, schedule)
}

func (f *fakeStreams) Status(schedule string) (live.Status, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.status[schedule]
	return s, ok
}

func (f *fakeStreams) set(schedule string, s live.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[schedule] = s
}

func (f *fakeStreams) syncCount(schedule string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.syncs[schedule])
}

func (f *fakeStreams) wasStopped(schedule string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.stopped, schedule)
}

func streaming(g Gomega, s *analysisv1alpha1.AnalysisSchedule) *metav1.Condition {
	c := meta.FindStatusCondition(s.Status.Conditions, analysisv1alpha1.ConditionStreaming)
	g.Expect(c).NotTo(BeNil(), "no Streaming condition")
	g.Expect(c.ObservedGeneration).To(Equal(s.Generation))
	return c
}

var _ = Describe("A stream-mode schedule", func() {
	ctx := context.Background()

	It("runs as resyncs of its stream, shows the stream's health and stops it when suspended", func() {
		s := newSchedule("streamed", 10*time.Minute, "BTCUSDT", "ETHUSDT")
		s.Spec.Source = analysisv1alpha1.SourceSpec{Exchange: analysisv1alpha1.ExchangeBinance, Mode: analysisv1alpha1.ModeStream,
			StreamURL: "ws://127.0.0.1:1"}
		s.Spec.Timeframes = []analysisv1alpha1.Timeframe{"1m", "15m"}
		create(ctx, s)
		key := scheduleKey(s)

		Eventually(func() int { return streams.syncCount(key) }, "10s", "50ms").Should(Equal(1))
		Consistently(func() int { return streams.syncCount(key) }, "2s", "100ms").Should(Equal(1),
			"the reconcile a connection change queued during the run planned from the status before the run")
		Expect(refresher.runCount(key)).To(BeZero(), "a stream-mode run went to the poll refresher")
		job := streams.syncs[key][0]
		Expect(job.Stream).To(BeTrue())
		Expect(job.StreamURL).To(Equal("ws://127.0.0.1:1"))
		Eventually(func(g Gomega) {
			got := fetch(ctx, s)
			c := streaming(g, got)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal(ReasonStreamConnected))
			g.Expect(c.Message).To(Equal("4 streams on 1 connections"))
			g.Expect(got.Status.Stream).To(Equal(&analysisv1alpha1.StreamStatus{Connections: 1, Streams: 4}))
			ready := meta.FindStatusCondition(got.Status.Conditions, analysisv1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
		}, "10s", "100ms").Should(Succeed())

		By("a dropped connection shows at once, without waiting for the next run")
		last := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
		streams.set(key, live.Status{Stats: klinestream.Stats{Connections: 0, Streams: 4, Reconnects: 2, LastMessage: last},
			WantConnections: 1, LastClose: last.Add(-time.Millisecond), LastLag: 12 * time.Millisecond, GapsHealed: 3})
		reconciler.StreamChanged(key)
		Eventually(func(g Gomega) {
			got := fetch(ctx, s)
			c := streaming(g, got)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(ReasonStreamReconnecting))
			g.Expect(got.Status.Stream.Reconnects).To(Equal(int64(2)))
			g.Expect(got.Status.Stream.GapsHealed).To(Equal(int64(3)))
			g.Expect(got.Status.Stream.LastMessageTime.Time.Equal(last)).To(BeTrue())
			g.Expect(got.Status.Stream.LastLag.Duration).To(Equal(12 * time.Millisecond))
		}, "10s", "100ms").Should(Succeed())
		Expect(streams.syncCount(key)).To(Equal(1), "a health change is not a run")

		By("suspend stops the stream")
		update(ctx, s, func(o *analysisv1alpha1.AnalysisSchedule) { o.Spec.Suspend = true })
		Eventually(func() bool { return streams.wasStopped(key) }, "10s", "50ms").Should(BeTrue())
		Eventually(func(g Gomega) {
			got := fetch(ctx, s)
			g.Expect(meta.FindStatusCondition(got.Status.Conditions, analysisv1alpha1.ConditionStreaming)).To(BeNil())
			g.Expect(got.Status.Stream).To(BeNil())
		}, "10s", "100ms").Should(Succeed())

		By("back in poll mode, runs are refreshes again")
		update(ctx, s, func(o *analysisv1alpha1.AnalysisSchedule) {
			o.Spec.Suspend = false
			o.Spec.Source.Mode = analysisv1alpha1.ModePoll
		})
		Eventually(func() int { return refresher.runCount(key) }, "10s", "50ms").Should(Equal(1))
		Expect(streams.syncCount(key)).To(Equal(1))
	})
})

// staleReader is an APIReader that hands out the object as the API server has it now.
type staleReader struct {
	fresh *analysisv1alpha1.AnalysisSchedule
	reads int
}

func (r *staleReader) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	r.reads++
	r.fresh.DeepCopyInto(obj.(*analysisv1alpha1.AnalysisSchedule))
	return nil
}

func (r *staleReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return nil
}

func TestAnInformerCopyOlderThanThisProcessWritesIsReadAgain(t *testing.T) {
	key := types.NamespacedName{Namespace: "default", Name: "s"}
	run := metav1.NewTime(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	fresh := &analysisv1alpha1.AnalysisSchedule{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default", Generation: 1},
		Status: analysisv1alpha1.AnalysisScheduleStatus{ObservedGeneration: 1, LastRunTime: &run}}
	reader := &staleReader{fresh: fresh}
	r := &AnalysisScheduleReconciler{APIReader: reader}
	r.lastRuns.Store(key, written{run: run.Time, generation: 1})

	// The copy written in the middle of the run: its start, not yet its generation.
	midRun := fresh.DeepCopy()
	midRun.Status.ObservedGeneration = 0
	if err := r.catchUpCache(context.Background(), key, midRun); err != nil {
		t.Fatal(err)
	}
	if reader.reads != 1 || midRun.Status.ObservedGeneration != 1 {
		t.Fatalf("a stale copy was planned from (reads %d, observedGeneration %d)", reader.reads, midRun.Status.ObservedGeneration)
	}
	current := fresh.DeepCopy()
	if err := r.catchUpCache(context.Background(), key, current); err != nil || reader.reads != 1 {
		t.Fatalf("an up-to-date copy was read again (reads %d, %v)", reader.reads, err)
	}
}

// A stream-mode schedule whose spec the analysis cannot use (an object stored before the API server
// refused such specs) is stalled and stops its stream: it does not go on with its old settings.
func TestAStalledStreamModeScheduleStopsItsStream(t *testing.T) {
	fake := newFakeStreams()
	r := &AnalysisScheduleReconciler{Streams: fake, Metrics: newRecordingMetrics(), Recorder: events.NewFakeRecorder(10)}
	s := newSchedule("stalled", time.Minute, "BTCUSDT")
	s.Spec.Source.Mode = analysisv1alpha1.ModeStream
	s.Spec.Candles = 120 // below what the HAMA parameters need
	key := scheduleKey(s)
	fake.set(key, live.Status{Stats: klinestream.Stats{Connections: 1, Streams: 1}, WantConnections: 1})
	setCondition(s, analysisv1alpha1.ConditionStreaming, metav1.ConditionTrue, ReasonStreamConnected, "1 streams on 1 connections")

	if _, err := r.reconcileSchedule(context.Background(), s, false, nil); err != nil {
		t.Fatal(err)
	}
	if !fake.wasStopped(key) {
		t.Fatal("the stalled schedule's stream goes on")
	}
	if c := meta.FindStatusCondition(s.Status.Conditions, analysisv1alpha1.ConditionStreaming); c != nil || s.Status.Stream != nil {
		t.Fatalf("a stopped stream still shows: %v, %v", c, s.Status.Stream)
	}
	if c := meta.FindStatusCondition(s.Status.Conditions, analysisv1alpha1.ConditionStalled); c == nil || c.Reason != ReasonInvalidSpec {
		t.Fatalf("Stalled = %v, want InvalidSpec", c)
	}
}
