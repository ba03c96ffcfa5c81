#!/usr/bin/env bash
# Prepares the Python side of the test suite: a virtual environment holding
# llama.cpp's OpenAI-compatible server (package llama-cpp-python[server], built
# from source by pip, which takes several minutes the first time), the
# official OpenAI, Anthropic and MCP Python SDKs (packages openai, anthropic, mcp), and
# the MCP Inspector's command line (npm package @modelcontextprotocol/inspector, beside it in
# ${AIMOS_TEST_NPM:-$HOME/.cache/aimos/test-npm}).
#
# The environment lives outside the checkout so that clones share it:
#   ${AIMOS_TEST_VENV:-$HOME/.cache/aimos/test-venv}
# A second run reuses it and returns at once when the pinned versions are there.
# Tests find it through the same variable and default.
set -euo pipefail

LLAMA_CPP_PYTHON=0.3.36
OPENAI=3.57.0
MCP=2.3.0
ANTHROPIC=2.14.0
PLAYWRIGHT=1.65.2
INSPECTOR=0.15.0

# llama.cpp's native build turns on every instruction set the CPU reports, AMX included; on
# virtual machines that report AMX without enabling it the server crashes at the first
# request. Build for the same vector instructions aimos's own embedded llama.cpp uses.
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_OPENMP=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF"

venv="${AIMOS_TEST_VENV:-$HOME/.cache/aimos/test-venv}"
py="$venv/bin/python"
stamp="$venv/.aimos-test-env"
want="llama-cpp-python==$LLAMA_CPP_PYTHON openai==$OPENAI cmake: $LLAMA_CMAKE_ARGS"

# The SDKs without a native build, installed beside the rest so that a new one never
# rebuilds llama.cpp.
sdks() {
  for pinned in "mcp==$MCP" "anthropic==$ANTHROPIC" "playwright==$PLAYWRIGHT"; do
    if [ "$("$py" -c "import importlib.metadata as m; print(m.version('${pinned%%==*}'))" 2>/dev/null)" != "${pinned##*==}" ]; then
      "$py" -m pip install --quiet "$pinned"
    fi
  done
  "$py" -c "import mcp.client.stdio, anthropic, playwright.sync_api" || {
    echo "the MCP or Anthropic SDK or Playwright in $venv does not import after installing" >&2
    exit 1
  }
  npm_dir="${AIMOS_TEST_NPM:-$HOME/.cache/aimos/test-npm}"
  installed=$(node -p "require('$npm_dir/node_modules/@modelcontextprotocol/inspector/package.json').version" 2>/dev/null || true)
  if [ "$installed" != "$INSPECTOR" ]; then
    command -v npm >/dev/null || { echo "npm is needed for the MCP Inspector (apt-get install npm)" >&2; exit 1; }
    mkdir -p "$npm_dir"
    npm install --silent --no-audit --no-fund --prefix "$npm_dir" "@modelcontextprotocol/inspector@$INSPECTOR" || {
      echo "could not install the MCP Inspector into $npm_dir" >&2
      exit 1
    }
  fi
}

if [ -x "$py" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] \
  && "$py" -c "import llama_cpp.server.app, openai" 2>/dev/null; then
  sdks
  echo "test environment ready: $venv"
  exit 0
fi

echo "preparing the test environment in $venv (pip builds llama.cpp: several minutes)"
mkdir -p "$(dirname "$venv")"
[ -x "$py" ] || python3 -m venv "$venv"
rm -f "$stamp"
"$py" -m pip install --quiet --upgrade pip
# --no-cache-dir: a wheel cached from a build with other flags must not be reused.
CMAKE_ARGS="$LLAMA_CMAKE_ARGS" "$py" -m pip install --quiet --no-cache-dir --force-reinstall \
  "llama-cpp-python[server]==$LLAMA_CPP_PYTHON" "openai==$OPENAI"
"$py" -c "import llama_cpp.server.app, openai" || {
  echo "the test environment in $venv is incomplete after installing" >&2
  exit 1
}
echo "$want" > "$stamp"
sdks
echo "test environment ready: $venv"
