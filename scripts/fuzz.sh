#!/usr/bin/env bash
# The parsers of outside input under many more fuzz cases than CI runs, with a fresh seed:
# SSE, OpenAI and Anthropic answers (whole and streamed), insight JSON, JSON Schemas and the
# grammar converter, the schema check, edit blocks, reports and tracebacks, gateway request
# bodies, config files and suite files. A crash saves its input under target/fuzz-crashes.
#
#   CASES=75000 SEED=$RANDOM scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CASES="${CASES:-75000}"
SEED="${SEED:-$RANDOM$RANDOM}"
targets=$(grep -rhoE 'fuzz::run\("[a-z-]+"|^\s+run\("[a-z-]+"' crates/*/src | grep -oE '"[a-z-]+"' | grep -v '"demo"' | sort -u)
count=$(echo "$targets" | wc -l)
echo "fuzzing $count targets, $CASES cases each (seed $SEED): $(echo $targets | tr -d '"')"
AIMOS_FUZZ_CASES="$CASES" AIMOS_FUZZ_SEED="$SEED" \
  cargo nextest run --workspace --release --no-fail-fast -E 'test(/_panic$/)'
echo "$((count * CASES)) cases in all, seed $SEED: no panic"
