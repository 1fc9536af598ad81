#!/usr/bin/env bash
# Side-by-side DLRM training benchmark for issue 4: towerplan's Swift CPU trainer vs PyTorch 2.x
# CPU eager on the same model, batch, optimizer (SGD lr 0.1, sparse table updates) and threads.
# Target: Swift samples/s >= 1.5x PyTorch's, and Swift peak RSS <= PyTorch's.
#
#   Benchmarks/train-vs-pytorch.sh [--rounds 3] [--steps 100] [--warmup 20] [--batch 2048]
#                                  [--threads 2] [--seed 0] [--no-swift-build] [--swift-bin PATH]
#                                  [--pytorch-only] [--wait-idle SECONDS]
#                                  [--openblas-coretype auto|inherit|NAME]
#
# - PyTorch side: Benchmarks/pytorch/dlrm_bench.py in the venv Benchmarks/.venv, which
#   Benchmarks/pytorch/setup-venv.sh creates on first use (CPU-only torch wheel when one can be
#   had; see that script for where it comes from).
# - Swift side: the command in SWIFT_TRAIN_ARGS below, on the release build.
# - The two alternate, round by round and swapping which goes first (torch, swift | swift, torch |
#   ...), so that drift and noise on the machine hit both. Before each round the script samples
#   how busy the CPUs already are (1 s of /proc/stat), and after each run how many CPUs other
#   processes kept busy during it: the figures mean little when those are not ~0 (PyTorch's
#   OpenMP threads in particular slow down several-fold when a core is shared). --wait-idle S
#   waits up to S seconds before each run for the other load to drop under 0.25 CPU.
# - OpenBLAS kernels of the Swift side (--openblas-coretype): `auto` (default) runs it without
#   OPENBLAS_CORETYPE, so OpenBLAS picks kernels for this CPU as it does by default — as MKL does
#   for PyTorch; `inherit` keeps whatever the environment sets (some sandboxes pin Haswell, the
#   AVX2 kernels, on AVX-512 CPUs: 1.3-1.5x slower GEMMs); a NAME sets it. The kernels used are
#   printed (the trainer reports them as blas_kernels).
# - Peak memory of both sides is measured the same way, by /usr/bin/time -v (max RSS of the
#   process); PyTorch's own getrusage figure is shown beside it.
# - If the Swift side cannot be built or run, or prints no samples_per_second, the script says
#   so and still prints the PyTorch side.
# Not run by CI. Needs network access the first time (PyPI) to fill the venv.
set -uo pipefail

# ===== Swift side: the one place to edit while the trainer's CLI settles =======================
# {steps} {batch} {threads} {warmup} {seed} are filled in. Equivalent to
#   swift run -c release towerplan <SWIFT_TRAIN_ARGS>
# except that the script builds once (swift build -c release --product $SWIFT_PRODUCT) and then
# runs the built binary itself, so /usr/bin/time measures the trainer and not swift-run or the
# compiler. The trainer must print JSON with a "samples_per_second" key on stdout (the last object
# that has it, at any depth, counts; an object must start at the beginning of a line).
SWIFT_PRODUCT=towerplan
SWIFT_TRAIN_ARGS='train --workload workloads/dlrm-kaggle-bench.xml --steps {steps} --batch {batch} --threads {threads} --json --benchmark'
# ================================================================================================

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT" || exit 1

ROUNDS=3 STEPS=100 WARMUP=20 BATCH=2048 THREADS=2 SEED=0
SWIFT_BUILD=1 SWIFT_BIN="" PYTORCH_ONLY=0 WAIT_IDLE=0 CORETYPE=auto
SWIFT_TIMEOUT="${SWIFT_TIMEOUT:-1800}"
usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --steps) STEPS="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --batch) BATCH="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --seed) SEED="$2"; shift 2 ;;
        --no-swift-build) SWIFT_BUILD=0; shift ;;
        --swift-bin) SWIFT_BIN="$2"; SWIFT_BUILD=0; shift 2 ;;
        --pytorch-only) PYTORCH_ONLY=1; shift ;;
        --wait-idle) WAIT_IDLE="$2"; shift 2 ;;
        --openblas-coretype) CORETYPE="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

say() { echo "== $*" >&2; }

# --- tools -----------------------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
    say "installing GNU time (apt)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time; } >/dev/null ||
        { echo "cannot install /usr/bin/time" >&2; exit 1; }
fi
"$HERE/pytorch/setup-venv.sh" || { echo "the PyTorch venv could not be set up" >&2; exit 1; }
VPY="$ROOT/Benchmarks/.venv/bin/python"

