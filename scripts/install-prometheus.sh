#!/usr/bin/env bash
# Debian's Prometheus (ships promtool) for the operations tests: a real server scraping the
# local stack, and the alert-rule checks.
set -euo pipefail
if [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: the server binary and promtool only (no node exporter, no service start).
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
