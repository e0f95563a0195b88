#!/usr/bin/env bash
# The kind path of the conformance suite, step by step. Every command is printed before it
# runs; with DRY_RUN=1 it is only printed (so the sequence can be reviewed and tested without
# Docker). Versions and names come from kind/versions.env.
#
#   kind/conformance-kind.sh [up|load|istio|deploy|test|down|all]...   (default: all)
#
# Needs docker and Go; kind and kubectl from PATH, else the ones `make kind-images` built
# (kind is also `go install`ed on demand). LOCAL_IMAGES=1 runs the node image built from source
# (local/node:$K8S_VERSION) instead of $KIND_NODE_IMAGE and builds the project images on local
# bases. ISTIO=1 also installs Istio (istioctl of ISTIO_VERSION on PATH).
#
# Host accommodations, each applied only when detected: a host that refuses
# `docker run --privileged` gets kind/nodeimage/docker-shim.sh as kind's docker; a cgroup v1
# host gets the kubelet's failCgroupV1: false (Kubernetes >= 1.35 refuses cgroup v1 otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
source kind/versions.env
DRY_RUN="${DRY_RUN:-0}"
KEEP="${KEEP:-0}"
ISTIO="${ISTIO:-0}"
LOCAL_IMAGES="${LOCAL_IMAGES:-0}"
PKI_DIR="${PKI_DIR:-out/kind/pki}"
LABEL_FILTER="${LABEL_FILTER:-!local-only}"
KIND_CACHE=${KIND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trafficext/kind}
K=(kubectl --context "$KUBE_CONTEXT")
NODE_IMAGE=$KIND_NODE_IMAGE
[ "$LOCAL_IMAGES" = 1 ] && NODE_IMAGE=local/node:$K8S_VERSION
# The tools make kind-images built, when PATH has none.
command -v kind >/dev/null || PATH=$PATH:$KIND_CACHE/path
command -v kubectl >/dev/null || PATH=$PATH:$KIND_CACHE/path
mkdir -p "$KIND_CACHE/path"
[ -x "$KIND_CACHE/bin/kind-$KIND_VERSION" ] && ln -sf "$KIND_CACHE/bin/kind-$KIND_VERSION" "$KIND_CACHE/path/kind"
[ -x "$KIND_CACHE/bin/k8s-$K8S_VERSION/kubectl" ] && ln -sf "$KIND_CACHE/bin/k8s-$K8S_VERSION/kubectl" "$KIND_CACHE/path/kubectl"
export PATH

run() {
  echo "+ $*"
  if [ "$DRY_RUN" != 1 ]; then "$@"; fi
}

# runsh runs one shell pipeline.
runsh() {
  echo "+ $1"
  if [ "$DRY_RUN" != 1 ]; then bash -o pipefail -c "$1"; fi
}

need() {
  [ "$DRY_RUN" = 1 ] && return 0
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "conformance-kind: $t is not on PATH" >&2; exit 1; }
  done
}

# KIND is kind, through the capability shim on a host that refuses --privileged.
KIND=(kind)
CONFIG=kind/cluster.yaml
ACCOMMODATED=0
host_accommodations() {
  [ "$DRY_RUN" = 1 ] || [ "$ACCOMMODATED" = 1 ] && return 0
  ACCOMMODATED=1
  if ! docker run --rm --privileged --entrypoint true "$NODE_IMAGE" >/dev/null 2>&1; then
    echo "conformance-kind: this host refuses docker run --privileged: kind runs through kind/nodeimage/docker-shim.sh"
    mkdir -p "$KIND_CACHE/shim"
    ln -sf "$PWD/kind/nodeimage/docker-shim.sh" "$KIND_CACHE/shim/docker"
    KIND=(env "TRAFFICEXT_REAL_DOCKER=$(command -v docker)" "PATH=$KIND_CACHE/shim:$PATH" kind)
  fi
  if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
    echo "conformance-kind: cgroup v1 host: the kubelet gets failCgroupV1: false"
    mkdir -p out/kind
    CONFIG=out/kind/cluster.yaml
    { cat kind/cluster.yaml; printf 'kubeadmConfigPatches:\n  - |\n    kind: KubeletConfiguration\n    failCgroupV1: false\n'; } >"$CONFIG"
  fi
}