WORK="$(mktemp -d -t train-vs-pytorch.XXXXXX)"
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# --- Swift side: build once ------------------------------------------------------------------
SWIFT_OK=1
SWIFT_WHY=""
if [ "$PYTORCH_ONLY" = 1 ]; then
    SWIFT_OK=0; SWIFT_WHY="skipped (--pytorch-only)"
elif [ -n "$SWIFT_BIN" ]; then
    :
elif [ "$SWIFT_BUILD" = 1 ]; then
    say "building the Swift trainer (swift build -c release --product $SWIFT_PRODUCT)"
    if swift build -c release --product "$SWIFT_PRODUCT" >"$WORK/swift-build.log" 2>&1; then
        SWIFT_BIN="$(swift build -c release --show-bin-path)/$SWIFT_PRODUCT"
    else
        SWIFT_OK=0; SWIFT_WHY="swift build failed (log: $WORK/swift-build.log)"
    fi
else
    SWIFT_BIN="$ROOT/.build/release/$SWIFT_PRODUCT"
fi
if [ "$SWIFT_OK" = 1 ] && [ ! -x "$SWIFT_BIN" ]; then
    SWIFT_OK=0; SWIFT_WHY="no executable at $SWIFT_BIN"
fi

fill() {
    local s="$1"
    s="${s//\{steps\}/$STEPS}"; s="${s//\{batch\}/$BATCH}"; s="${s//\{threads\}/$THREADS}"
    s="${s//\{warmup\}/$WARMUP}"; s="${s//\{seed\}/$SEED}"
    echo "$s"
}
read -r -a SWIFT_ARGS <<<"$(fill "$SWIFT_TRAIN_ARGS")"

# How many CPUs other processes keep busy right now (1 s sample of /proc/stat).
busy_cpus() {
    local a b
    read -r -a a < <(grep '^cpu ' /proc/stat)
    sleep 1
    read -r -a b < <(grep '^cpu ' /proc/stat)
    local i tot=0 idle
    for i in 1 2 3 4 5 6 7 8; do tot=$(( tot + b[i] - a[i] )); done
    idle=$(( b[4] - a[4] + b[5] - a[5] ))
    awk -v t="$tot" -v i="$idle" -v n="$(getconf _NPROCESSORS_ONLN)" 'BEGIN { printf "%.2f", (t > 0 ? (t - i) / t * n : 0) }'
}

# With --wait-idle S: before a run, wait up to S seconds for the other load to fall under 0.25 CPU.
# Echoes the last busy_cpus sample.
settle() {
    local b deadline=$(( $(date +%s) + WAIT_IDLE ))
    b="$(busy_cpus)"
    while [ "$WAIT_IDLE" -gt 0 ] && awk -v b="$b" 'BEGIN { exit !(b >= 0.25) }' && [ "$(date +%s)" -lt "$deadline" ]; do
        sleep 4
        b="$(busy_cpus)"
    done
    echo "$b"
}

