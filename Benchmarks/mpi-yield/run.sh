#!/usr/bin/env bash
# Builds yield-cost.c with mpicc and runs it on RANKS ranks (default 8) of this machine with the
# flags `towerplan train --ranks` uses when ranks outnumber cores, for bursts of 1 and 5 ms.
# With c cores, k computing ranks and bursts of X ms, no cost from the waiting ranks is k·X/c per
# iteration. Usage: bash Benchmarks/mpi-yield/run.sh [RANKS]
set -euo pipefail
cd "$(dirname "$0")"
ranks="${1:-8}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mpicc -O2 -o "$work/yield-cost" yield-cost.c
echo "$(nproc) cores"
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
for burst in 1 5; do
    mpirun "${root[@]}" --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 --mca btl self,vader,tcp -np "$ranks" "$work/yield-cost" "$burst" 200
done
