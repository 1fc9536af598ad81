#!/usr/bin/env bash
# The experiment that shows why the tower partitioner matters (issues 4 §6 and 6 §4), on
# workloads/synthetic-planted.xml, whose label depends only on feature pairs inside 5 hidden groups:
#   1. flat DLRM, trained for real, against a logistic-regression baseline on the same data;
#   2. the learned feature affinity of that flat model, exported;
#   3. `towerplan compare --train`: partitions by every strategy (tp, kmeans, random, greedy,
#      round-robin) and the planted groups themselves, each trained as a DMT model with the
#      workload's compressing dot tower module, with held-out AUC, ARI against the planted groups,
#      balance and the simulated step time on the cluster.
# Every run is seeded; the AUCs are measured, nothing is fitted. Not run by CI (~20-40 min on 2 cores).
#
#   Benchmarks/planted-quality.sh [--steps 4000] [--threads 2] [--epsilon 0.1] [--out DIR]
#
# ε = 0.1 by default: the planted groups themselves are 1.078x the mean tower cost (one feature of
# each cost stratum per group still leaves some spread), so under ε = 0.05 no balanced partition
# can be the planted one and tp trades a little affinity for balance.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=4000 threads=2 epsilon=0.1 out=Benchmarks/results/planted-quality
while [ $# -gt 0 ]; do
    case "$1" in
        --steps) steps="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --epsilon) epsilon="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
swift build -c release --product towerplan >/dev/null
bin="$(swift build -c release --show-bin-path)/towerplan"
workload=workloads/synthetic-planted.xml
mkdir -p "$out"
common=(--workload "$workload" --steps "$steps" --threads "$threads" --quiet)
echo "== flat DLRM ($steps steps), learned affinity exported"
"$bin" train "${common[@]}" --export-embeddings "$out/embeddings.json" --json > "$out/flat.json"
echo "== logistic-regression baseline ($steps steps)"
"$bin" train "${common[@]}" --baseline --json > "$out/baseline.json"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
for name in ("flat", "baseline"):
    r = json.load(open(f"{out}/{name}.json"))
    print(f"  {name:9s} held-out AUC {r['auc']:.4f}  log-loss {r['logloss']:.4f}  {r['samples_per_second']:.0f} samples/s")
PY
echo "== strategies, each trained as DMT ($steps steps)"
"$bin" compare --topology topologies/zionex-a100-128.xml --workload "$workload" --embeddings "$out/embeddings.json" \
    --towers 5 --epsilon "$epsilon" --strategies tp,kmeans,random,greedy,round-robin --train --train-steps "$steps" --threads "$threads" --quiet \
    | tee "$out/compare.txt"
