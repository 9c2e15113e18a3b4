// Package testenv starts the envtest control plane (a real etcd and kube-apiserver) for tests, with
// the binaries that hack/setup-envtest.sh provides, so every suite finds them the same way.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// AssetsDir returns the directory holding kube-apiserver, etcd and kubectl: $KUBEBUILDER_ASSETS when
// set, otherwise whatever hack/setup-envtest.sh provides (it downloads, or builds once offline).
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(root, "hack", "setup-envtest.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("envtest binaries are missing and hack/setup-envtest.sh failed (%w); "+
			"run `make envtest` or set KUBEBUILDER_ASSETS", err)
	}
	dir := strings.TrimSpace(string(out))
	// Later suites in the same process (and their children) reuse the answer.
	_ = os.Setenv("KUBEBUILDER_ASSETS", dir)
	return dir, nil
}

// RepoRoot is the repository's top directory.
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the repository root")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}

// CRDDir is where controller-gen writes the CRDs.
func CRDDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "config", "crd", "bases"), nil
}
