#!/usr/bin/env bash
# How long each dashboard page takes to draw on the server over a large ledger, on SQLite and
# on PostgreSQL: RUNS runs and INSIGHTS insights are written into a fresh store, then each page
# is drawn REPS times in process; the whole is repeated ROUNDS times on the same store.
#
#   scripts/bench-dashboard.sh                     # 100,000 runs, 10,000 insights, 3 rounds
#   PG=postgres://root@127.0.0.1:5432/test scripts/bench-dashboard.sh
#
# PG names a server whose database `aimos_dashboard_bench` is dropped and made again; without
# a reachable server only SQLite is measured.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-100000}"
INSIGHTS="${INSIGHTS:-10000}"
REPS="${REPS:-5}"
ROUNDS="${ROUNDS:-3}"
PG="${PG:-postgres://root@127.0.0.1:5432/test}"

cargo build --release --quiet -p aimos-gateway --example dashboard_bench
bench=./target/release/examples/dashboard_bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) RUNS=$RUNS INSIGHTS=$INSIGHTS REPS=$REPS ROUNDS=$ROUNDS"
echo "## SQLite"
for round in $(seq "$ROUNDS"); do
  echo "### round $round"
  "$bench" "$work/aimos.db" "$RUNS" "$INSIGHTS" "$REPS" 2>&1
done
if command -v psql >/dev/null && psql "$PG" -qc 'SELECT 1' >/dev/null 2>&1; then
  psql "$PG" -qc 'DROP DATABASE IF EXISTS aimos_dashboard_bench' -c 'CREATE DATABASE aimos_dashboard_bench'
  url="${PG%/*}/aimos_dashboard_bench"
  echo "## PostgreSQL"
  for round in $(seq "$ROUNDS"); do
    echo "### round $round"
    "$bench" "$url" "$RUNS" "$INSIGHTS" "$REPS" 2>&1
  done
  psql "$PG" -qc 'DROP DATABASE aimos_dashboard_bench'
else
  echo "## PostgreSQL: not reachable at $PG, not measured"
fi
