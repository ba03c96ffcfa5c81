#!/usr/bin/env bash
# Warm `aimos distill` over the Python standard library as a whole command, with /usr/bin/time
# (seconds, peak KB): words alone, and re-ranked by meaning with minilm-l6, with the vectors of
# earlier runs not yet remembered ($AIMOS_HOME/vectors emptied before each run), remembered
# (the same problem again), and for problems not asked before over remembered vectors.
#
#   RUNS=5 scripts/bench-distill.sh
#   AIMOS=/path/to/aimos scripts/bench-distill.sh   # another build, for a before/after
#
# Needs minilm-l6 pulled (`aimos models pull minilm-l6`); the budget's tokenizer is the default
# smart model's when it is pulled (qwen2.5-coder-1.5b), else tiktoken's.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-5}"
cargo build --release --quiet -p aimos-cli --bin aimos
aimos=${AIMOS:-./target/release/aimos}
stdlib=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['stdlib'])")
home=${AIMOS_HOME:-$HOME/.cache/aimos}
question="Which function computes the matching blocks between two sequences?"
# Plain questions about the standard library, each asked once in the last row.
others=(
  "How is the default of a dataclass field that is a list kept from being shared between instances?"
  "Where does the HTTP client decide that a response body is chunked?"
  "What turns a relative URL into an absolute one against a base URL?"
  "Which code wraps a long paragraph of text to a given width?"
  "How does the logging module pick the handler of a child logger?"
  "Where is a tar archive member's name checked before it is extracted?"
  "What reads a configuration file with sections and keys?"
  "How does the JSON encoder escape characters that are not ASCII?"
)

timed() { /usr/bin/time -f "%e s %M KB" "$aimos" distill "$1" --context "$stdlib" --embedding "$2" 2>&1 >/dev/null | tail -n 1; }

echo "# aimos distill over $stdlib, index cache warm, $RUNS runs each; $(nproc) cores"
"$aimos" distill "$question" --context "$stdlib" --embedding off >/dev/null 2>&1
echo "## words alone (--embedding off)"
for _ in $(seq "$RUNS"); do timed "$question" off; done
echo "## re-ranked by meaning, vectors not remembered (emptied before each run)"
for _ in $(seq "$RUNS"); do rm -rf "$home/vectors"; timed "$question" minilm-l6; done
echo "## re-ranked by meaning, the same problem again (its vectors remembered)"
for _ in $(seq "$RUNS"); do timed "$question" minilm-l6; done
echo "## re-ranked by meaning, a problem not asked before (earlier problems' vectors remembered)"
for i in $(seq "$RUNS"); do timed "${others[$(( (i - 1) % ${#others[@]} ))]}" minilm-l6; done
