#!/usr/bin/env bash
# Provides the envtest control plane (etcd, kube-apiserver, kubectl) under bin/k8s/<version>-<os>-<arch>
# and prints that directory, ready for KUBEBUILDER_ASSETS.
#
# It first tries the normal route (setup-envtest downloading the release archive). Where that is not
# possible (no internet, only a Go module proxy), it builds the same binaries from source through the
# Go module proxy in a throwaway module under bin/.envtest-build. Binaries are cached: a second call
# costs nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
K8S_VERSION=${ENVTEST_K8S_VERSION:-1.36.3}
ETCD_VERSION=${ENVTEST_ETCD_VERSION:-3.6.6}
SETUP_ENVTEST_VERSION=${SETUP_ENVTEST_VERSION:-v0.25.1}
GOOS=$(go env GOOS)
GOARCH=$(go env GOARCH)
ASSETS="$ROOT/bin/k8s/${K8S_VERSION}-${GOOS}-${GOARCH}"
# setup-envtest's own store, shared by every checkout on this machine: a fresh clone reuses binaries
# another checkout already downloaded or built.
STORE="${ENVTEST_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest}/k8s/${K8S_VERSION}-${GOOS}-${GOARCH}"

log() { echo "setup-envtest: $*" >&2; }

complete() { [ -x "$ASSETS/kube-apiserver" ] && [ -x "$ASSETS/etcd" ] && [ -x "$ASSETS/kubectl" ]; }

if complete; then
  echo "$ASSETS"
  exit 0
fi
mkdir -p "$ASSETS"
if [ -x "$STORE/kube-apiserver" ] && [ -x "$STORE/etcd" ] && [ -x "$STORE/kubectl" ]; then
  cp -f "$STORE/kube-apiserver" "$STORE/etcd" "$STORE/kubectl" "$ASSETS/"
  log "reused envtest binaries from $STORE"
  echo "$ASSETS"
  exit 0
fi

try_download() {
  local tool="$ROOT/bin/setup-envtest"
  if [ ! -x "$tool" ]; then
    GOBIN="$ROOT/bin" timeout 120 go install "sigs.k8s.io/controller-runtime/tools/setup-envtest@${SETUP_ENVTEST_VERSION}" >&2 || return 1
  fi
  local dir
  dir=$(timeout 60 "$tool" use "$K8S_VERSION" --bin-dir "$ROOT/bin" -p path 2>/dev/null) || return 1
  [ -n "$dir" ] && [ -x "$dir/kube-apiserver" ] || return 1
  # setup-envtest lays its binaries out the same way under bin/k8s; copy only when it chose elsewhere.
  if [ "$(cd "$dir" && pwd)" != "$ASSETS" ]; then
    cp -f "$dir/kube-apiserver" "$dir/etcd" "$dir/kubectl" "$ASSETS/" 2>/dev/null || return 1
  fi
}

build_from_proxy() {
  local work="$ROOT/bin/.envtest-build"
  local kmod="k8s.io/kubernetes@v${K8S_VERSION}"
  local staging="0.${K8S_VERSION#1.}"
  rm -rf "$work" && mkdir -p "$work/k8s" "$work/etcd"

  log "building kube-apiserver and kubectl v${K8S_VERSION} from the Go module proxy (several minutes, once)"
  go mod download "$kmod" >&2
  local modfile
  modfile=$(go mod download -json "$kmod" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  (
    cd "$work/k8s"
    go mod init envtest-build/k8s >/dev/null 2>&1
    # k8s.io/kubernetes points its staging modules at ./staging; pin each to its published twin.
    grep '=> ./staging' "$modfile" | awk '{print $1}' | while read -r m; do
      go mod edit -replace "$m=$m@v${staging}"
    done
    go mod edit -require "k8s.io/kubernetes@v${K8S_VERSION}"
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    go mod tidy >&2
    local major=${K8S_VERSION%%.*} minor
    minor=$(echo "$K8S_VERSION" | cut -d. -f2)
    local v="k8s.io/component-base/version"
    local ldflags="-s -w -X $v.gitVersion=v${K8S_VERSION} -X $v.gitMajor=${major} -X $v.gitMinor=${minor}"
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$ASSETS/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$ASSETS/kubectl" k8s.io/kubernetes/cmd/kubectl >&2
  )

  log "building etcd v${ETCD_VERSION} from the Go module proxy"
  (
    cd "$work/etcd"
    go mod init envtest-build/etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" >&2
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ASSETS/etcd" go.etcd.io/etcd/server/v3 >&2
  )
  rm -rf "$work"
}

if [ "${ENVTEST_BUILD_ONLY:-}" != "1" ] && try_download; then
  log "downloaded envtest binaries for ${K8S_VERSION}"
else
  build_from_proxy
fi
complete || { log "envtest binaries are incomplete in $ASSETS"; exit 1; }
mkdir -p "$STORE" && cp -f "$ASSETS/kube-apiserver" "$ASSETS/etcd" "$ASSETS/kubectl" "$STORE/" || true
echo "$ASSETS"
