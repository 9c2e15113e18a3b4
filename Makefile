# Image URL to use all building/pushing image targets
IMG ?= ghcr.io/hama-operator/hama-operator:latest

# Get the currently used golang install path (in GOPATH/bin, unless GOBIN is set)
ifeq (,$(shell go env GOBIN))
GOBIN=$(shell go env GOPATH)/bin
else
GOBIN=$(shell go env GOBIN)
endif

# Setting SHELL to bash allows bash commands to be executed by recipes.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs, RBAC and copy the CRDs into the Helm chart (files/crds, rendered by templates/crds.yaml).
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases
	@mkdir -p charts/hama-operator/files/crds
	cp config/crd/bases/*.yaml charts/hama-operator/files/crds/

.PHONY: generate
generate: controller-gen ## Generate DeepCopy implementations.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: verify-generated
verify-generated: manifests generate ## Fail when generated files (CRDs, RBAC, deepcopy, chart CRDs) drift from the Go types.
	@git diff --exit-code -- config/crd config/rbac charts/hama-operator/files/crds api || \
		(echo "generated files are out of date: run 'make manifests generate' and commit" && exit 1)

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: envtest
envtest: ## Provide kube-apiserver, etcd and kubectl for envtest under bin/k8s (downloads, or builds them offline).
	@hack/setup-envtest.sh >/dev/null

.PHONY: test
test: manifests generate fmt vet envtest helm kustomize ## Run all tests: unit and envtest with the race detector, then chart and e2e.
	KUBEBUILDER_ASSETS="$$(hack/setup-envtest.sh)" go test -race $$(go list ./... | grep -v /test/e2e) -count=1 -timeout 30m
	KUBEBUILDER_ASSETS="$$(hack/setup-envtest.sh)" go test ./test/e2e/... -count=1 -timeout 30m

.PHONY: bench
bench: ## Run the Go benchmarks (analysis, klines decode, exchange fan-out, cache).
	go test -run '^$$' -bench . -benchmem -benchtime 2s ./internal/...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and fix what it can.
	$(GOLANGCI_LINT) run --fix

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary.
	go build -o bin/manager ./cmd

.PHONY: run
run: manifests generate fmt vet ## Run the operator from your host against the cluster in ~/.kube/config.
	go run ./cmd --leader-elect=false --metrics-secure=false

# make dev rebuilds only what changed: the CRDs and deepcopy code when an API type changed, the
# manager when a Go source or a file it embeds (the board's pages and scripts) did (file
# prerequisites, not the phony build chain).
API_TYPES := $(wildcard api/v1alpha1/*_types.go)
GENERATED_CRD := config/crd/bases/analysis.hama-operator.io_analysisschedules.yaml
MANAGER_SOURCES := $(shell find api cmd controllers internal -type f -not -name '*_test.go' -not -path '*/testdata/*') go.mod go.sum

$(GENERATED_CRD): $(API_TYPES) | $(CONTROLLER_GEN)
	$(MAKE) manifests generate
	@touch $@

bin/manager: $(MANAGER_SOURCES)
	go build -o bin/manager ./cmd

.PHONY: dev
dev: $(GENERATED_CRD) bin/manager envtest ## Run the whole system on this machine: local control plane, Redis if installed, the operator, samples.
	hack/dev.sh

.PHONY: board-vendor
board-vendor: ## Refresh the board's copy of lightweight-charts from npm (LWC_VERSION=5.2.1 by default).
	hack/board-vendor.sh $(LWC_VERSION)

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t ${IMG} .

.PHONY: docker-push
docker-push: ## Push the container image.
	docker push ${IMG}

.PHONY: build-installer
build-installer: manifests generate kustomize ## Write dist/install.yaml: CRDs and everything needed to deploy.
	mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=${IMG}
	$(KUSTOMIZE) build config/default > dist/install.yaml

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests kustomize ## Install CRDs into the cluster in ~/.kube/config.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Uninstall CRDs from the cluster in ~/.kube/config.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the operator to the cluster in ~/.kube/config.
	cd config/manager && $(KUSTOMIZE) edit set image controller=${IMG}
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the operator from the cluster in ~/.kube/config.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: helm-lint
helm-lint: helm ## Lint the Helm chart strictly.
	$(HELM) lint --strict charts/hama-operator

##@ Dependencies

## Location to install dependencies to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p $(LOCALBIN)

## Tool Binaries
KUBECTL ?= kubectl
KUSTOMIZE ?= $(LOCALBIN)/kustomize
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
HELM ?= $(LOCALBIN)/helm

## Tool Versions
KUSTOMIZE_VERSION ?= v5.8.1
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
HELM_VERSION ?= v3.22.0

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Download kustomize locally if necessary.
$(KUSTOMIZE): $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Download controller-gen locally if necessary.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Download golangci-lint locally if necessary.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: helm
helm: $(HELM) ## Download helm locally if necessary.
$(HELM): $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v3/cmd/helm,$(HELM_VERSION))

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f $(1) ;\
GOBIN=$(LOCALBIN) go install $${package} ;\
mv $(LOCALBIN)/$$(basename "$(1)") $(1)-$(3) ;\
} ;\
ln -sf $$(realpath $(1)-$(3)) $(1)
endef
