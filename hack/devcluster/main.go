// Command devcluster runs a local Kubernetes control plane (the envtest etcd and kube-apiserver as
// real processes), installs the CRDs, writes an admin kubeconfig and waits until interrupted. It is
// what `make dev` and the end-to-end tests stand on: no kind, no Docker, no kubelet.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/hama-operator/hama-operator/internal/testenv"
)

func main() {
	kubeconfig := flag.String("write-kubeconfig", "bin/dev/kubeconfig", "Where to write the admin kubeconfig.")
	flag.Parse()
	if err := run(*kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run(kubeconfigPath string) error {
	assets, err := testenv.AssetsDir()
	if err != nil {
		return err
	}
	crds, err := testenv.CRDDir()
	if err != nil {
		return err
	}
	// Signals are caught from here until the control plane has stopped: etcd and kube-apiserver run
	// in their own process group, so a Ctrl-C reaches only this process, and a second signal (dev.sh
	// sends SIGTERM after the terminal's SIGINT) must not kill it halfway through stopping them.
	// Deferred calls run last-in first-out: env.Stop, registered below, runs before stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	started := time.Now()
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
	}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "devcluster: stopping the control plane:", err)
		}
		fmt.Println("control plane stopped")
	}()

	user, err := env.AddUser(envtest.User{Name: "dev-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the admin user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(kubeconfigPath), 0o755); err != nil {
		return err
	}
	tmp := kubeconfigPath + ".tmp"
	if err := os.WriteFile(tmp, kubeconfig, 0o600); err != nil {
		return err
	}
	// Renamed into place only when complete: scripts wait for the file to appear.
	if err := os.Rename(tmp, kubeconfigPath); err != nil {
		return err
	}
	fmt.Printf("control plane up in %s at %s; kubeconfig %s\n",
		time.Since(started).Round(time.Millisecond), env.Config.Host, kubeconfigPath)

	<-ctx.Done()
	_ = os.Remove(kubeconfigPath)
	fmt.Println("control plane stopping")
	return nil
}