step_up() {
  need docker kind kubectl
  if [ "$LOCAL_IMAGES" = 1 ] && ! docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
    run bash kind/nodeimage/build.sh
  fi
  host_accommodations
  runsh "kind version | grep -q ' $KIND_VERSION ' || echo 'conformance-kind: warning: kind $KIND_VERSION is the tested version' >&2"
  runsh "kind get clusters | grep -qx $KIND_CLUSTER || ${KIND[*]} create cluster --name $KIND_CLUSTER --image $NODE_IMAGE --config $CONFIG --wait 180s"
}

step_load() {
  need docker kind
  run bash kind/images/build.sh
  host_accommodations
  run "${KIND[@]}" load docker-image --name "$KIND_CLUSTER" "$PROXY_IMAGE" "$XDS_IMAGE" "$ECHO_IMAGE" "$REGISTRY_IMAGE"
}

step_istio() {
  if [ "$ISTIO" != 1 ]; then
    echo "conformance-kind: Istio not installed (ISTIO=1 installs it with istioctl $ISTIO_VERSION; its images are pulled)"
    return 0
  fi
  need istioctl
  runsh "istioctl version --remote=false --short | grep -q '^$ISTIO_VERSION' || { echo 'istioctl $ISTIO_VERSION expected on PATH' >&2; exit 1; }"
  run istioctl install -y --context "$KUBE_CONTEXT" --set profile="$ISTIO_PROFILE"
}

step_deploy() {
  need kubectl go
  run "${K[@]}" apply -f kind/manifests/00-namespaces.yaml
  run "${K[@]}" apply --server-side --force-conflicts -f kind/manifests/10-trafficextension-crd.yaml
  # WasmPlugin's CRD as istio.io/api ships it (the control plane watches WasmPlugins too).
  runsh "awk -v RS='\\n---\\n' '/name: wasmplugins.extensions.istio.io/ {print}' \"\$(go list -m -f '{{.Dir}}' istio.io/api)/kubernetes/customresourcedefinitions.gen.yaml\" | ${K[*]} apply --server-side --force-conflicts -f -"
  run "${K[@]}" wait --for=condition=Established --timeout=60s crd/trafficextensions.extensions.istio.io crd/wasmplugins.extensions.istio.io
  run go run ./conformance/cmd/testpki -dir "$PKI_DIR" -server-name waypoint.apps.svc.cluster.local
  runsh "${K[*]} -n apps create secret generic waypoint-tls --from-file=tls.crt=$PKI_DIR/tls.crt --from-file=tls.key=$PKI_DIR/tls.key --from-file=ca.crt=$PKI_DIR/ca.crt --dry-run=client -o yaml | ${K[*]} apply -f -"
  run "${K[@]}" apply -f kind/manifests/20-control-plane.yaml
  run "${K[@]}" apply -f kind/manifests/30-workloads.yaml
  run "${K[@]}" apply -f kind/manifests/40-proxies.yaml
  for d in trafficext-system/trafficext-xds istio-system/trafficext-ingressgateway apps/workload apps/echo-a apps/echo-b apps/echo other/echo apps/trafficext-waypoint; do
    run "${K[@]}" -n "${d%/*}" rollout status "deploy/${d#*/}" --timeout=5m
  done
}

step_test() {
  need go kubectl
  local status=0
  run mkdir -p out
  run go test -count=1 -timeout 60m -tags conformance ./conformance/specs/ -args \
    -driver=kind -kube-context="$KUBE_CONTEXT" -ginkgo.v -ginkgo.label-filter="$LABEL_FILTER" \
    -ginkgo.junit-report="$PWD/out/conformance-kind-junit.xml" || status=$?
  # The apiserver as a test subject: invalid resources through kubectl, a live edit.
  run go test -count=1 -timeout 20m -tags conformance ./conformance/kubeapi/ -args -kube-context="$KUBE_CONTEXT" || status=$?
  return $status
}

step_down() {
  need kind
  host_accommodations
  run "${KIND[@]}" delete cluster --name "$KIND_CLUSTER"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(all)
for s in "${steps[@]}"; do
  case "$s" in
    all)
      step_up; step_load; step_istio; step_deploy
      status=0
      step_test || status=$?
      if [ "$KEEP" != 1 ]; then step_down; fi
      exit $status ;;
    up|load|istio|deploy|test|down) "step_$s" ;;
    *) echo "conformance-kind: unknown step $s (want up, load, istio, deploy, test, down or all)" >&2; exit 2 ;;
  esac
done
