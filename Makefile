# hagate: make help lists the targets.

GO      ?= go
BIN     := bin/hagate
KUBE_APISERVER := .local/bin/kube-apiserver
HAPROXY30 := .local/haproxy-3.0/haproxy
# staticcheck for make lint, pinned; installed into .local/bin by go install.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := .local/bin/staticcheck

.DEFAULT_GOAL := help
.PHONY: help deps build test conformance golden lint staticcheck bench bench-once haproxy-3.0 run clean kube-apiserver cluster-up cluster-down

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-zA-Z_-]*:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## install haproxy, openssl, curl, etcd, iproute2, kubectl from Debian's packages when missing
	@bash hack/deps.sh

build: ## build the hagate CLI into bin/hagate
	$(GO) build -o $(BIN) ./cmd/hagate

test: deps kube-apiserver haproxy-3.0 ## run go vet, every test and the conformance suite on Debian's HAProxy 2.6, then every test and the conformance suite again on HAProxy 3.0 (installs HAProxy, etcd first when missing; builds kube-apiserver and HAProxy 3.0 once)
	$(GO) vet ./...
	$(GO) vet -tags conformance ./conformance/...
	HAGATE_REQUIRE_CLUSTER=1 $(GO) test ./... -count=1 -timeout 20m
	HAGATE_CONFORMANCE_REPORT=.local/conformance-report.yaml bash hack/conformance.sh
	@echo "== the same on HAProxy 3.0 ($(HAPROXY30))"
	PATH=$(CURDIR)/$(dir $(HAPROXY30)):$$PATH HAGATE_HAPROXY_BIN=$(CURDIR)/$(HAPROXY30) HAGATE_REQUIRE_CLUSTER=1 $(GO) test ./... -count=1 -timeout 20m
	HAGATE_HAPROXY_BIN=$(HAPROXY30) HAGATE_CONFORMANCE_REPORT=.local/conformance-report-haproxy-3.0.yaml bash hack/conformance.sh

haproxy-3.0: ## build HAProxy 3.0 LTS into .local/haproxy-3.0 from Debian trixie's upstream tarball (hack/haproxy-3.0.sh; about two minutes), unless built already
	@bash hack/haproxy-3.0.sh

conformance: deps kube-apiserver ## run the Gateway API conformance suite (v1.6.3) against hagate; report in conformance/reports/
	@bash hack/conformance.sh

golden: ## rewrite the golden files testdata/*/out/ from testdata/*/in.yaml
	$(GO) test ./controller/pipeline -run TestGolden -count=1 -update

lint: staticcheck ## gofmt (must list no file), go vet and staticcheck (pinned, STATICCHECK_VERSION), also with -tags conformance; fails on any finding
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt: these files need formatting (gofmt -w):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags conformance ./conformance/...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags conformance ./conformance/...

staticcheck: ## install the pinned staticcheck (STATICCHECK_VERSION) into .local/bin from the Go module proxy, unless installed already
	@have="$$($(GO) version -m $(STATICCHECK) 2>/dev/null | awk '$$1 == "mod" && $$2 == "honnef.co/go/tools" {print $$3}')"; \
	if [ "$$have" = "$(STATICCHECK_VERSION)" ]; then \
		echo "$(STATICCHECK): honnef.co/go/tools $(STATICCHECK_VERSION), up to date"; \
	else \
		echo "installing $(STATICCHECK) from honnef.co/go/tools $(STATICCHECK_VERSION)"; \
		GOBIN="$(CURDIR)/.local/bin" $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); \
	fi

bench: deps kube-apiserver ## run every benchmark, as the README's Performance section does (about 40 minutes; hack/bench.sh)
	@bash hack/bench.sh

bench-once: deps kube-apiserver ## run each benchmark once with small samples, results not judged (CI: a benchmark cannot rot unnoticed)
	@bash hack/bench.sh once

run: build ## render examples/quickstart and run HAProxy on it (Ctrl-C stops)
	@bash hack/run-quickstart.sh

kube-apiserver: ## build .local/bin/kube-apiserver (the k8s.io/kubernetes of hack/tools; minutes) for the cluster tests, unless built already
	@want="$$(cd hack/tools && $(GO) list -m -f '{{.Version}}' k8s.io/kubernetes)"; \
	have="$$($(GO) version -m $(KUBE_APISERVER) 2>/dev/null | awk '$$1 == "mod" && $$2 == "k8s.io/kubernetes" {print $$3}')"; \
	if [ -n "$$want" ] && [ "$$have" = "$$want" ]; then \
		echo "$(KUBE_APISERVER): k8s.io/kubernetes $$want, up to date"; \
	else \
		echo "building $(KUBE_APISERVER) from k8s.io/kubernetes $$want (a few minutes)"; \
		cd hack/tools && $(GO) build -o ../../$(KUBE_APISERVER) k8s.io/kubernetes/cmd/kube-apiserver; \
	fi

cluster-up: ## start a local etcd + kube-apiserver with the Gateway API CRDs (hack/cluster.sh; KUBECONFIG=.local/kubeconfig)
	@bash hack/cluster.sh up

cluster-down: ## stop the local cluster and delete its state
	@bash hack/cluster.sh down

clean: ## remove bin/, out/ and the quickstart's generated certificates
	rm -rf bin out examples/quickstart/.generated
