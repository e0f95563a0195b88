# syntax=docker/dockerfile:1
# trafficext images.
#
#   docker build --target contrib -t trafficext/envoy-contrib:1.39.3 .
#       envoy-contrib 1.39.3 with the golang-filter library at /usr/local/lib/trafficext_golang.so
#   docker build --target module -t trafficext/envoy:1.39.3 .
#       stock Envoy 1.39.3 with the dynamic module at /usr/local/lib/trafficext/libtrafficext.so
#       and ENVOY_DYNAMIC_MODULES_SEARCH_PATH pointing at it
#   docker build --target module-layer -o out/layer .
#       just the module file, to add to another image that carries Envoy 1.39 (e.g. an Istio
#       1.31 proxyv2 image)
#   docker build --target proxy -t trafficext/proxy:dev .
#       the proxy image of the kind path (kind/): PROXY_BASE (default: stock Envoy 1.39.3) plus
#       the dynamic module. PROXY_BASE may be any image whose Envoy is built with dynamic modules
#       and speaks the module's ABI version (v0.1.0: Envoy 1.39), e.g. an Istio 1.31 proxyv2:
#         docker build --target proxy --build-arg PROXY_BASE=<istio/proxyv2 1.31> .
#   docker build --target xds -t trafficext/xds .
#       the control plane
#   docker build --target echo -t trafficext/echo .
#       the conformance echo workload (conformance/cmd/echo)
#
# The shared libraries are built with cgo against the glibc of the target Envoy images (Ubuntu
# 22.04 based, glibc 2.35): the builder is Debian bookworm (glibc 2.36) but links only symbols
# versioned GLIBC_2.34 or older (see docs/architecture.md), which both images provide.

ARG GO_VERSION=1.26
ARG ENVOY_VERSION=1.39.3
ARG PROXY_BASE=envoyproxy/envoy:v${ENVOY_VERSION}
ARG ISTIO_PROXY_BASE=docker.io/istio/proxyv2:1.30.0

FROM golang:${GO_VERSION}-bookworm AS build
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

FROM envoyproxy/envoy-contrib:v${ENVOY_VERSION} AS contrib
COPY --from=build /out/trafficext_golang.so /usr/local/lib/trafficext_golang.so

FROM envoyproxy/envoy:v${ENVOY_VERSION} AS module
COPY --from=build /out/libtrafficext.so /usr/local/lib/trafficext/libtrafficext.so
ENV ENVOY_DYNAMIC_MODULES_SEARCH_PATH=/usr/local/lib/trafficext

FROM ${PROXY_BASE} AS proxy
COPY --from=build /out/libtrafficext.so /usr/local/lib/trafficext/libtrafficext.so
ENV ENVOY_DYNAMIC_MODULES_SEARCH_PATH=/usr/local/lib/trafficext

FROM gcr.io/distroless/static-debian12:nonroot AS echo
COPY --from=build /out/echo /usr/local/bin/echo
ENTRYPOINT ["/usr/local/bin/echo"]

FROM gcr.io/distroless/static-debian12:nonroot AS xds
COPY --from=build /out/trafficext /usr/local/bin/trafficext
ENTRYPOINT ["/usr/local/bin/trafficext", "xds", "--xds-address", "0.0.0.0:18000"]

# --- istio-proxy: an Istio proxyv2 image plus the golang-filter library of its Envoy line ---
#   docker build --target istio-proxy --build-arg ISTIO_PROXY_BASE=docker.io/istio/proxyv2:1.30.0 \
#       -t <registry>/proxyv2:1.30.0-trafficext .
# The library is built against the Envoy of the Istio line (1.28, 1.29, 1.30, 1.31 = Envoy 1.36,
# 1.37, 1.38, 1.39; as make golang-filter) and lands at /usr/local/lib/trafficext_golang.so, the
# path `trafficext istio render --binding golang` and `trafficext xds --binding golang` use.
# The line comes from the image tag (major.minor); ISTIO_LINE overrides it (digests, own tags).
# (The global ARG ISTIO_PROXY_BASE at the top exists only because FROM needs it there.)
FROM golang:${GO_VERSION}-bookworm AS istio-proxy-library
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
