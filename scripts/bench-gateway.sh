#!/usr/bin/env bash
# Gateway overhead in pass-through: latency through `aimos serve` minus latency straight to the
# same upstream (a local server answering every completion at once), at fixed request rates,
# with an open-loop load generator; and the overhead the gateway itself exports.
#
#   RATES="500 1000 2000" SECONDS_EACH=10 scripts/bench-gateway.sh
#   SPOOL=off scripts/bench-gateway.sh      # the same without the ledger's spool (--no-spool)
#   SPOOL=sync scripts/bench-gateway.sh     # every answer waits for its run's fdatasync (--sync-spool)
#   PIN=on scripts/bench-gateway.sh         # load generator on CPU 0, the rest on the others
#   AIMOS=/path/to/aimos scripts/bench-gateway.sh   # another build's gateway, for a before/after
#
# PIN=on keeps the load generator's scheduling delays apart from the gateway's. On a 2-core
# machine that leaves one core to the gateway and the upstream, which saturates at 2,000
# requests a second, so the default is off.
set -euo pipefail
cd "$(dirname "$0")/.."

RATES="${RATES:-500 1000 2000}"
SECONDS_EACH="${SECONDS_EACH:-10}"
UPSTREAM=127.0.0.1:9100
GATEWAY=127.0.0.1:9101

cargo build --release --quiet -p aimos-cli -p aimos-gateway --examples --bins
work=$(mktemp -d)
cleanup() { kill "${upstream_pid:-}" "${gateway_pid:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

load=(); serve=()
if [ "${PIN:-off}" = on ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  load=(taskset -c 0); serve=(taskset -c "1-$(($(nproc) - 1))")
  echo "pinned: load generator on CPU 0, gateway and upstream on CPUs 1-$(($(nproc) - 1))"
fi

cat > "$work/aimos.toml" <<TOML
[models]
smart = "fixed:m"
cheap = "fixed:m"
[providers.fixed]
api = "openai"
base_url = "http://$UPSTREAM/v1"
[prices."fixed:m"]
input = 1.0
output = 2.0
TOML

"${serve[@]}" ./target/release/examples/fixed_upstream "$UPSTREAM" & upstream_pid=$!
spool=()
[ "${SPOOL:-on}" = off ] && spool=(--no-spool)
[ "${SPOOL:-on}" = sync ] && spool=(--sync-spool)
echo "spool: ${SPOOL:-on}"
AIMOS_LOG=warn "${serve[@]}" "${AIMOS:-./target/release/aimos}" serve --bind "$GATEWAY" --config "$work/aimos.toml" \
  --store "$work/aimos.db" "${spool[@]}" 2>"$work/gateway.log" & gateway_pid=$!
for _ in $(seq 50); do
  curl -sf "http://$GATEWAY/readyz" >/dev/null && curl -sf "http://$UPSTREAM/v1/models" >/dev/null && break
  sleep 0.2
done

overhead() { curl -s "http://$GATEWAY/metrics" | grep '^aimos_gateway_overhead_seconds'; }
# Quantile of the overhead histogram between two scrapes: the upper bound of the bucket.
quantile() {
  python3 - "$1" "$2" "$3" <<'PY'
import re, sys
def read(path):
    buckets = {}
    for line in open(path):
        m = re.match(r'aimos_gateway_overhead_seconds_bucket\{le="([^"]+)"\} (\d+)', line)
        if m:
            buckets[m.group(1)] = int(m.group(2))
    return buckets
before, after, q = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3])
delta = {le: after[le] - before.get(le, 0) for le in after}
total = delta.get("+Inf", 0)
for le, n in sorted(delta.items(), key=lambda kv: float("inf") if kv[0] == "+Inf" else float(kv[0])):
    if total and n >= q * total:
        print("%.3f ms" % (float(le) * 1000) if le != "+Inf" else "> 100 ms")
        break
PY
}

echo "| rate (req/s) | path | achieved | ok | errors | p50 ms | p99 ms | max ms |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
summary=""
for rate in $RATES; do
  # Warm both paths (connections, caches) before measuring.
  "${load[@]}" ./target/release/examples/loadgen "http://$UPSTREAM/v1/chat/completions" 200 1 >/dev/null
  "${load[@]}" ./target/release/examples/loadgen "http://$GATEWAY/v1/chat/completions" 200 1 >/dev/null
  direct=$("${load[@]}" ./target/release/examples/loadgen "http://$UPSTREAM/v1/chat/completions" "$rate" "$SECONDS_EACH")
  overhead > "$work/before"
  through=$("${load[@]}" ./target/release/examples/loadgen "http://$GATEWAY/v1/chat/completions" "$rate" "$SECONDS_EACH")
  overhead > "$work/after"
  for pair in "direct:$direct" "gateway:$through"; do
    name=${pair%%:*}; json=${pair#*:}
    python3 -c "import json,sys; d=json.loads(sys.argv[2]); print('| %d | %s | %d | %d | %d | %.3f | %.3f | %.3f |' % (d['rate'], sys.argv[1], d['achieved_rate'], d['ok'], d['errors'], d['p50_ms'], d['p99_ms'], d['max_ms']))" "$name" "$json"
  done
  p50=$(quantile "$work/before" "$work/after" 0.5); p99=$(quantile "$work/before" "$work/after" 0.99)
  added=$(python3 -c "import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); print('p50 %+.3f ms, p99 %+.3f ms' % (b['p50_ms']-a['p50_ms'], b['p99_ms']-a['p99_ms']))" "$direct" "$through")
  summary+="$rate req/s: through minus direct: $added; gateway's own overhead metric: p50 ≤ $p50, p99 ≤ $p99"$'\n'
done
echo
printf '%s' "$summary"
