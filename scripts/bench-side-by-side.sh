#!/usr/bin/env bash
# Two aimos processes computing at once, against one alone.
#
# Each run is `aimos run --strategy cheap` with the embedded smollm2-135m on a four-line file,
# writing its full answer (--max-tokens, default 256). The script times REPS runs alone, then
# REPS pairs started together, and prints each time and the ratio of the pairs' median (the
# later of the two to finish) to the median run alone. The goal is a ratio of at most 2.2:
# processes that take turns on the machine's cores (aimos's compute lock) finish two runs in
# about twice the time of one, where two processes spinning side by side take many times more.
#
#   REPS=3 scripts/bench-side-by-side.sh
#   AIMOS_COMPUTE_LOCK=off REPS=1 scripts/bench-side-by-side.sh   # without the lock
#
# Run it on an otherwise idle machine.
set -euo pipefail

AIMOS=$(realpath "${AIMOS:-./target/release/aimos}")
REPS=${REPS:-3}
MAX_TOKENS=${MAX_TOKENS:-256}
MODEL=${MODEL:-smollm2-135m}

[[ -x "$AIMOS" ]] || { echo "no aimos binary at $AIMOS: run cargo build --release first" >&2; exit 1; }
"$AIMOS" models pull "$MODEL" >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'def add(a, b):\n    """Returns the sum of a and b."""\n    return a - b\n\n' > "$work/calc.py"

# The context by a relative path, so that the temporary folder's name stays out of the prompt
# and every run (of every invocation) gets the same greedy answer.
one_run() {
  (cd "$work" && "$AIMOS" run "Why does add(2, 3) return -1, and what is the fix?" --context calc.py \
    --strategy cheap --smart "$MODEL" --cheap "$MODEL" --max-tokens "$MAX_TOKENS" \
    --store "$1.db" >/dev/null)
}

seconds() { date +%s.%N; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { print a - b }'; }
over() { awk -v a="$1" -v b="$2" 'BEGIN { print a / b }'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

alone=()
for i in $(seq "$REPS"); do
  t0=$(seconds); one_run "alone-$i"; t1=$(seconds)
  alone+=("$(minus "$t1" "$t0")")
  printf 'alone %d: %.1f s\n' "$i" "${alone[-1]}"
done

pairs=()
for i in $(seq "$REPS"); do
  t0=$(seconds)
  one_run "pair-$i-a" & a=$!
  one_run "pair-$i-b" & b=$!
  wait "$a"; wait "$b"
  t1=$(seconds)
  pairs+=("$(minus "$t1" "$t0")")
  printf 'pair  %d: %.1f s (both finished)\n' "$i" "${pairs[-1]}"
done

m_alone=$(printf '%s\n' "${alone[@]}" | median)
m_pair=$(printf '%s\n' "${pairs[@]}" | median)
printf 'median alone %.1f s (range %.1f–%.1f), median pair %.1f s (range %.1f–%.1f): ratio %.2f (goal ≤ 2.2)\n' \
  "$m_alone" "$(printf '%s\n' "${alone[@]}" | sort -g | head -1)" "$(printf '%s\n' "${alone[@]}" | sort -g | tail -1)" \
  "$m_pair" "$(printf '%s\n' "${pairs[@]}" | sort -g | head -1)" "$(printf '%s\n' "${pairs[@]}" | sort -g | tail -1)" \
  "$(over "$m_pair" "$m_alone")"
