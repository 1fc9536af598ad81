#!/usr/bin/env bash
# The main job on the shipped defaults: installs and builds (idempotent), then describes the
# default cluster, draws it, and simulates one training step of the default workload flat and
# with DMT towers. Output: summaries on stdout, files under reports/grand-teton-h100-512/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
bin="$(swift build -c release --show-bin-path)/towerplan"
cluster="topologies/grand-teton-h100-512.xml"
workload="workloads/prod-512.xml"
out="reports/grand-teton-h100-512"
mkdir -p "$out"
"$bin" topo show "$cluster" | tee "$out/topology.txt"
"$bin" topo draw "$cluster" -o "$out/cluster.svg"
echo
"$bin" simulate --topology "$cluster" --workload "$workload" --trace "$out/step-flat.trace.json" | tee "$out/step-flat.txt"
echo
"$bin" simulate --topology "$cluster" --workload "$workload" --layout sptt --trace "$out/step-sptt.trace.json" | tee "$out/step-sptt.txt"
