#!/usr/bin/env bash
# Predicted vs measured step time of multi-process training (issue 5 §4): for each configuration,
# `towerplan calibrate` measures this machine's ranks at the workload's shapes and batch, then
# `towerplan train --predict` simulates the run on that calibrated topology and trains it for real.
# Configurations: flat and SPTT (dmt: one tower per host, the workload's dot tower modules) × 2,
# 4 and 8 ranks on 2 emulated hosts (1, 2 and 4 ranks per host) × batch 512 and 2048 per rank.
# Writes Benchmarks/results/distributed-predict/results.md (the table, the SPTT-over-flat speedups
# measured and predicted, the machine's load) and one JSON summary per run. Asserts nothing.
# With --repeats R every configuration is calibrated and run R times (the rounds interleave the
# configurations, so slow spells of a shared machine spread over all of them); the table gives
# the medians of measured and predicted step times and the range of the R errors.
#
# Usage: sudo bash Benchmarks/distributed-predict.sh [--steps 30] [--uplink 1e9] [--repeats 3] [--quick] [--summarize]
#   --quick: batch 512 only, 2 and 4 ranks (4 configurations).
#   --summarize: no runs; rewrite results.md from the JSON summaries already in the results folder.
# Needs root, ip, tc and unshare (emulated hosts). Run it on a quiet machine: the ranks share
# this machine's cores (8 ranks on 2 cores is 4x oversubscribed: calibration measures rates per
# CPU second and writes how many cores the ranks share, and the simulator shares them), and other
# load skews both sides.
# SCRATCH picks the build folder (default .build).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=30 uplink=1e9 quick=0 repeats=1 summarize=0
while [ $# -gt 0 ]; do
    case "$1" in
        --steps) steps="$2"; shift 2 ;;
        --uplink) uplink="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        --repeats) repeats="$2"; shift 2 ;;
        --summarize) summarize=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "distributed-predict: unknown argument $1" >&2; exit 2 ;;
    esac
done
out=Benchmarks/results/distributed-predict
if [ "$summarize" -eq 0 ]; then
[ "$(id -u)" -eq 0 ] || { echo "distributed-predict: emulated hosts need root" >&2; exit 1; }
scratch="${SCRATCH:-.build}"
swift build -c release --scratch-path "$scratch" >&2
bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/towerplan"
workload=workloads/synthetic-planted.xml
mkdir -p "$out"
rm -f "$out"/*.json
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

perhost=(1 2 4) batches=(512 2048)
[ "$quick" -eq 1 ] && perhost=(1 2) batches=(512)
for round in $(seq 1 "$repeats"); do
for batch in "${batches[@]}"; do
    for per in "${perhost[@]}"; do
        ranks=$((2 * per))
        topology="$work/calibrated-$ranks-$batch.xml"
        echo "round $round of $repeats: calibrating $ranks ranks (2 hosts x $per), batch $batch; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
        "$bin" calibrate --ranks "$ranks" --ranks-per-host "$per" --emulate-hosts --uplink-bits-per-second "$uplink" \
            --workload "$workload" --batch "$batch" -o "$topology"
        for layout in flat dmt; do
            name="$layout-$ranks-ranks-batch-$batch-round-$round"
            load="$(cut -d' ' -f1 /proc/loadavg)"
            "$bin" train --workload "$workload" --layout "$layout" --ranks "$ranks" --ranks-per-host "$per" --emulate-hosts \
                --uplink-bits-per-second "$uplink" --batch "$batch" --steps "$steps" --predict --topology "$topology" --json > "$out/$name.json"
            python3 - "$out/$name.json" "$load" <<'PY'
import json, sys
path, load = sys.argv[1], sys.argv[2]
r = json.load(open(path))
r["load_before"] = float(load)
json.dump(r, open(path, "w"), indent=1, sort_keys=True)
m, p = r["measured_step_seconds"], r["predicted_step_seconds"]
print(f"{r['layout']:>4} {r['ranks']} ranks batch {r['batch_per_rank']:>4}: measured {m*1e3:8.2f} ms, predicted {p*1e3:8.2f} ms, error {100*(p-m)/m:+6.1f}%", file=sys.stderr)
PY
        done
    done
done
done
fi

python3 - "$out" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
configs = {}
for path in glob.glob(os.path.join(out, "*.json")):
    r = json.load(open(path))
    configs.setdefault((r["batch_per_rank"], r["ranks"], r["layout"] != "flat"), []).append(r)
if not configs: sys.exit(f"distributed-predict: no run summaries in {out}")
any_run = next(iter(configs.values()))[0]
steps, uplink, repeats = len(any_run["report"]["losses"]), any_run["emulated_uplink_bits_per_second"], max(len(r) for r in configs.values())
lines = [
    "# Predicted vs measured step time, multi-process training on emulated hosts",
    "",
    f"`sudo bash Benchmarks/distributed-predict.sh --steps {steps} --repeats {repeats}`: workloads/synthetic-planted.xml on 2 emulated hosts "
    f"({uplink/1e9:g} Gb/s uplinks), step time of the slowest rank, mean over the steps after the first; "
    "predicted by `towerplan train --predict` on the topology `towerplan calibrate --workload … --batch B` wrote for the same ranks "
    f"(calibrated anew in each of the {repeats} rounds). Step times are medians over the rounds; the error is the medians', "
    "with the range of the rounds' own errors beside it.",
    "",
    "| layout | ranks (hosts × per host) | batch per rank | measured step | predicted step | error | error range over rounds | samples/s | load average before |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|",
]
errors, medians = [], {}
for key in sorted(configs):
    rounds = configs[key]
    m = statistics.median(r["measured_step_seconds"] for r in rounds)
    p = statistics.median(r["predicted_step_seconds"] for r in rounds)
    own = [100 * (r["predicted_step_seconds"] - r["measured_step_seconds"]) / r["measured_step_seconds"] for r in rounds]
    first = rounds[0]
    medians[(first["ranks"], first["batch_per_rank"], first["layout"])] = (m, p)
    errors.append(abs(p - m) / m)
    lines.append(f"| {'SPTT (dmt)' if first['layout'] == 'dmt' else 'flat'} | {first['ranks']} (2 × {first['ranks_per_host']}) | {first['batch_per_rank']} | "
                 f"{m*1e3:.2f} ms | {p*1e3:.2f} ms | {100*(p-m)/m:+.1f}% | {min(own):+.1f} … {max(own):+.1f}% | "
                 f"{statistics.median(r['samples_per_second'] for r in rounds):.0f} | {max(r['load_before'] for r in rounds):.2f} |")
lines += ["", f"Within 15%: {sum(e <= 0.15 for e in errors)} of {len(errors)}; largest |error| {100*max(errors):.1f}%, mean {100*sum(errors)/len(errors):.1f}%.", "",
          "SPTT (dot tower modules, one tower per host) over flat, from the medians:", "",
          "| ranks | batch per rank | measured speedup | predicted speedup |", "|---|---|---:|---:|"]
for (ranks, batch, layout), (m, p) in sorted(medians.items()):
    if layout != "flat" or (ranks, batch, "dmt") not in medians: continue
    dm, dp = medians[(ranks, batch, "dmt")]
    lines.append(f"| {ranks} | {batch} | {m/dm:.2f}× | {p/dp:.2f}× |")
open(os.path.join(out, "results.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