# Appends one JSON line to $RESULTS: {"side", "round", "ok", "samples_per_second", "time_maxrss_mib", ...}
record() { # side round rc stdout timefile busy statfile
    "$VPY" - "$@" >>"$RESULTS" <<'PY'
import json, os, sys
side, rnd, rc, out, timef, busy, statf = sys.argv[1:8]
rec = {"side": side, "round": int(rnd), "rc": int(rc), "busy_cpus_before": float(busy)}
def find(o):
    if isinstance(o, dict):
        if "samples_per_second" in o:
            return o
        for v in o.values():
            r = find(v)
            if r is not None:
                return r
    elif isinstance(o, list):
        for v in o:
            r = find(v)
            if r is not None:
                return r
    return None
text = open(out, errors="replace").read()
found = None
# The last JSON object on stdout that has the key: try from every line that opens with "{",
# last first, so that pretty-printed JSON and log lines before it both work.
starts = [i for i in range(len(text)) if text[i] == "{" and (i == 0 or text[i - 1] == "\n")]
for i in reversed(starts):
    try:
        found = find(json.JSONDecoder().raw_decode(text, i)[0])
    except ValueError:
        continue
    if found is not None:
        break
rss = None
times = {}
try:
    for line in open(timef):
        key, _, val = line.strip().rpartition(": ")
        times[key] = val
    rss = int(times["Maximum resident set size (kbytes)"]) / 1024.0
except (OSError, KeyError, ValueError):
    pass
# CPUs that other processes kept busy during the run: all busy CPU time from /proc/stat minus
# the run's own user+sys time (from /usr/bin/time), over the run's wall time.
try:
    a, b = [[int(x) for x in l.split()[1:9]] for l in open(statf) if l.startswith("cpu ")][:2]
    busy_s = (sum(b) - sum(a) - (b[3] - a[3]) - (b[4] - a[4])) / os.sysconf("SC_CLK_TCK")
    own_s = float(times["User time (seconds)"]) + float(times["System time (seconds)"])
    wall = 0.0
    for part in times["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":"):
        wall = wall * 60 + float(part)
    rec["wall_seconds"] = round(wall, 2)
    rec["own_cpus"] = round(own_s / wall, 2)
    rec["other_cpus_during"] = round(max(0.0, busy_s - own_s) / wall, 2)
except (OSError, KeyError, ValueError, ZeroDivisionError):
    pass
rec["time_maxrss_mib"] = rss
rec["ok"] = rec["rc"] == 0 and found is not None
if found is not None:
    rec["samples_per_second"] = float(found["samples_per_second"])
    rec["report"] = found
print(json.dumps(rec))
PY
}

run_pytorch() { # round
    local r="$1" busy
    busy="$(settle)"
    say "round $r: pytorch (other load before: $busy CPUs busy)"
    grep '^cpu ' /proc/stat >"$WORK/pytorch-$r.stat"
    /usr/bin/time -v -o "$WORK/pytorch-$r.time" \
        "$VPY" "$HERE/pytorch/dlrm_bench.py" --threads "$THREADS" --batch "$BATCH" \
        --steps "$STEPS" --warmup "$WARMUP" --seed "$SEED" \
        >"$WORK/pytorch-$r.out" 2>"$WORK/pytorch-$r.err"
    local rc=$?
    grep '^cpu ' /proc/stat >>"$WORK/pytorch-$r.stat"
    record pytorch "$r" "$rc" "$WORK/pytorch-$r.out" "$WORK/pytorch-$r.time" "$busy" "$WORK/pytorch-$r.stat"
    if [ "$rc" != 0 ]; then
        echo "pytorch run failed (rc $rc):" >&2; tail -n 20 "$WORK/pytorch-$r.err" >&2
    fi
}

run_swift() { # round
    local r="$1" busy
    [ "$SWIFT_OK" = 1 ] || return 0
    busy="$(settle)"
    say "round $r: swift (other load before: $busy CPUs busy)"
    grep '^cpu ' /proc/stat >"$WORK/swift-$r.stat"
    local blas=()
    case "$CORETYPE" in
        auto) blas=(env -u OPENBLAS_CORETYPE) ;;
        inherit) ;;
        *) blas=(env "OPENBLAS_CORETYPE=$CORETYPE") ;;
    esac
    timeout "$SWIFT_TIMEOUT" "${blas[@]}" /usr/bin/time -v -o "$WORK/swift-$r.time" \
        "$SWIFT_BIN" "${SWIFT_ARGS[@]}" >"$WORK/swift-$r.out" 2>"$WORK/swift-$r.err"
    local rc=$?
    grep '^cpu ' /proc/stat >>"$WORK/swift-$r.stat"
    record swift "$r" "$rc" "$WORK/swift-$r.out" "$WORK/swift-$r.time" "$busy" "$WORK/swift-$r.stat"
    if ! tail -n 1 "$RESULTS" | grep -q '"ok": true'; then
        SWIFT_OK=0
        SWIFT_WHY="'$(basename "$SWIFT_BIN") ${SWIFT_ARGS[*]}' exited $rc without a samples_per_second (stderr: $WORK/swift-$r.err)"
        { echo "swift side not available: $SWIFT_WHY"; tail -n 5 "$WORK/swift-$r.err"; } >&2
    fi
}

say "batch $BATCH, threads $THREADS, $WARMUP warm-up + $STEPS timed steps, $ROUNDS rounds; raw outputs in $WORK"
for r in $(seq 1 "$ROUNDS"); do
    if [ $(( r % 2 )) = 1 ]; then run_pytorch "$r"; run_swift "$r"; else run_swift "$r"; run_pytorch "$r"; fi
done

# --- table -----------------------------------------------------------------------------------
"$VPY" - "$RESULTS" "$SWIFT_OK" "$SWIFT_WHY" "$BATCH" "$THREADS" "$STEPS" <<'PY'
import json, statistics, sys
path, swift_ok, swift_why, batch, threads, steps = sys.argv[1:7]
recs = [json.loads(l) for l in open(path) if l.strip()]
rounds = sorted({r["round"] for r in recs})
by = {(r["side"], r["round"]): r for r in recs}
def cell(side, rnd, key, fmt):
    r = by.get((side, rnd))
    if r is None or not r.get("ok") or r.get(key) is None:
        return "-"
    return fmt.format(r[key])
