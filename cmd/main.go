/*
Copyright 2026 The hama-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command manager runs the hama-operator: the AnalysisSchedule controller (on the elected leader),
// the REST API and the cache health loop (on every replica), and the metrics endpoint.
package main

import (
	"crypto/tls"
	"flag"
	"os"
	"runtime/debug"

	// GOMEMLIMIT at 90 % of the container's memory limit (unless GOMEMLIMIT is set), so the collector
	// works harder before the pod nears its limit; the manifests set GOGC=800 (docs/deploy.md).
	_ "github.com/KimMachineGun/automemlimit"
	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC, etc.)
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(analysisv1alpha1.AddToScheme(scheme))
}

func main() {
	opts := bindFlags(flag.CommandLine)
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := opts.complete(os.Getenv); err != nil {
		setupLog.Error(err, "invalid configuration")
		os.Exit(1)
	}
	setupLog.Info("garbage collector", "GOGC", os.Getenv("GOGC"), "memoryLimitBytes", debug.SetMemoryLimit(-1))
	if err := run(opts); err != nil {
		setupLog.Error(err, "operator stopped")
		os.Exit(1)
	}
}

// managerOptions builds the controller-runtime manager options from the flags, with secure metrics
// as kubebuilder scaffolds them.
func managerOptions(o *options) ctrl.Options {
	var tlsOpts []func(*tls.Config)
	if !o.enableHTTP2 {
		// HTTP/2 is off by default: CVE-2023-44487 / CVE-2023-39325 (rapid reset).
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   o.metricsAddr,
		SecureServing: o.secureMetrics,
		TLSOpts:       tlsOpts,
	}
	if o.secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	if o.metricsCertPath != "" {
		metricsOpts.CertDir = o.metricsCertPath
		metricsOpts.CertName = o.metricsCertName
		metricsOpts.KeyName = o.metricsCertKey
	}
	return ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        o.probeAddr,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              "hama-operator.analysis.hama-operator.io",
		LeaderElectionNamespace:       o.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &o.leaseDuration,
		RenewDeadline:                 &o.renewDeadline,
		RetryPeriod:                   &o.retryPeriod,
	}
}
