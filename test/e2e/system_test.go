// Package e2e runs the whole system on this machine — a real control plane (envtest etcd and
// kube-apiserver), a real redis-server, the operator binary as separate processes, and a local
// exchange speaking Binance's klines format — and breaks it on purpose.
package e2e

import (
	"bytes"

	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/cache/redistest"
	"github.com/hama-operator/hama-operator/internal/testenv"
)

// system is everything one end-to-end run starts.
type system struct {
	t          testing.TB
	kube       client.Client
	restConfig *rest.Config // the admin user's
	kubeconfig string
	manager    string // the operator binary
	redisAddr  string
	exchange   *fakeExchange
	logs       string
}

func startSystem(t testing.TB) *system {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &system{t: t, logs: t.TempDir()}

	s.manager = filepath.Join(t.TempDir(), "manager")
	build := exec.Command("go", "build", "-o", s.manager, "./cmd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the operator: %v\n%s", err, out)
	}

	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	crds, _ := testenv.CRDDir()
	env := &envtest.Environment{BinaryAssetsDirectory: assets, CRDDirectoryPaths: []string{crds}, ErrorIfCRDPathMissing: true}
	if _, err := env.Start(); err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	s.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(s.kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = analysisv1alpha1.AddToScheme(scheme)
	s.restConfig = user.Config()
	if s.kube, err = client.New(s.restConfig, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	s.exchange = newFakeExchange(t)
	return s
}

// operator is one running replica of the operator binary.
type operator struct {
	name                string
	cmd                 *exec.Cmd
	api, metrics, probe string
	done                chan struct{}
}

// startSystemWithRedis is startSystem with a redis-server of its own, and a client of it for the
// test to look at the keys.
func startSystemWithRedis(t testing.TB) (*system, *redistest.Server, *redis.Client) {
	t.Helper()
	s := startSystem(t)
	server := redistest.Start(t)
	s.redisAddr = server.Addr()
	raw := redis.NewClient(&redis.Options{Addr: s.redisAddr})
	t.Cleanup(func() { _ = raw.Close() })
	return s, server, raw
}

// metricSeries names one series of the operator's metrics: a name and some of its labels.
type metricSeries struct {
	name   string
	labels []string
}

// wantPositive fails t for each series whose value on op's metrics endpoint is not above 0.
func wantPositive(t *testing.T, op *operator, series []metricSeries) {
	t.Helper()
	m, err := httpGet("http://" + op.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range series {
		if v := metricValue(m, c.name, c.labels...); v <= 0 {
			t.Errorf("%s%v = %v, want > 0", c.name, c.labels, v)
		}
	}
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

func (s *system) startOperator(name string, extra ...string) *operator {
	s.t.Helper()
	o := &operator{name: name, api: freeAddr(s.t), metrics: freeAddr(s.t), probe: freeAddr(s.t), done: make(chan struct{})}
	args := []string{"--kubeconfig", s.kubeconfig, "--leader-elect", "--leader-election-namespace", "default",
		"--api-bind-address", o.api, "--metrics-bind-address", o.metrics, "--metrics-secure=false",
		"--health-probe-bind-address", o.probe, "--default-exchange", "simulated", "--interval-jitter-percentage", "0",
		"--zap-log-level", "debug"}
	if s.redisAddr != "" {
		args = append(args, "--redis-enabled", "--redis-addrs", s.redisAddr, "--redis-read-timeout", "200ms",
			"--redis-health-interval", "200ms")
	}
	o.cmd = exec.Command(s.manager, append(args, extra...)...)
	logFile, err := os.Create(filepath.Join(s.logs, name+".log"))
	if err != nil {
		s.t.Fatal(err)
	}
	o.cmd.Stdout, o.cmd.Stderr = logFile, logFile
	o.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := o.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { _ = o.cmd.Wait(); close(o.done) }()
	s.t.Cleanup(func() { o.kill(); s.dumpLogOnFailure(name) })
	s.eventually("operator "+name+" is ready", 30*time.Second, func() error {
		_, err := httpGet("http://" + o.probe + "/readyz")
		return err
	})
	return o
}

func (o *operator) kill() {
	if o.cmd.Process != nil {
		_ = o.cmd.Process.Signal(syscall.SIGKILL)
		<-o.done
	}
}

func (s *system) dumpLogOnFailure(name string) {
	if !s.t.Failed() {
		return
	}
	b, _ := os.ReadFile(filepath.Join(s.logs, name+".log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	s.t.Logf("last lines of %s's log:\n%s", name, b)
}

func (s *system) eventually(what string, timeout time.Duration, check func() error) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = check(); last == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("timed out after %s waiting until %s: %v", timeout, what, last)
}

func httpGet(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return b, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b, nil
}

type envelope struct {
	Code int             `json:"code"`
	Msg  string          `json:"msg"`
	Data json.RawMessage `json:"data"`
}

func post(url, body string) (int, envelope, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, envelope{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	var e envelope
	err = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e, err
}

// metricValue sums the samples of a metric whose labels contain every given pair.
func metricValue(exposition []byte, name string, labels ...string) float64 {
	var sum float64
	for _, line := range bytes.Split(exposition, []byte("\n")) {
		l := string(line)
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		match := true
		for _, lb := range labels {
			if !strings.Contains(l, lb) {
				match = false
			}
		}
		if !match {
			continue
		}
		var v float64
		_, _ = fmt.Sscanf(l[strings.LastIndex(l, " ")+1:], "%g", &v)
		sum += v
	}
	return sum
}

// fakeExchange speaks Binance's klines format; chosen symbols answer 429, 500 or garbage.
type fakeExchange struct {
	*httptest.Server
	mu      sync.Mutex
	faults  map[string]string
	latency time.Duration
	// ahead moves the exchange's clock forward: candles that have not happened yet, for a refresh
	// that brings new ones.
	ahead time.Duration
}

func newFakeExchange(t testing.TB) *fakeExchange {
	e := &fakeExchange{faults: map[string]string{}}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

func (e *fakeExchange) setFault(symbol, fault string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if fault == "" {
		delete(e.faults, symbol)
		return
	}
	e.faults[symbol] = fault
}

// moveAhead moves the exchange's clock forward by d.
func (e *fakeExchange) moveAhead(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ahead += d
}

func (e *fakeExchange) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	e.mu.Lock()
	fault, latency, ahead := e.faults[q.Get("symbol")], e.latency, e.ahead
	e.mu.Unlock()
	time.Sleep(latency)
	w.Header().Set("X-MBX-USED-WEIGHT-1M", "10")
	switch fault {
	case "429":
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	case "500":
		w.WriteHeader(http.StatusInternalServerError)
		return
	case "garbage":
		_, _ = io.WriteString(w, `<html>maintenance</html>`)
		return
	}
	step := 15 * time.Minute
	if q.Get("interval") == "1h" {
		step = time.Hour
	}
	var limit int
	_, _ = fmt.Sscanf(q.Get("limit"), "%d", &limit)
	last := time.Now().Add(ahead).Truncate(step)
	var b strings.Builder
	b.WriteString("[")
	for i := range limit {
		if i > 0 {
			b.WriteString(",")
		}
		open := last.Add(-time.Duration(limit-1-i) * step)
		k := open.Unix() / int64(step.Seconds())
		p := 100 + 5*float64(k%50)/50 + float64(len(q.Get("symbol")))
		fmt.Fprintf(&b, `[%d,"%.8f","%.8f","%.8f","%.8f","12.5",%d,"1250.0",7,"6","600","0"]`,
			open.UnixMilli(), p, p+1, p-1, p+0.25, open.Add(step).UnixMilli()-1)
	}
	b.WriteString("]")
	_, _ = io.WriteString(w, b.String())
}
