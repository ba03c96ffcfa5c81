#!/usr/bin/env bash
# What an MCP tool call adds to the pipeline's own work: `consult` through the protocol over a
# child process's stdin and stdout, minus the run's own time, with models that answer at once.
# Runs the measurement RUNS times; quote the median and the spread of the p99s.
#
#   CALLS=2000 RUNS=3 scripts/bench-mcp.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CALLS="${CALLS:-2000}"
RUNS="${RUNS:-3}"
cargo build --release --quiet -p aimos-mcp --example overhead
for run in $(seq "$RUNS"); do
  echo "run $run"
  ./target/release/examples/overhead "$CALLS"
done
