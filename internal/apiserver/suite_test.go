package apiserver

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/market/simulated"
	"github.com/hama-operator/hama-operator/internal/refresh"
	"github.com/hama-operator/hama-operator/internal/testenv"
)

// The scheduler routes and the real authentication (TokenReview + SubjectAccessReview) run against
// envtest's kube-apiserver, which signs ServiceAccount tokens and authorises with RBAC.
var (
	testEnv   *envtest.Environment
	k8sClient client.Client
	clientset *kubernetes.Clientset
	apiURL    string
	stopAPI   context.CancelFunc
)

func TestSchedulerAPIWithKubernetes(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "REST API against envtest")
}

var _ = BeforeSuite(func() {
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(analysisv1alpha1.AddToScheme(scheme)).To(Succeed())
	assets, err := testenv.AssetsDir()
	Expect(err).NotTo(HaveOccurred())
	crds, err := testenv.CRDDir()
	Expect(err).NotTo(HaveOccurred())
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Clean(crds)},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())

	store, err := cache.New(cache.DefaultConfig(), nil, logr.Discard())
	Expect(err).NotTo(HaveOccurred())
	pipeline := &refresh.Pipeline{
		Sources: testSources{&testMarket{sim: simulated.New()}}, Store: store, Log: logr.Discard(),
		Defaults: refresh.Job{Exchange: "simulated", Timeframes: []string{"15m"}, Candles: 450, TTL: time.Hour,
			Params: hama.DefaultParams()},
	}
	kubeAuth, err := NewKubeAuthorizer(clientset)
	Expect(err).NotTo(HaveOccurred())
	// As in the operator: the API writes through the manager's client, whose reads come from an
	// informer cache that lags writes, and reads a schedule it is about to change from the API server.
	cl, err := cluster.New(cfg, func(o *cluster.Options) { o.Scheme = scheme })
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	go func() { defer GinkgoRecover(); Expect(cl.Start(ctx)).To(Succeed()) }()
	Expect(cl.GetCache().WaitForCacheSync(ctx)).To(BeTrue())
	srv := New(Config{Namespace: "api-default", Exchange: "simulated", APIReader: cl.GetAPIReader()}, store, pipeline,
		cl.GetClient(), kubeAuth, nil, logr.Discard())
	ts := httptest.NewServer(srv)
	apiURL = ts.URL
	stopAPI = func() { ts.Close(); cancel(); _ = store.Close() }
})

var _ = AfterSuite(func() {
	if stopAPI != nil {
		stopAPI()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})
