#!/usr/bin/env bash
# Creates (idempotently) the virtual environment that runs the PyTorch side of
# Benchmarks/train-vs-pytorch.sh: Benchmarks/.venv with a CPU-only torch 2.x.
#
# Which torch wheel, in order of preference:
#   1. a CPU-only wheel already on this machine (torch-2.*+cpu-*.whl in one of pip's
#      find-links folders, $PIP_FIND_LINKS or /opt/wheels) -- ~190 MB, no CUDA;
#   2. the PyTorch CPU index (download.pytorch.org/whl/cpu) -- the same CPU-only wheel;
#      tried with a short timeout, since many sandboxes cannot reach it;
#   3. plain PyPI. The Linux x86_64 wheel there is the CUDA build: it pulls ~2.5-3 GB of
#      nvidia-* wheels (about 5 GB on disk once installed), and it does not import without
#      them (torch/__init__.py preloads libcudart & co. when libtorch_global_deps.so fails
#      to load), so `--no-deps` is not a way out. It runs on CPU just the same; only the
#      install is heavy. Set TOWERPLAN_TORCH_SPEC to pin a version (default "torch>=2,<3").
#
# The venv is reused when it already imports torch 2.x. Delete Benchmarks/.venv to rebuild.
# Prints the chosen source and the time taken on stderr; prints nothing on stdout.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${TOWERPLAN_BENCH_VENV:-$(cd "$HERE/.." && pwd)/.venv}"
PY="${PYTHON:-python3}"
SPEC="${TOWERPLAN_TORCH_SPEC:-torch>=2,<3}"

log() { echo "[setup-venv] $*" >&2; }

torch_ok() {
    [ -x "$VENV/bin/python" ] &&
        "$VENV/bin/python" -c 'import sys, torch; sys.exit(0 if int(torch.__version__.split(".")[0]) == 2 else 1)' \
            >/dev/null 2>&1
}

if torch_ok; then
    exit 0
fi

start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV with $("$PY" --version 2>&1)"
    "$PY" -m venv "$VENV"
fi
VPIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

# 1. a local CPU-only wheel matching this interpreter
pytag="cp$("$VENV/bin/python" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"
local_wheel=""
IFS=' ' read -r -a dirs <<<"${PIP_FIND_LINKS:-} /opt/wheels"
for d in "${dirs[@]}"; do
    [ -d "$d" ] || continue
    w=$(ls -1 "$d"/torch-2.*+cpu-"$pytag"-"$pytag"-*linux*_x86_64.whl 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$w" ]; then local_wheel="$w"; break; fi
done

if [ -n "$local_wheel" ]; then
    log "installing local CPU wheel $local_wheel (its dependencies from PyPI)"
    "${VPIP[@]}" install --quiet "$local_wheel"
elif log "trying the PyTorch CPU index" &&
    "${VPIP[@]}" install --quiet --timeout 15 --retries 0 \
        --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple "$SPEC"; then
    log "installed from the PyTorch CPU index"
else
    log "CPU index unreachable: installing the PyPI wheel with its CUDA libraries (~3 GB download)"
    "${VPIP[@]}" install --quiet "$SPEC"
fi

if ! torch_ok; then
    log "torch 2.x still does not import from $VENV"
    exit 1
fi
log "ready: torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null) in $(( $(date +%s) - start )) s"
