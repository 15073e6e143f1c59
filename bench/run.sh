#!/usr/bin/env bash
# npm run bench: Sluice (metrics on, default settings) side by side with nginx, HAProxy, a bare
# undici proxy and @fastify/http-proxy, through ../shared/bench/peers.sh. Prints CPU µs per
# request for each and Sluice's ratios; a ratio below 1 means Sluice is cheaper.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS_SH=${PEERS_SH:-$ROOT/../shared/bench/peers.sh}
[ -x "$PEERS_SH" ] || [ -f "$PEERS_SH" ] || { echo "bench: $PEERS_SH not found (it lives in shared/bench beside the project)" >&2; exit 1; }
STATE=$(mktemp -d); trap 'rm -rf "$STATE"' EXIT
export CANDIDATE_CMD="$ROOT/node_modules/.bin/node $ROOT/bin/sluice.ts serve --config $ROOT/bench/config --state $STATE --port 8080 --internal-port 0 --admin-port 0 --host 127.0.0.1"
export CANDIDATE_PORT=8080 CANDIDATE_HOST=hello.default.localhost
export SLUICE_LOG_LEVEL=warn
bash "$PEERS_SH"
