#!/usr/bin/env bash
# Chaos for the ledger: two gateway replicas on PostgreSQL, an upstream injecting faults, and a
# replica killed with -9 at random moments under load; then counts what was answered and what
# reached the ledger (see scripts/chaos.py for the settings).
#
#   REQUESTS=3000 CLIENTS=8 RATE=50 KILL_EVERY=2.5 FAULTS=0.05 scripts/chaos.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v psql >/dev/null || { echo "chaos.sh needs psql and a PostgreSQL server (docs/services.md)" >&2; exit 1; }
cargo build --release --quiet -p aimos-cli -p aimos-gateway --examples --bins
exec python3 scripts/chaos.py
