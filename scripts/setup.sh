#!/usr/bin/env bash
# Installs what towerplan needs on Debian (idempotent: apt runs only when a package is missing)
# and builds it. Usage: scripts/setup.sh [release|debug]   (default: release)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(graphviz libgraphviz-dev libopenblas-dev libxml2-dev libopenmpi-dev openmpi-bin pkg-config)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "towerplan setup: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
    echo "towerplan setup: swift is not on PATH; install Swift 6.3 (https://swift.org/install) first" >&2
    exit 1
fi

configuration="${1:-release}"
if [ "$configuration" != "none" ]; then
    swift build -c "$configuration" --product towerplan >&2
fi
