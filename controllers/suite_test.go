package controllers

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/cache/redistest"
	"github.com/hama-operator/hama-operator/internal/dispatch"
	"github.com/hama-operator/hama-operator/internal/testenv"
)

var (
	cfg       *rest.Config
	k8sClient client.Client
	testEnv   *envtest.Environment
	scheme    = runtime.NewScheme()
	refresher *recordingRefresher
	// fakeClock is the reconciler's clock: schedules run when a test moves it, never on their own.
	fakeClock *clocktesting.FakeClock
	metrics   *recordingMetrics
	streams   *fakeStreams
	// reconciler is the one the manager runs, for tests that call it the way cmd wires it.
	reconciler *AnalysisScheduleReconciler
	stopMgr    context.CancelFunc
	// deliveries is the delivery state of SignalAlerts, in a real redis-server; alertReconciler
	// takes outcomes as the delivery worker reports them.
	deliveries      *dispatch.Store
	alertReconciler *SignalAlertReconciler
)

// suiteT owns what the suite starts outside Ginkgo (redis-server).
var suiteT *testing.T

func TestControllers(t *testing.T) {
	suiteT = t
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(analysisv1alpha1.AddToScheme(scheme)).To(Succeed())

	assets, err := testenv.AssetsDir()
	Expect(err).NotTo(HaveOccurred())
	crds, err := testenv.CRDDir()
	Expect(err).NotTo(HaveOccurred())

	started := time.Now()
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Clean(crds)},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("envtest control plane started in %s\n", time.Since(started).Round(time.Millisecond))

	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	Expect(err).NotTo(HaveOccurred())
	// Whole seconds, as status times are stored.
	fakeClock = clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
	refresher = newRecordingRefresher(fakeClock)
	metrics = newRecordingMetrics()
	streams = newFakeStreams()
	r := &AnalysisScheduleReconciler{
		Client:            mgr.GetClient(),
		Recorder:          mgr.GetEventRecorder("hama-operator"),
		Refresher:         refresher,
		Metrics:           metrics,
		CacheDegraded:     refresher.isDegraded,
		Clock:             fakeClock,
		JitterPercentage:  0,
		MaxConcurrentRuns: 16,
		Results:           fakeResults{},
		// Short, so that a test sees a lost result refilled within seconds; the refill waits as long
		// after a run, which the test relies on too.
		ResultsCheckInterval: time.Second,
		Streams:              streams,
		APIReader:            mgr.GetAPIReader(),
	}
	Expect(r.SetupWithManager(mgr)).To(Succeed())
	reconciler = r
	streams.changed = r.StreamChanged

	redisServer := redistest.Start(suiteT)
	redisClient := redis.NewClient(&redis.Options{Addr: redisServer.Addr()})
	DeferCleanup(redisClient.Close)
	deliveries = dispatch.NewStore(redisClient, "controllers-test")
	alertReconciler = &SignalAlertReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("hama-operator"),
		Deliveries: deliveries, Metrics: &alertMetrics{}}
	Expect(alertReconciler.SetupWithManager(mgr)).To(Succeed())

	var ctx context.Context
	ctx, stopMgr = context.WithCancel(context.Background())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if stopMgr != nil {
		stopMgr()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// advanceUntil plays the fake clock forward until done holds, at most by limit. It steps a second
// at a time, and only once the controller has been idle for two looks in a row (every requeue
// registered, nothing to do), so each run happens at the first whole second it is due, however
// slow the machine.
func advanceUntil(limit time.Duration, done func() bool) {
	GinkgoHelper()
	deadline := fakeClock.Now().Add(limit)
	wasIdle := false
	Eventually(func() bool {
		if done() {
			return true
		}
		idle := controllerIdle()
		if idle && wasIdle {
			if !fakeClock.Now().Before(deadline) {
				StopTrying("still not done after moving the clock " + limit.String()).Now()
			}
			fakeClock.Step(time.Second)
			idle = false
		}
		wasIdle = idle
		return false
	}, "10m", "100ms").Should(BeTrue(), "a deadline for a loaded machine, not a speed check")
}

// controllerIdle reads controller-runtime's gauges: no reconcile running and none waiting in the
// queue (requeues for later are not counted until they come due).
func controllerIdle() bool {
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	busy := 0.0
	for _, f := range families {
		if f.GetName() == "controller_runtime_active_workers" || f.GetName() == "workqueue_depth" {
			for _, m := range f.GetMetric() {
				busy += m.GetGauge().GetValue()
			}
		}
	}
	return busy == 0
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}
