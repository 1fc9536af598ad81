#!/usr/bin/env bash
# Installs what the tests need (idempotent) and runs the whole test suite.
# TOWERPLAN_SLOW_TESTS=1 adds the long suites (.ci/run sets it); TOWERPLAN_FUZZ_ITERATIONS raises
# the fuzz test's iteration count.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh none
swift test
