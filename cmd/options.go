package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// options are the operator's command-line settings.
type options struct {
	metricsAddr             string
	secureMetrics           bool
	metricsCertPath         string
	metricsCertName         string
	metricsCertKey          string
	enableHTTP2             bool
	probeAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	leaseDuration           time.Duration
	renewDeadline           time.Duration
	retryPeriod             time.Duration

	apiAddr        string
	apiAuthReads   bool
	apiCORSOrigins string
	namespace      string

	jitterPercentage  float64
	maxConcurrentRuns int

	defaultExchange   string
	defaultTimeframes string
	defaultCandles    int
	weightPerMinute   int

	signalsMaxLen    int64
	signalsDedupTTL  time.Duration
	signalsMemoryMax int

	notify notifyOptions

	cache cacheOptions
	flags *flag.FlagSet // the flag set bindFlags registered with: flags given there win over the environment
}

func bindFlags(fs *flag.FlagSet) *options {
	o := &options{flags: fs}
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443",
		"The address the metrics endpoint binds to: :8443 for HTTPS, :8080 for HTTP, 0 to disable.")
	fs.BoolVar(&o.secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS with Kubernetes authentication and authorization; false for plain HTTP.")
	fs.StringVar(&o.metricsCertPath, "metrics-cert-path", "", "Directory holding the metrics server certificate.")
	fs.StringVar(&o.metricsCertName, "metrics-cert-name", "tls.crt", "Metrics server certificate file name.")
	fs.StringVar(&o.metricsCertKey, "metrics-cert-key", "tls.key", "Metrics server key file name.")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", false, "Enable HTTP/2 for the metrics server.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	fs.BoolVar(&o.leaderElect, "leader-elect", false,
		"Enable leader election: only the leader refreshes schedules, every replica serves the REST API.")
	fs.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "",
		"Namespace of the leader election lease (defaults to the pod's namespace).")
	fs.DurationVar(&o.leaseDuration, "leader-election-lease-duration", 15*time.Second,
		"How long a lease lasts without renewal: the longest a dead leader's refreshes pause before another replica takes over.")
	fs.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", 10*time.Second,
		"How long the leader keeps trying to renew its lease before it gives up leading (shorter than the lease duration).")
	fs.DurationVar(&o.retryPeriod, "leader-election-retry-period", 2*time.Second,
		"How often replicas try to acquire or renew the lease.")

	fs.StringVar(&o.apiAddr, "api-bind-address", ":8080", "The address the REST API binds to; 0 to disable.")
	fs.BoolVar(&o.apiAuthReads, "api-auth-reads", false,
		"Require a Kubernetes bearer token for read calls too (mutating calls always need one).")
	fs.StringVar(&o.apiCORSOrigins, "api-cors-allowed-origins", "",
		"Comma-separated origins whose browser pages may call the REST API, like https://dash.example.com; * for any. "+
			"Empty (the default): no cross-origin calls.")
	fs.StringVar(&o.namespace, "namespace", "",
		"Namespace for schedules created through the REST API (defaults to the pod's namespace, then default).")

	fs.Float64Var(&o.jitterPercentage, "interval-jitter-percentage", 5,
		"Spread each schedule's runs by up to this percentage of its interval.")
	fs.IntVar(&o.maxConcurrentRuns, "max-concurrent-runs", 4, "How many schedules may refresh at the same time.")

	fs.StringVar(&o.defaultExchange, "default-exchange", market.Binance,
		"Exchange for on-demand analyses of symbols no schedule covers: "+strings.Join(market.Exchanges, ", ")+".")
	fs.StringVar(&o.defaultTimeframes, "default-timeframes", "15m", "Comma-separated timeframes for on-demand analyses.")
	fs.IntVar(&o.defaultCandles, "default-candles", 500, "Candles fetched per timeframe for on-demand analyses.")

	fs.IntVar(&o.weightPerMinute, "exchange-weight-per-minute", 0,
		"Request weight each exchange endpoint may use per minute; 0 keeps the Binance-safe defaults (spot 4800, futures 1800).")

	fs.Int64Var(&o.signalsMaxLen, "signals-stream-max-len", signals.DefaultMaxLen,
		"About how many events the signal history (the Redis Stream "+signals.StreamKey+") keeps; older ones are trimmed.")
	fs.DurationVar(&o.signalsDedupTTL, "signals-dedup-ttl", signals.DefaultDedupTTL,
		"How long the signal history remembers an appended event's ID, so that no replica or restart appends it again.")
	fs.IntVar(&o.signalsMemoryMax, "signals-memory-max", signals.DefaultMemoryMax,
		"Events kept in memory while Redis is down (copied to the stream when it is back); the oldest go first.")

	o.notify.bindFlags(fs)
	o.cache.bindFlags(fs)
	return o
}

// complete fills what flags left to the environment and checks the result.
func (o *options) complete(getenv func(string) string) error {
	if err := o.cache.applyEnv(o.flags, getenv); err != nil {
		return err
	}
	if o.namespace == "" {
		o.namespace = podNamespace()
	}
	if !slices.Contains(market.Exchanges, o.defaultExchange) {
		return fmt.Errorf("--default-exchange %q: want one of %s", o.defaultExchange, strings.Join(market.Exchanges, ", "))
	}
	for _, tf := range o.timeframes() {
		if !market.ValidInterval(tf) {
			return fmt.Errorf("--default-timeframes: %q is not a Binance interval (%s)", tf, strings.Join(market.Intervals, ", "))
		}
	}
	if o.defaultCandles < 450 || o.defaultCandles > 1000 {
		return fmt.Errorf("--default-candles %d: want 450..1000", o.defaultCandles)
	}
	if o.jitterPercentage < 0 || o.jitterPercentage > 50 {
		return fmt.Errorf("--interval-jitter-percentage %v: want 0..50", o.jitterPercentage)
	}
	if o.retryPeriod <= 0 || o.retryPeriod >= o.renewDeadline || o.renewDeadline >= o.leaseDuration {
		return fmt.Errorf("leader election: want 0 < --leader-election-retry-period (%s) < --leader-election-renew-deadline (%s) "+
			"< --leader-election-lease-duration (%s)", o.retryPeriod, o.renewDeadline, o.leaseDuration)
	}
	if o.signalsMaxLen < 1 || o.signalsMemoryMax < 1 {
		return fmt.Errorf("--signals-stream-max-len %d and --signals-memory-max %d: want at least 1", o.signalsMaxLen, o.signalsMemoryMax)
	}
	if o.signalsDedupTTL < time.Hour {
		return fmt.Errorf("--signals-dedup-ttl %s: want at least 1h, longer than any refresh interval", o.signalsDedupTTL)
	}
	if err := o.notify.validate(); err != nil {
		return err
	}
	if o.maxConcurrentRuns < 1 {
		return fmt.Errorf("--max-concurrent-runs %d: want at least 1", o.maxConcurrentRuns)
	}
	return nil
}

func (o *options) timeframes() []string { return splitList(o.defaultTimeframes) }

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// podNamespace is the namespace the operator runs in, or "default" outside a cluster.
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "default"
}

// corsOrigins splits --api-cors-allowed-origins.
func (o *options) corsOrigins() []string { return splitList(o.apiCORSOrigins) }
