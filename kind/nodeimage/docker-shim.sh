#!/usr/bin/env bash
# `docker` for kind on a host that refuses --privileged (runc cannot apply a capability missing
# from the host's bounding set): `run --privileged` becomes every capability but
# CAP_SYS_RESOURCE plus what privileged also grants (writable /proc and /sys paths, all
# devices), `exec --privileged` a plain exec. kind/conformance-kind.sh puts it first on PATH for
# kind only, and only after probing that --privileged fails.
set -euo pipefail
real=${TRAFFICEXT_REAL_DOCKER:?}
if [ "${1:-}" = run ] || [ "${1:-}" = exec ]; then
  cmd=$1; shift
  args=()
  for a in "$@"; do
    if [ "$a" = --privileged ]; then
      [ "$cmd" = run ] && args+=(--cap-add=ALL --cap-drop=SYS_RESOURCE --security-opt systempaths=unconfined
        --security-opt apparmor=unconfined --device-cgroup-rule='a *:* rwm' --device /dev/kmsg)
    else
      args+=("$a")
    fi
  done
  exec "$real" "$cmd" "${args[@]}"
fi
exec "$real" "$@"
