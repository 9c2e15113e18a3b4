package main

import (
	"fmt"
	"net/http"

	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/hama-operator/hama-operator/controllers"
	"github.com/hama-operator/hama-operator/internal/apiserver"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/gainers"
	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/live"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/metrics"
	"github.com/hama-operator/hama-operator/internal/refresh"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// run wires CR → reconciler → refresher → market data → HAMA → cache ← REST and starts the manager.
func run(o *options) error {
	ctx := ctrl.SetupSignalHandler()
	restConfig := ctrl.GetConfigOrDie()
	mgr, err := ctrl.NewManager(restConfig, managerOptions(o))
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}

	rec := metrics.New(ctrlmetrics.Registry)
	rec.SetRedisConfigured(o.cache.RedisEnabled)
	store, err := cache.New(o.cache.Config, rec, ctrl.Log.WithName("cache"))
	if err != nil {
		return fmt.Errorf("creating the cache: %w", err)
	}
	defer func() { _ = store.Close() }()
	if err := mgr.Add(store); err != nil {
		return err
	}

	// The signal history shares the cache's Redis client: one connection pool, one configuration.
	history := signals.NewLog(store.Client(), signals.LogOptions{
		MaxLen: o.signalsMaxLen, DedupTTL: o.signalsDedupTTL, MemoryMax: o.signalsMemoryMax,
		FlushInterval: o.cache.HealthInterval, Down: store.Degraded, Observer: rec, Log: ctrl.Log.WithName("signals"),
	})
	if err := mgr.Add(history); err != nil {
		return err
	}

	sources := &refresh.Sources{Observer: rec, WeightPerMinute: o.weightPerMinute}
	// One cached ticker per exchange, shared by the gainers routes and topGainers schedules.
	board := &gainers.Board{Sources: sources, Store: store}
	pipeline := &refresh.Pipeline{
		Sources:  sources,
		Gainers:  board,
		Store:    store,
		Signals:  history,
		Keys:     refresh.KeyPrefix(o.cache.keyPrefix),
		Backend:  func() string { return string(store.Stats().Serving) },
		Degraded: store.Degraded,
		Observer: rec,
		Log:      ctrl.Log.WithName("refresh"),
		Defaults: refresh.Job{
			Exchange: o.defaultExchange, Timeframes: o.timeframes(), Candles: o.defaultCandles,
			TTL: o.cache.onDemandTTL, Params: hama.DefaultParams(),
		},
	}
	// Stream-mode schedules: leader-only, like the refreshes, and writing through the same pipeline.
	streams := &live.Manager{Writer: pipeline, Sources: sources, Observer: rec, Log: ctrl.Log.WithName("stream")}
	if err := mgr.Add(streams); err != nil {
		return err
	}
	reconciler := &controllers.AnalysisScheduleReconciler{
		Client:            mgr.GetClient(),
		Recorder:          mgr.GetEventRecorder("hama-operator"),
		Refresher:         pipeline,
		Metrics:           rec,
		CacheDegraded:     store.Degraded,
		JitterPercentage:  o.jitterPercentage,
		MaxConcurrentRuns: o.maxConcurrentRuns,
		Results:           cachedResults{store: store, keys: pipeline.Keys},
		Streams:           streams,
		APIReader:         mgr.GetAPIReader(),
	}
	streams.Changed = reconciler.StreamChanged
	if err := reconciler.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the controller: %w", err)
	}
	if err := setupNotifications(mgr, o.notify, store, rec); err != nil {
		return fmt.Errorf("setting up notifications: %w", err)
	}

	if o.apiAddr != "0" {
		clientset, err := kubernetes.NewForConfig(restConfig)
		if err != nil {
			return err
		}
		auth, err := apiserver.NewKubeAuthorizer(clientset)
		if err != nil {
			return err
		}
		apiCfg := apiserver.Config{Addr: o.apiAddr, Namespace: o.namespace, Exchange: o.defaultExchange,
			AuthReads: o.apiAuthReads, Keys: pipeline.Keys, OnDemandTTL: o.cache.onDemandTTL,
			APIReader: mgr.GetAPIReader(), CORSAllowedOrigins: o.corsOrigins(), Gainers: board, Signals: history}
		if o.defaultExchange == market.Simulated { // offline: both markets of the gainers page are simulated
			apiCfg.MarketExchanges = map[string]string{"spot": market.Simulated, "futures": market.Simulated}
		}
		api := apiserver.New(apiCfg, store, pipeline, mgr.GetClient(), auth, rec, ctrl.Log.WithName("api"))
		rec.CountCachedSymbolsWith(api.CountCachedSymbols)
		if err := mgr.Add(api); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("api", api.Listening); err != nil {
			return err
		}
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	// Ready once the API listens (above) and while the cache can serve: a Redis outage degrades to
	// memory, it does not make pods unready.
	if err := mgr.AddReadyzCheck("readyz", func(*http.Request) error { return nil }); err != nil {
		return err
	}
	setupLog.Info("starting the operator", "redis", o.cache.RedisEnabled, "cacheBackend", store.Stats().Serving,
		"defaultExchange", o.defaultExchange)
	return mgr.Start(ctx)
}

var (
	_ manager.Runnable = (*cache.Cache)(nil)
	_ manager.Runnable = (*signals.Log)(nil)
)