torch_report = next((r["report"] for r in recs if r["side"] == "pytorch" and r.get("ok")), {})
swift_kernels = next((r["report"].get("blas_kernels", "?") for r in recs if r["side"] == "swift" and r.get("ok")), "?")
print()
print(f"DLRM training, batch {batch}, {threads} threads, {steps} timed steps per run"
      f" (torch {torch_report.get('torch_version', '?')}, BLAS {torch_report.get('blas_info', '?')}; swift: OpenBLAS {swift_kernels} kernels)")
hdr = f"{'round':>6} | {'pytorch samples/s':>17} | {'swift samples/s':>15} | {'pytorch RSS MiB':>15} | {'swift RSS MiB':>13} | other CPUs busy: before/during torch, swift"
print(hdr)
print("-" * len(hdr))
for rnd in rounds:
    def load(s):
        r = by.get((s, rnd))
        if r is None:
            return "-"
        return f"{r['busy_cpus_before']:.2f}/{r['other_cpus_during']:.2f}" if "other_cpus_during" in r else f"{r['busy_cpus_before']:.2f}/?"
    busy = ", ".join(load(s) for s in ("pytorch", "swift"))
    print(f"{rnd:>6} | {cell('pytorch', rnd, 'samples_per_second', '{:.1f}'):>17} | "
          f"{cell('swift', rnd, 'samples_per_second', '{:.1f}'):>15} | "
          f"{cell('pytorch', rnd, 'time_maxrss_mib', '{:.1f}'):>15} | "
          f"{cell('swift', rnd, 'time_maxrss_mib', '{:.1f}'):>13} | {busy}")
QUIET = 0.25  # other CPUs busy during a run, at most, for the run to count as quiet
def quiet(r):
    return r.get("other_cpus_during", 0.0) <= QUIET
def med(side, key, only_quiet=False):
    vals = [r[key] for r in recs if r["side"] == side and r.get("ok") and r.get(key) is not None
            and (quiet(r) or not only_quiet)]
    return statistics.median(vals) if vals else None
f = lambda v, p=1: "-" if v is None else f"{v:.{p}f}"
tp, sp = med("pytorch", "samples_per_second"), med("swift", "samples_per_second")
tm, sm = med("pytorch", "time_maxrss_mib"), med("swift", "time_maxrss_mib")
print("-" * len(hdr))
print(f"{'median':>6} | {f(tp):>17} | {f(sp):>15} | {f(tm):>15} | {f(sm):>13} |")
qtp, qsp = med("pytorch", "samples_per_second", True), med("swift", "samples_per_second", True)
noisy = [f"{r['side']} {r['round']} ({r['other_cpus_during']:.2f})" for r in recs if r.get("ok") and not quiet(r)]
if noisy:
    print(f"{'quiet':>6} | {f(qtp):>17} | {f(qsp):>15} |  (median of the runs that had the CPUs to themselves)")
self_rss = [r["report"]["peak_rss_mib"] for r in recs if r["side"] == "pytorch" and r.get("ok")]
if self_rss:
    print(f"pytorch peak RSS by its own getrusage: median {statistics.median(self_rss):.1f} MiB")
if noisy and qsp is not None and qtp:
    tp, sp, basis = qtp, qsp, "quiet runs only"
elif noisy:
    basis = "all runs, contended: no verdict"
else:
    basis = "all runs"
if sp is not None and tp:
    ok = "meets" if sp / tp >= 1.5 else "misses"
    print(f"throughput swift/pytorch: {sp / tp:.2f}x ({ok} the 1.5x target; {basis})")
if sm is not None and tm:
    ok = "meets" if sm <= tm else "misses"
    print(f"peak RSS swift/pytorch:   {sm / tm:.2f}x ({ok} the <= 1x target)")
if noisy:
    n_ok = sum(1 for r in recs if r.get("ok"))
    print(f"WARNING: other processes kept more than {QUIET} CPU busy during {len(noisy)} of {n_ok} runs: "
          + ", ".join(noisy) + ". With cores shared, samples/s swing several-fold (PyTorch's OpenMP threads"
          " especially); the throughput ratio uses the quiet runs where both sides have one."
          " Rerun on a quiet machine (--wait-idle helps).")
if swift_ok != "1":
    print(f"swift side not available: {swift_why}")
PY
