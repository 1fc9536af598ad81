#!/usr/bin/env bash
# Per-phase wall time of distributed training steps (towerplan-mpi-worker, Open MPI): flat vs SPTT
# with identity and with dot tower modules, on 4 ranks of this machine, then (as root, with ip, tc
# and unshare) on 2 emulated hosts of 2 ranks joined by rate-limited links.
# Prints, per run, the mean step time and each phase's time per step (slowest rank, and the mean
# over ranks), over STEPS steps after a warm-up step. Asserts nothing.
# Usage: bash Benchmarks/distributed-phases.sh   (env: SCRATCH build folder, default .build;
#        STEPS, default 20; BATCH per rank, default 256; UPLINK bit/s of an emulated host, default 2e8)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="${SCRATCH:-.build}"
steps="${STEPS:-20}"
batch="${BATCH:-256}"
uplink="${UPLINK:-2e8}"
swift build -c release --scratch-path "$scratch" --product towerplan-mpi-worker >&2
worker="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/towerplan-mpi-worker"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dot=workloads/synthetic-planted.xml
identity="$work/synthetic-planted-identity.xml"
sed '/<tower-module/d' "$dot" > "$identity"

report() {
    python3 - "$1" "$2" <<'PY'
import json, sys
title, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
step = r["stepSeconds"]
print(f"\n{title}: {r['ranks']} ranks, batch {r['batchPerRank']} per rank, loss {r['losses'][0]:.4f} -> {r['losses'][-1]:.4f}")
print(f"  {'step':<48} {step['slowestRank'] * 1e3:9.2f} ms  (mean over ranks {step['meanOverRanks'] * 1e3:8.2f})")
for phase in r["phases"]:
    s = phase["seconds"]
    print(f"  {phase['name']:<48} {s['slowestRank'] * 1e3:9.2f} ms  (mean over ranks {s['meanOverRanks'] * 1e3:8.2f})")
PY
}

runs=(
    "flat|$dot|--layout flat"
    "SPTT, identity towers|$identity|--layout sptt --ranks-per-host 2"
    "SPTT, dot tower modules (8x)|$dot|--layout sptt --ranks-per-host 2"
)
placements=("one host|")
if [ "$(id -u)" -eq 0 ] && command -v tc >/dev/null && command -v unshare >/dev/null; then
    placements+=("2 emulated hosts, $uplink bit/s uplinks|--emulate-hosts 2 --uplink-bits-per-second $uplink")
fi
for placement in "${placements[@]}"; do
    for run in "${runs[@]}"; do
        IFS='|' read -r title workload layout <<< "$run"
        # shellcheck disable=SC2086
        "$worker" launch --ranks 4 ${placement#*|} -- train --workload "$workload" $layout \
            --batch "$batch" --steps "$((steps + 1))" --output "$work/report.json"
        report "$title, ${placement%%|*}" "$work/report.json"
    done
done
