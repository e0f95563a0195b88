#!/bin/sh
# The node's entrypoint before kind's own. On a host that refuses `docker run --privileged`
# (the capability shim, kind/nodeimage/docker-shim, starts nodes with every capability the
# host has instead) /sys and the cgroup mounts come up read-only; systemd and the kubelet need
# them writable. Without CAP_SYS_RESOURCE containerd must not raise oom_score_adj. On an
# ordinary host neither applies and this only execs kind's entrypoint.
if grep -qE '^[^ ]+ /sys sysfs ro[, ]' /proc/mounts; then
  mount -o remount,bind,rw /sys
  grep -E ' /sys/fs/cgroup[^ ]* ' /proc/mounts | while read -r _ m _ o _; do
    case $o in ro,* | ro) mount -o remount,bind,rw "$m" ;; esac
  done
fi
capbnd=$(sed -n 's/^CapBnd:\t//p' /proc/self/status)
if [ $(( (0x$capbnd >> 24) & 1 )) = 0 ]; then
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
fi
exec "$@"
