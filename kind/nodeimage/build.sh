#!/usr/bin/env bash
# `make kind-images`: the kind node image local/node:$K8S_VERSION from source, pulling nothing
# (kind build node-image fetches etcd, CoreDNS, pause and kindnetd from registries):
#   1. a debootstrapped $DEBIAN_SUITE rootfs with kind's base packages (cached tar)
#   2. kind's base image from it (kind's images/base files, units, cri-base.json)
#   3. Kubernetes, etcd, CoreDNS and pause built from the Go proxy (bins.sh, cached)
#   4. component images under the names `kubeadm config images list` gives, saved as tars
#   5. the node image: base + kubeadm/kubelet/kubectl + the component images imported into
#      its containerd + a bridge CNI config (kindnetd is not on the Go proxy)
# plus the kind binary itself (go install). Everything lands in $KIND_CACHE; a warm run with no
# version change only checks the caches.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
source "$here/../versions.env"
KIND_CACHE=${KIND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trafficext/kind}
export KIND_CACHE
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
NODE_IMAGE=local/node:$K8S_VERSION
BASE_IMAGE=local/kind-base:$KIND_VERSION-$DEBIAN_SUITE
K8S_BIN=$KIND_CACHE/bin/k8s-$K8S_VERSION
GO=${GO:-go}
mkdir -p "$KIND_CACHE"
have() { docker image inspect "$1" >/dev/null 2>&1; }
log() { echo "kind-images: $*"; }

kind_bin() {
  [ -x "$KIND_CACHE/bin/kind-$KIND_VERSION" ] && return
  log "kind $KIND_VERSION (go install)"
  GOBIN=$KIND_CACHE/bin/kind-install CGO_ENABLED=0 $GO install "sigs.k8s.io/kind@$KIND_VERSION"
  mv "$KIND_CACHE/bin/kind-install/kind" "$KIND_CACHE/bin/kind-$KIND_VERSION"
}

rootfs() {
  local tar=$KIND_CACHE/rootfs-$DEBIAN_SUITE-node.tar
  [ -s "$tar" ] && return
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  local dir=$KIND_CACHE/rootfs.tmp
  rm -rf "$dir" && mkdir -p "$dir"
  log "rootfs: debootstrap $DEBIAN_SUITE (a few minutes)"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,fuse-overlayfs,e2fsprogs,bash,ca-certificates,curl,jq,procps,containerd,runc,containernetworking-plugins \
    "$DEBIAN_SUITE" "$dir" "$DEBIAN_MIRROR" >"$KIND_CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$KIND_CACHE/debootstrap.log" >&2; exit 1; }
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" --numeric-owner -cf "$tar.tmp" . && mv "$tar.tmp" "$tar" && rm -rf "$dir"
}

