#!/usr/bin/env bash
# The main job: installs and builds (idempotent), then runs `towerplan plan` on the defaults —
# the Grand Teton 512-GPU cluster and workloads/prod-128.xml, feature affinity learned by a short
# real training of the workload's CPU proxy, TP partitions, flat against the best DMT plan — and
# writes the report to reports/grand-teton-h100-512-prod-128/ (report.html, report.md, charts,
# plan.json, partition.json, embeddings.json). Then it runs the `simulate` commands the plan
# printed and checks that they give the report's step times.
# Extra arguments go to `towerplan plan` (e.g. --quiet, --learn-seconds 20).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
bin="$(swift build -c release --show-bin-path)/towerplan"
out="reports/grand-teton-h100-512-prod-128"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

"$bin" plan --output "$out" "$@" | tee "$log"

echo
echo "checking the report against \`towerplan simulate\`:"
sed -n 's/^  towerplan simulate /simulate /p' "$log" | while read -r arguments; do
    step="$(eval "\"$bin\" $arguments" | sed -n 's/^step time *//p')"
    if grep -qF "**$step**" "$out/report.md"; then
        echo "  $step  towerplan $arguments"
    else
        echo "main-job: towerplan $arguments gives $step, which $out/report.md does not show" >&2
        exit 1
    fi
done
