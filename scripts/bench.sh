#!/usr/bin/env bash
# Runs the benchmarks of the release build and prints their figures (docs/PERFORMANCE.md).
set -euo pipefail
cd "$(dirname "$0")/.."
build/release/bench/issue_bench --benchmark_counters_tabular=true "$@"
