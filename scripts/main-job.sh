#!/usr/bin/env bash
# The main job on the shipped defaults: installs and builds (idempotent), then describes the
# default cluster and draws it. Output: the summary on stdout, the diagram under reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
bin="$(swift build -c release --show-bin-path)/towerplan"
cluster="topologies/grand-teton-h100-512.xml"
out="reports/grand-teton-h100-512"
mkdir -p "$out"
"$bin" topo show "$cluster" | tee "$out/topology.txt"
"$bin" topo draw "$cluster" -o "$out/cluster.svg"
