package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/time/rate"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/hama-operator/hama-operator/controllers"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/dispatch"
	"github.com/hama-operator/hama-operator/internal/metrics"
	"github.com/hama-operator/hama-operator/internal/notify"
)

// notifyOptions tune the delivery of SignalAlert notifications.
type notifyOptions struct {
	initialBackoff, maxBackoff, maxRetryTime, maxEventAge time.Duration
	ratePerSecond                                         float64
	burst                                                 int
}

func (o *notifyOptions) bindFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.initialBackoff, "notify-initial-backoff", dispatch.DefaultInitialBackoff,
		"Wait before the first retry of a failed notification; it doubles after each failure.")
	fs.DurationVar(&o.maxBackoff, "notify-max-backoff", dispatch.DefaultMaxBackoff, "Longest wait between two attempts of a notification.")
	fs.DurationVar(&o.maxRetryTime, "notify-max-retry-time", dispatch.DefaultMaxRetryTime,
		"A notification not accepted this long after its event is given up (counted failed).")
	fs.DurationVar(&o.maxEventAge, "notify-max-event-age", dispatch.DefaultMaxEventAge,
		"Signal events older than this when first read (a long outage, a first install) are not delivered.")
	fs.Float64Var(&o.ratePerSecond, "notify-rate", float64(dispatch.DefaultRate), "Notifications per second to each alert's receiver.")
	fs.IntVar(&o.burst, "notify-burst", dispatch.DefaultBurst, "Notifications each alert's receiver may get at once above --notify-rate.")
}

func (o *notifyOptions) validate() error {
	for name, d := range map[string]time.Duration{"--notify-initial-backoff": o.initialBackoff, "--notify-max-backoff": o.maxBackoff,
		"--notify-max-retry-time": o.maxRetryTime, "--notify-max-event-age": o.maxEventAge} {
		if d <= 0 {
			return fmt.Errorf("%s %s: want a positive duration", name, d)
		}
	}
	if o.ratePerSecond <= 0 || o.burst < 1 {
		return fmt.Errorf("--notify-rate %v, --notify-burst %d: want a positive rate and a burst of at least 1", o.ratePerSecond, o.burst)
	}
	return nil
}

// setupNotifications registers the SignalAlert controller and, with Redis, the leader's delivery
// worker. Without Redis the alerts say they need it (Ready=False RedisRequired).
func setupNotifications(mgr ctrl.Manager, o notifyOptions, store *cache.Cache, rec *metrics.Recorder) error {
	alerts := &controllers.SignalAlertReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("hama-operator"), Metrics: rec}
	if client := store.Client(); client != nil {
		deliveries := dispatch.NewStore(client, consumerName())
		alerts.Deliveries = deliveries
		if err := mgr.Add(&dispatch.Dispatcher{
			Store: deliveries, Alerts: &controllers.AlertSource{Client: mgr.GetClient()}, Sender: &notify.Sender{},
			Reporter: alerts, Observer: rec, Log: ctrl.Log.WithName("notify"), Down: store.Degraded,
			InitialBackoff: o.initialBackoff, MaxBackoff: o.maxBackoff, MaxRetryTime: o.maxRetryTime, MaxEventAge: o.maxEventAge,
			Rate: rate.Limit(o.ratePerSecond), Burst: o.burst,
		}); err != nil {
			return err
		}
	}
	return alerts.SetupWithManager(mgr)
}

// consumerName names this process in the signal history's consumer group: the pod, or the host
// and process id outside a cluster.
func consumerName() string {
	if pod := os.Getenv("POD_NAME"); pod != "" {
		return pod
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}
