#!/usr/bin/env bash
# Side by side: towerplan's tp partitioner against METIS (through pymetis, from PyPI) on the same
# planted affinity graphs, same tower count, same balance allowance (ufactor = ε·1000).
# Benchmark only: pymetis lives in Benchmarks/.venv (gitignored) and is never a towerplan dependency.
#   bash Benchmarks/metis-compare.sh
# Prints, per graph, cut weight, imbalance (max/mean part cost) and time of both, and the ratios
# ours/METIS (cut below 1 is better than METIS, time below 1 is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=Benchmarks/.venv
if [[ ! -x $venv/bin/python ]]; then python3 -m venv "$venv"; fi
"$venv/bin/python" -c 'import pymetis' 2>/dev/null || "$venv/bin/pip" install --quiet pymetis
graphs=$(mktemp -d)
trap 'rm -rf "$graphs"' EXIT
swift run -c release --scratch-path "${SCRATCH:-.build}" towerplan-bench partition --dump "$graphs"
"$venv/bin/python" - "$graphs" <<'PY'
import glob, json, sys, time
import pymetis

def read_metis(path):
    """METIS graph file with vertex and edge weights (fmt 011) → CSR arrays."""
    with open(path) as f:
        n, _, fmt = f.readline().split()
        assert fmt == "011", "expected vertex and edge weights"
        xadj, adjncy, eweights, vweights = [0], [], [], []
        for _ in range(int(n)):
            fields = list(map(int, f.readline().split()))
            vweights.append(fields[0])
            adjncy += [v - 1 for v in fields[1::2]]
            eweights += fields[2::2]
            xadj.append(len(adjncy))
    return xadj, adjncy, eweights, vweights

def score(membership, parts, xadj, adjncy, eweights, vweights):
    cut = sum(eweights[e] for v in range(len(vweights)) for e in range(xadj[v], xadj[v + 1])
              if membership[adjncy[e]] != membership[v]) / 2
    load = [0] * parts
    for v, p in enumerate(membership):
        load[p] += vweights[v]
    return cut, max(load) / (sum(load) / parts)

print()
print("graph                 method           time (s)    cut weight  imbalance   ours/METIS: cut   imbalance   time")
for stem in sorted(glob.glob(sys.argv[1] + "/*.graph"), key=lambda path: int(path.split("-")[-2])):
    ours = json.load(open(stem[:-6] + ".towerplan.json"))
    xadj, adjncy, eweights, vweights = read_metis(stem)
    parts = ours["towers"]
    name = f"{ours['features']} → {parts}"
    print(f"{name:20}  towerplan tp  {ours['seconds']:11.4f}  {ours['cut']:12.0f}  {ours['imbalance']:9.4f}")
    for recursive in (False, True):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            _, membership = pymetis.part_graph(
                parts, pymetis.CSRAdjacency(xadj, adjncy), vweights=vweights, eweights=eweights, recursive=recursive,
                options=pymetis.Options(ufactor=round(ours["epsilon"] * 1000), seed=1))
            times.append(time.perf_counter() - start)
        seconds = sorted(times)[1]
        cut, imbalance = score(membership, parts, xadj, adjncy, eweights, vweights)
        method = "METIS recursive" if recursive else "METIS k-way"
        print(f"{name:20}  {method:15}{seconds:9.4f}  {cut:12.0f}  {imbalance:9.4f}   "
              f"{ours['cut'] / cut:15.3f}  {ours['imbalance'] / imbalance:10.3f}  {ours['seconds'] / seconds:5.2f}")
PY
