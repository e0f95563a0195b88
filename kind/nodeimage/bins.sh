#!/usr/bin/env bash
# The node image's programs, built from the Go module proxy (no image pulls): Kubernetes (one
# wrapper module over k8s.io/kubernetes with its staging modules pinned), etcd, CoreDNS with the
# plugins of kubeadm's Corefile, and a static pause. Output: $KIND_CACHE/bin-<versions>/.
#   bins.sh [k8s|etcd|coredns|pause|all]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
source "$here/../versions.env"
KIND_CACHE=${KIND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trafficext/kind}
export CGO_ENABLED=0 GOFLAGS=-mod=mod
GO=${GO:-go}

k8s() {
  local out=$KIND_CACHE/bin/k8s-$K8S_VERSION
  [ -x "$out/kubelet" ] && [ -x "$out/kubeadm" ] && { echo "k8s $K8S_VERSION: cached ($out)"; return; }
  local w=$KIND_CACHE/src/k8s-$K8S_VERSION staging="v0${K8S_VERSION#v1}"
  mkdir -p "$w" "$out.tmp"
  # The staging replaces of k8s.io/kubernetes' own go.mod become proxy versions of the same release.
  local gomod
  gomod=$(cd "$w" && $GO mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  {
    echo "module trafficext.local/k8s"
    echo "go 1.25"
    echo "require k8s.io/kubernetes $K8S_VERSION"
    grep -oE '^\s*k8s.io/[a-z0-9-]+ => ./staging/src/k8s.io/[a-z0-9-]+' "$gomod" |
      awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
  } >"$w/go.mod"
  printf 'package main\n' >"$w/doc.go"
  local pkg=k8s.io/client-go/pkg/version cb=k8s.io/component-base/version minor
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  local ld="-s -w"
  for p in $pkg $cb; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$w" && $GO build -trimpath -ldflags "$ld" -o "$out.tmp/" \
    k8s.io/kubernetes/cmd/{kubeadm,kubelet,kubectl,kube-apiserver,kube-controller-manager,kube-scheduler,kube-proxy})
  rm -rf "$out" && mv "$out.tmp" "$out"
}

etcd() {
  local out=$KIND_CACHE/bin/etcd-$ETCD_VERSION
  [ -x "$out/etcd" ] && { echo "etcd $ETCD_VERSION: cached"; return; }
  local w=$KIND_CACHE/src/etcd-$ETCD_VERSION
  mkdir -p "$w" "$out.tmp"
  printf 'module trafficext.local/etcd\ngo 1.25\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" >"$w/go.mod"
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' >"$w/main.go"
  (cd "$w" && $GO build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" .)
  rm -rf "$out" && mv "$out.tmp" "$out"
}

coredns() {
  local out=$KIND_CACHE/bin/coredns-$COREDNS_VERSION
  [ -x "$out/coredns" ] && { echo "coredns $COREDNS_VERSION: cached"; return; }
  local w=$KIND_CACHE/src/coredns-$COREDNS_VERSION
  mkdir -p "$w" "$out.tmp"
  printf 'module trafficext.local/coredns\ngo 1.25\nrequire github.com/coredns/coredns v%s\n' "$COREDNS_VERSION" >"$w/go.mod"
  cp "$here/coredns-main.go.txt" "$w/main.go"
  (cd "$w" && $GO build -trimpath -ldflags "-s -w" -o "$out.tmp/coredns" .)
  rm -rf "$out" && mv "$out.tmp" "$out"
}

pause() {
  local out=$KIND_CACHE/bin/pause
  [ -x "$out/pause" ] && [ "$out/pause" -nt "$here/pause.c" ] && { echo "pause: cached"; return; }
  mkdir -p "$out"
  gcc -static -Os -o "$out/pause" "$here/pause.c"
}

case "${1:-all}" in
  k8s | etcd | coredns | pause) "$1" ;;
  all) pause; etcd; coredns; k8s ;;
  *) echo "usage: $0 [k8s|etcd|coredns|pause|all]" >&2; exit 2 ;;
esac