# base: kind's images/base/Dockerfile, done on the rootfs in a chroot.
base() {
  have "$BASE_IMAGE" && return
  rootfs
  local kind_dir dir=$KIND_CACHE/base.tmp
  kind_dir=$(cd "$KIND_CACHE" && GOFLAGS=-mod=mod $GO mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  local f=$kind_dir/images/base/files
  rm -rf "$dir" && mkdir -p "$dir" && tar -C "$dir" -xf "$KIND_CACHE/rootfs-$DEBIAN_SUITE-node.tar"
  install -m 0755 "$f"/usr/local/bin/* "$dir/usr/local/bin/"
  mkdir -p "$dir/kind/bin" "$dir/LICENSES" "$dir/etc/containerd" "$dir/etc/default" "$dir/etc/sysctl.d" \
    "$dir/etc/systemd/system/kubelet.service.d" "$dir/etc/kubernetes/manifests" "$dir/opt/cni/bin"
  (cd "$f/kind" && find . -type f ! -path './bin/*' -exec install -D -m 0644 {} "$dir/kind/{}" \;)
  install -m 0755 "$f"/kind/bin/* "$dir/kind/bin/"
  install -m 0644 "$f"/LICENSES/* "$dir/LICENSES/"
  for sub in etc/containerd etc/default etc/sysctl.d etc/systemd/system etc/systemd/system/kubelet.service.d; do
    find "$f/$sub" -maxdepth 1 -type f -exec install -m 0644 {} "$dir/$sub/" \;
  done
  install -m 0644 "$f"/etc/*.yaml "$dir/etc/" 2>/dev/null || true
  # Debian's containerd/runc/CNI plugins where kind's units and config expect its own builds.
  for b in containerd ctr containerd-shim-runc-v2; do ln -sf "/usr/bin/$b" "$dir/usr/local/bin/$b"; done
  ln -sf /usr/sbin/runc "$dir/usr/local/sbin/runc"
  for p in "$dir"/usr/lib/cni/*; do ln -sf "/usr/lib/cni/$(basename "$p")" "$dir/opt/cni/bin/"; done
  chroot "$dir" /bin/bash -euc '
    find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
    rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
    echo ReadKMsg=no >> /etc/systemd/journald.conf
    ln -sf /usr/lib/systemd/systemd /sbin/init
    systemctl enable kubelet.service containerd.service undo-mount-hacks.service
    systemctl mask systemd-binfmt.service
    ctr oci spec | jq ".hooks.createContainer[.hooks.createContainer| length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}" |
      jq "del(.process.rlimits)" > /etc/containerd/cri-base.json'
  install -m 0755 "$here/prelude.sh" "$dir/usr/local/bin/trafficext-prelude"
  tar -C "$dir" --numeric-owner -c . | docker import - "$BASE_IMAGE-import" >/dev/null
  rm -rf "$dir"
  # docker import refuses STOPSIGNAL; a build FROM the imported image adds it (nothing pulled).
  printf 'FROM %s\nENV container=docker\nSTOPSIGNAL SIGRTMIN+3\nENTRYPOINT ["/usr/local/bin/trafficext-prelude", "/usr/local/bin/entrypoint", "/sbin/init"]\n' \
    "$BASE_IMAGE-import" | DOCKER_BUILDKIT=0 docker build -q -t "$BASE_IMAGE" - >/dev/null
  docker rmi "$BASE_IMAGE-import" >/dev/null
  log "$BASE_IMAGE built"
}

# mkimg NAME TAR DIR ENTRYPOINT...: an image of DIR's files, saved as TAR.
mkimg() {
  local name=$1 tar=$2 dir=$3; shift 3
  local ep; ep=$(printf '"%s",' "$@"); ep="[${ep%,}]"
  tar -C "$dir" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENTRYPOINT $ep" - "$name" >/dev/null
  docker save -o "$tar.tmp" "$name" && mv "$tar.tmp" "$tar"
}

# closure DIR ROOT FILE...: copy FILEs of the rootfs ROOT and the libraries they load into DIR.
closure() {
  local dir=$1 root=$2; shift 2
  local f lib
  for f in "$@"; do
    (cd "$root" && cp -a --parents "${f#/}" "$dir/")
    for lib in $(chroot "$root" ldd "$f" 2>/dev/null | grep -oE '/[^ ]+' | sort -u); do
      (cd "$root" && cp -L --parents "${lib#/}" "$dir/" 2>/dev/null) || true
    done
  done
}

components() {
  local tars=$KIND_CACHE/images-$K8S_VERSION
  [ -f "$tars/done" ] && return
  mkdir -p "$tars"
  local list; list=$("$K8S_BIN/kubeadm" config images list --kubernetes-version "$K8S_VERSION")
  local root=$KIND_CACHE/comp.root
  rm -rf "$root" && mkdir -p "$root" && tar -C "$root" -xf "$KIND_CACHE/rootfs-$DEBIAN_SUITE-node.tar"
  local img name d
  for img in $list; do
    name=$(basename "${img%%:*}")
    d=$KIND_CACHE/comp.$name && rm -rf "$d" && mkdir -p "$d/usr/local/bin" "$d/etc" "$d/tmp" "$d/var/run"
    cp "$root/etc/passwd" "$root/etc/group" "$d/etc/"
    mkdir -p "$d/etc/ssl/certs" && cp "$root/etc/ssl/certs/ca-certificates.crt" "$d/etc/ssl/certs/"
    case $name in
      etcd) cp "$KIND_CACHE/bin/etcd-$ETCD_VERSION/etcd" "$d/usr/local/bin/" && mkimg "$img" "$tars/$name.tar" "$d" /usr/local/bin/etcd ;;
      coredns) cp "$KIND_CACHE/bin/coredns-$COREDNS_VERSION/coredns" "$d/coredns" && mkimg "$img" "$tars/$name.tar" "$d" /coredns ;;
      pause)
        cp "$KIND_CACHE/bin/pause/pause" "$d/pause" && mkimg "$img" "$tars/$name.tar" "$d" /pause
        # kind's containerd config names pause:3.10 as the sandbox image.
        docker tag "$img" registry.k8s.io/pause:3.10 && docker save -o "$tars/pause-3.10.tar" registry.k8s.io/pause:3.10 ;;
      kube-proxy)
        cp "$K8S_BIN/kube-proxy" "$d/usr/local/bin/"
        # iptables/nft and what they load at run time: xtables match modules included (their
        # own libraries too, e.g. libm for libxt_statistic).
        closure "$d" "$root" /usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi /usr/sbin/nft /usr/sbin/ip \
          /usr/sbin/conntrack $(cd "$root" && ls -d usr/lib/x86_64-linux-gnu/xtables/*.so | sed 's#^#/#')
        (cd "$root" && cp -a --parents usr/sbin/iptables* usr/sbin/ip6tables* etc/alternatives/ip*tables* "$d/")
        mkimg "$img" "$tars/$name.tar" "$d" /usr/local/bin/kube-proxy ;;
      kube-*) cp "$K8S_BIN/$name" "$d/usr/local/bin/" && mkimg "$img" "$tars/$name.tar" "$d" "/usr/local/bin/$name" ;;
      *) echo "kind-images: no recipe for component image $img" >&2; exit 1 ;;
    esac
    rm -rf "$d"
  done
  rm -rf "$root"
  touch "$tars/done"
  log "component images: $(echo "$list" | tr '\n' ' ')"
}

node() {
  have "$NODE_IMAGE" && [ "$(docker image inspect -f '{{index .Config.Labels "trafficext.inputs"}}' "$NODE_IMAGE")" = "$(inputs)" ] && return
  local c=trafficext-nodeimage-build tars=$KIND_CACHE/images-$K8S_VERSION
  docker rm -f "$c" >/dev/null 2>&1 || true
  docker run -d --name "$c" --entrypoint=sleep "$BASE_IMAGE" infinity >/dev/null
  for b in kubeadm kubelet kubectl; do docker cp "$K8S_BIN/$b" "$c:/usr/bin/$b"; done
  docker exec "$c" bash -c "echo $K8S_VERSION > /kind/version && mkdir -p /kind/images /kind/manifests /etc/cni/net.d"
  docker cp "$here/10-bridge.conflist" "$c:/etc/cni/net.d/10-bridge.conflist"
  docker cp "$here/default-cni.yaml" "$c:/kind/manifests/default-cni.yaml"
  for t in "$tars"/*.tar; do docker cp "$t" "$c:/kind/images/"; done
  # The images go into the node's containerd as kind build node-image puts them: pinned, not
  # unpacked (the node unpacks them at boot).
  docker exec "$c" bash -euc '
    containerd >/tmp/containerd.log 2>&1 & pid=$!
    for i in $(seq 1 30); do ctr version >/dev/null 2>&1 && break; sleep 1; done
    for t in /kind/images/*.tar; do
      ctr -n k8s.io images import --no-unpack --all-platforms --digests "$t" >/dev/null
    done
    # Pinned, so the kubelet image GC keeps them (containerd 1.7 ctr imports without labels).
    for ref in $(ctr -n k8s.io images ls -q); do
      ctr -n k8s.io images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
    done
    ctr -n k8s.io images ls -q | grep -vE "^(import-|sha256:)" || true
    kill $pid; wait $pid || true
    rm -rf /kind/images /tmp/containerd.log'
  docker commit --change "LABEL trafficext.inputs=$(inputs)" \
    --change 'ENTRYPOINT ["/usr/local/bin/trafficext-prelude", "/usr/local/bin/entrypoint", "/sbin/init"]' \
    --change 'CMD []' "$c" "$NODE_IMAGE" >/dev/null
  docker rm -f "$c" >/dev/null
  log "$NODE_IMAGE built"
}

# inputs names what the node image is built from (a changed script or version rebuilds it).
inputs() {
  cat "$here/../versions.env" "$here"/*.sh "$here"/*.conflist "$here"/*.yaml | sha256sum | cut -c1-16
}

case "${1:-all}" in
  all)
    t0=$(date +%s)
    kind_bin
    rootfs & rpid=$!
    bash "$here/bins.sh" all
    wait $rpid
    base
    components
    node
    log "done in $(($(date +%s) - t0)) s" ;;
  kind | rootfs | base | components | node) [ "$1" = kind ] && kind_bin || "$1" ;;
  *) echo "usage: $0 [all|kind|rootfs|base|components|node]" >&2; exit 2 ;;
esac
