#!/usr/bin/env bash
# `make images`: the project's images from the Dockerfile — proxy, xds, echo and registry (the
# in-cluster OCI registry of the kind path's Wasm specs). With LOCAL_IMAGES=1 every base is a
# local stand-in built by bases.sh, so nothing is pulled; otherwise the Dockerfile's upstream
# defaults are pulled as usual.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
# shellcheck source=/dev/null
source kind/versions.env
ENVOY_VERSION=${ENVOY_VERSION_OVERRIDE:-$(sed -n 's/^ENVOY_VERSION *:= *//p' Makefile)}
export ENVOY_VERSION
LOCAL_IMAGES=${LOCAL_IMAGES:-0}
args=(--build-arg "ENVOY_VERSION=$ENVOY_VERSION")
if [ "$LOCAL_IMAGES" = 1 ]; then
  bash "$here/bases.sh" all
  gover=$(awk '$1=="toolchain"{print substr($2,3); exit}' go.mod)
  gover=${gover:-$(awk '$1=="go"{print $2}' go.mod)}
  args+=(--build-arg "GO_BASE=local/go-builder:$gover" --build-arg "ENVOY_BASE=local/envoy:$ENVOY_VERSION"
    --build-arg "STATIC_BASE=local/static:nonroot" --build-arg "DEBIAN_BASE=local/debian:$DEBIAN_BASE_SUITE")
fi
# The classic builder: BuildKit's front end is itself an image to pull, and the Docker CLI
# may lack the buildx plugin.
export DOCKER_BUILDKIT=0
mkdir -p out
for t in proxy:"$PROXY_IMAGE" xds:"$XDS_IMAGE" echo:"$ECHO_IMAGE" registry:"$REGISTRY_IMAGE"; do
  start=$(date +%s) log=out/image-${t%%:*}.log
  docker build "${args[@]}" --target "${t%%:*}" -t "${t#*:}" . >"$log" 2>&1 ||
    { tail -30 "$log" >&2; echo "images: target ${t%%:*} failed (log $log)" >&2; exit 1; }
  echo "images: ${t#*:} (target ${t%%:*}, $(($(date +%s) - start)) s)"
done
