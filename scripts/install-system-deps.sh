#!/usr/bin/env bash
# Installs the system packages the tests need (PostgreSQL server, Chromium, promtool) when run as root with apt.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# promtool checks and unit-tests docs/prometheus-alerts.yml; Debian ships it in the prometheus package.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: missing ${need[*]}; tests that need them skip locally (and fail under CI=true)." >&2
  exit 0
fi
echo "installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
