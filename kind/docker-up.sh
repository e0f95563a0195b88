#!/usr/bin/env bash
# `make docker`: a Docker daemon answering on its socket. Installs Debian's docker.io when dockerd
# is missing and starts dockerd by hand (this machine has no init system running services) when
# nothing answers; does nothing when a daemon already answers.
set -euo pipefail
LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
sudo=$(command -v sudo || true)
[ "$(id -u)" = 0 ] && sudo=
if docker info >/dev/null 2>&1; then
  echo "docker: a daemon answers ($(docker version -f '{{.Server.Version}}'))"
  exit 0
fi
if ! command -v dockerd >/dev/null; then
  echo "docker: installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq --no-install-recommends docker.io >/dev/null ||
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends docker.io >/dev/null; }
fi
# A systemd host starts it the ordinary way; elsewhere dockerd runs under nohup.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  $sudo systemctl start docker
else
  echo "docker: starting dockerd (log $LOG)"
  $sudo bash -c "nohup dockerd >>'$LOG' 2>&1 </dev/null &"
fi
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && { echo "docker: daemon up ($(docker version -f '{{.Server.Version}}'))"; exit 0; }
  sleep 1
done
echo "docker: dockerd did not answer within 60 s; last lines of $LOG:" >&2
tail -20 "$LOG" >&2 || true
exit 1
