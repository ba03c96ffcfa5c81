#!/usr/bin/env bash
# Constrained output ends: every pulled catalog model answers three prompts under a schema with
# a string, a number and an array of strings, at temperature 0 and at most 64 tokens, with the
# strings unbounded and then bounded (maxLength 24). Prints one line per answer: whether its
# JSON was complete, and where it was cut if not.
#
#   scripts/constrained-check.sh [MODEL…]      (default: every pulled catalog model)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p aimos-cli
aimos=./target/release/aimos
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  mapfile -t models < <($aimos models list --json | python3 -c 'import json,sys; print("\n".join(m["name"] for m in json.load(sys.stdin) if m["present"]))')
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
echo '{"type":"object","properties":{"colour":{"type":"string"},"confidence":{"type":"number"},"shades":{"type":"array","items":{"type":"string"},"maxItems":3}},"required":["colour","confidence","shades"]}' > "$work/unbounded.json"
echo '{"type":"object","properties":{"colour":{"type":"string","maxLength":24},"confidence":{"type":"number"},"shades":{"type":"array","items":{"type":"string","maxLength":24},"maxItems":3}},"required":["colour","confidence","shades"]}' > "$work/bounded.json"
prompts=("What colour is the sky? Say how sure you are." "Name a colour and its shades." "Pick a colour for a bank's logo and rate your confidence from 0 to 100.")
complete=0; total=0
for model in "${models[@]}"; do
  for schema in unbounded bounded; do
    for prompt in "${prompts[@]}"; do
      total=$((total + 1))
      if out=$($aimos chat --model "$model" --temperature 0 --max-tokens 64 --json-schema "$work/$schema.json" "$prompt" 2>&1); then
        complete=$((complete + 1)); verdict="complete"
      else
        verdict="cut: $(echo "$out" | grep -o 'cut inside `[^`]*`' || echo "$out" | tail -n1)"
      fi
      printf '%-20s %-9s %-60s %s\n' "$model" "$schema" "$verdict" "$(echo "$out" | tr '\n' ' ' | cut -c1-120)"
    done
  done
done
echo "$complete of $total answers complete within 64 tokens"
