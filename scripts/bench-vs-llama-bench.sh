#!/usr/bin/env bash
# Measures aimos's embedded runtime against llama.cpp's own benchmark tool, side by side.
#
# llama-bench is built from the llama.cpp source that aimos itself links (the llama-cpp-sys-2
# crate in cargo's registry), with the same build options (no native tuning, OpenMP off, Release).
# That crate does not carry llama-bench's own two source files, so they are taken from the
# llama-cpp-python source package, which vendors the same upstream project.
#
# Both tools then run alternately on the same model files, threads, prompt lengths and batch sizes:
#   ppP       P prompt tokens in one pass
#   tgN@dP    N tokens generated one at a time after a P-token prompt
# and the last column is the time aimos takes per token beyond llama-bench's (negative: less).
#
# On a shared virtual machine the speed of both drifts by 10-20% from minute to minute, more than
# the difference being measured. So the two tools take turns: ROUNDS rounds, each running
# llama-bench and then aimos on every model, and the figures are the median over the rounds of
# each round's ratio, with the lowest and highest round in brackets.
#
# Usage: scripts/bench-vs-llama-bench.sh [MODEL...]   (default: smollm2-135m qwen2.5-coder-0.5b)
# Environment: THREADS (default 2), REPS (default 3, runs per tool, test and round),
#              ROUNDS (default 3), PROMPTS (default 512,2048), GEN (default 128)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
threads=${THREADS:-2}
reps=${REPS:-3}
rounds=${ROUNDS:-3}
prompts=${PROMPTS:-512,2048}
gen=${GEN:-128}
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(smollm2-135m qwen2.5-coder-0.5b)
work="$root/target/llama-bench"
sdist_version=0.3.36
mkdir -p "$work"

echo "== building aimos" >&2
cargo build --release -p aimos-cli >&2
aimos="$root/target/release/aimos"

llama_src=$(cargo metadata --format-version 1 | python3 -c '
import json, sys, os
meta = json.load(sys.stdin)
pkg = next(p for p in meta["packages"] if p["name"] == "llama-cpp-sys-2")
print(os.path.join(os.path.dirname(pkg["manifest_path"]), "llama.cpp"))')
echo "== llama.cpp source: $llama_src" >&2

bench_src="$work/llama-bench-src"
if [ ! -f "$bench_src/llama-bench.cpp" ]; then
  echo "== fetching llama-bench's source files (llama-cpp-python $sdist_version source package)" >&2
  rm -rf "$work/sdist" && mkdir -p "$work/sdist" "$bench_src"
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$work/sdist" "llama-cpp-python==$sdist_version" >&2
  tar -xzf "$work/sdist/llama_cpp_python-$sdist_version.tar.gz" -C "$work/sdist" \
    "llama_cpp_python-$sdist_version/vendor/llama.cpp/tools/llama-bench"
  cp "$work/sdist/llama_cpp_python-$sdist_version/vendor/llama.cpp/tools/llama-bench/"{llama-bench.cpp,main.cpp} "$bench_src/"
fi

cat > "$work/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.14)
project(aimos-llama-bench C CXX)
add_subdirectory("$llama_src" llama.cpp)
add_library(llama-bench-impl "$bench_src/llama-bench.cpp")
target_include_directories(llama-bench-impl PUBLIC "$bench_src")
target_link_libraries(llama-bench-impl PUBLIC llama-common llama \${CMAKE_THREAD_LIBS_INIT})
add_executable(llama-bench "$bench_src/main.cpp")
target_link_libraries(llama-bench PRIVATE llama-bench-impl)
target_compile_features(llama-bench PRIVATE cxx_std_17)
EOF

if [ ! -x "$work/build/llama-bench" ]; then
  echo "== building llama-bench (several minutes on 2 cores)" >&2
  cmake -S "$work" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF \
    -DLLAMA_BUILD_COMMON=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >&2
  cmake --build "$work/build" --target llama-bench -j "$(nproc)" >&2
fi
llama_bench="$work/build/llama-bench"

out="$work/results"
rm -rf "$out" && mkdir -p "$out"
for model in "${models[@]}"; do
  "$aimos" models pull "$model" >&2
done
for round in $(seq "$rounds"); do
  for model in "${models[@]}"; do
    path=$("$aimos" models path "$model")
    echo "== round $round of $rounds, $model: llama-bench" >&2
    "$llama_bench" -m "$path" -t "$threads" -r "$reps" -p "$prompts" -n 0 -o json > "$out/$model.$round.llama-pp.json"
    "$llama_bench" -m "$path" -t "$threads" -r "$reps" -p 0 -n "$gen" -d "$prompts" -o json > "$out/$model.$round.llama-tg.json"
    echo "== round $round of $rounds, $model: aimos bench" >&2
    "$aimos" bench -m "$model" -t "$threads" -r "$reps" -p "$prompts" -n "$gen" --json > "$out/$model.$round.aimos.json"
  done
done

python3 - "$out" "$rounds" "${models[@]}" <<'EOF'
import json, sys, os, statistics
out, rounds, models = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def spread(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))} to {fmt(max(values))})"

print(f"{rounds} rounds; each cell: median over the rounds (lowest to highest round)")
print()
print("| model | test | llama-bench tokens/s | aimos tokens/s | aimos / llama-bench | aimos's extra time per token |")
print("|---|---|---:|---:|---:|---:|")
for model in models:
    per_test = {}
    for round in range(1, rounds + 1):
        aimos = {r["test"]: r for r in json.load(open(os.path.join(out, f"{model}.{round}.aimos.json")))}
        llama = {}
        for kind in ("pp", "tg"):
            for r in json.load(open(os.path.join(out, f"{model}.{round}.llama-{kind}.json"))):
                if kind == "pp":
                    test = f"pp{r['n_prompt']}"
                else:
                    test = f"tg{r['n_gen']}@d{r.get('n_depth', 0)}"
                llama[test] = r["avg_ts"]
        for test, a in aimos.items():
            if test in llama:
                per_test.setdefault(test, []).append((llama[test], a["tokens_per_second"]))
    for test, pairs in per_test.items():
        l = [p[0] for p in pairs]
        a = [p[1] for p in pairs]
        ratio = [y / x for x, y in pairs]
        extra = [1000.0 / y - 1000.0 / x for x, y in pairs]
        print(f"| {model} | {test} | {spread(l, lambda v: f'{v:.1f}')} | {spread(a, lambda v: f'{v:.1f}')} | "
              f"{spread(ratio, lambda v: f'{v:.0%}')} | {spread(extra, lambda v: f'{v:+.2f} ms')} |")
EOF
