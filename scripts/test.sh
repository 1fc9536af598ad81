#!/usr/bin/env bash
# Installs what the tests need (idempotent) and runs the whole test suite.
# TOWERPLAN_SLOW_TESTS=1 adds the long suites (.ci/run sets it); TOWERPLAN_FUZZ_ITERATIONS raises
# the fuzz test's iteration count.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh none
# Build every product first: the CLI and MPI tests run the towerplan and towerplan-mpi-worker binaries.
swift build --build-tests
swift test --skip-build
