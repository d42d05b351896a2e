#!/usr/bin/env bash
# The programs the tests drive besides Python: a real Prometheus Pushgateway, promtool
# (Debian's prometheus package) and headless Chromium with a font for its screenshots.
# Installs the missing ones with apt as root; elsewhere says what the tests will skip.
set -euo pipefail

declare -A package_of=(
    [prometheus-pushgateway]=prometheus-pushgateway
    [promtool]=prometheus
    [chromium]=chromium
)
missing=()
for program in "${!package_of[@]}"; do
    command -v "$program" >/dev/null 2>&1 || missing+=("${package_of[$program]}")
done
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "not installed: ${missing[*]} (the tests that need them are skipped); as root: apt-get install ${missing[*]}" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"
