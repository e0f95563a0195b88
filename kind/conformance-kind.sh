#!/usr/bin/env bash
# The kind path of the conformance suite, step by step. Every command is printed before it
# runs; with DRY_RUN=1 it is only printed (so the sequence can be reviewed and tested without
# Docker). Versions and names come from kind/versions.env.
#
#   kind/conformance-kind.sh [up|load|istio|deploy|test|down|all]...   (default: all)
#
# Needs docker, kind, kubectl and istioctl on PATH (istioctl of ISTIO_VERSION), and Go.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
source kind/versions.env
DRY_RUN="${DRY_RUN:-0}"
KEEP="${KEEP:-0}"
PKI_DIR="${PKI_DIR:-out/kind/pki}"
LABEL_FILTER="${LABEL_FILTER:-!local-only}"
K=(kubectl --context "$KUBE_CONTEXT")

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

step_up() {
  need docker kind kubectl
  runsh "kind version | grep -q ' $KIND_VERSION ' || echo 'conformance-kind: warning: kind $KIND_VERSION is the tested version' >&2"
  runsh "kind get clusters | grep -qx $KIND_CLUSTER || kind create cluster --name $KIND_CLUSTER --image $KIND_NODE_IMAGE --config kind/cluster.yaml --wait 120s"
}

step_load() {
  need docker kind
  run docker build --build-arg ENVOY_VERSION="$ENVOY_VERSION" --target proxy -t "$PROXY_IMAGE" .
  run docker build --target xds -t "$XDS_IMAGE" .
  run docker build --target echo -t "$ECHO_IMAGE" .
  run kind load docker-image --name "$KIND_CLUSTER" "$PROXY_IMAGE" "$XDS_IMAGE" "$ECHO_IMAGE"
}

step_istio() {
  need istioctl
  runsh "istioctl version --remote=false --short | grep -q '^$ISTIO_VERSION' || { echo 'istioctl $ISTIO_VERSION expected on PATH' >&2; exit 1; }"
  run istioctl install -y --context "$KUBE_CONTEXT" --set profile="$ISTIO_PROFILE"
}

step_deploy() {
  need kubectl go
  run "${K[@]}" apply -f kind/manifests/00-namespaces.yaml
  run "${K[@]}" apply --server-side --force-conflicts -f kind/manifests/10-trafficextension-crd.yaml
  run "${K[@]}" wait --for=condition=Established --timeout=60s crd/trafficextensions.extensions.istio.io
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
  run mkdir -p out
  run go test -count=1 -timeout 60m -tags conformance ./conformance/specs/ -args \
    -driver=kind -kube-context="$KUBE_CONTEXT" -ginkgo.v -ginkgo.label-filter="$LABEL_FILTER" \
    -ginkgo.junit-report="$PWD/out/conformance-kind-junit.xml"
}

step_down() {
  need kind
  run kind delete cluster --name "$KIND_CLUSTER"
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
