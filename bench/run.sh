#!/usr/bin/env bash
# npm run bench — the parts below, chosen with BENCH=peers|workers|activator|plugins|protocols|kubernetes|eventing|eventing-jetstream|tracing|functions|all
# (default all; BENCH=eventing runs both eventing parts):
#
# peers      bench/peers.ts: Sluice (metrics and header contract on, no plugins) side by side with
#            nginx, HAProxy, a bare undici proxy, @fastify/http-proxy and nodefloor (node:http
#            answering by itself), each pinned to CPU 1. Prints CPU µs per request, req/s and p99 for
#            each, Sluice's ratios and the issue-14 targets as met/missed (targets do not fail the
#            run; a missing peer is skipped with a line). DURATION (10), WARMUP, CONNS, PEERS tune it.
# workers    bench/workers.ts: `sluice serve --workers 2` against --workers 1 (WORKERS="0 1 2" adds
#            the one-process gateway): CPU per request of the whole process (target 2 workers ≤
#            1.10× one), measured req/s, and the req/s ratio a load generator on other cores would
#            see, computed from CPU (target ≥ 1.7×); upstream and wrk at nice 19. DURATION, ROUNDS,
#            WARMUP, CONNS tune it.
# activator  bench/activator.ts: cold-start overhead, 10k requests buffered at a cold revision, and
#            the warm path through the throttler (cc=0 / cc=10 vs the plain path). Each prints its
#            figures and its verdict against the target. ACTIVATOR="cold burst warm" picks some;
#            COLD_RUNS, BURST, DURATION, CONNS, ROUNDS tune them (see the top of bench/activator.ts).
#
# plugins    bench/plugins.sh: a route with cors + headers + rate-limit against the same route
#            without plugins, in one gateway process (target ≤ 1.10× CPU per request).
# kubernetes bench/kubernetes.ts: 2,000 KIngresses in the in-repo fake API server and a real
#            `sluice serve --kubernetes`: start → ready, RSS per ingress, event → served p50/p99/max
#            (KBENCH_INGRESSES, KBENCH_EVENTS, KBENCH_PROFILE=DIR tune it; about 1 minute).
# protocols  bench/protocols.sh: h2load (h2c) through Sluice and nginx http2, an h2c upstream,
#            WebSocket echo messages/s through Sluice and direct.
# eventing   bench/eventing.ts: broker ingress events per gateway CPU-second (target ≥ 20,000),
#            end-to-end in-memory delivery throughput and p99 latency, memory per queued event
#            (DURATION, CONNS tune it).
# eventing-jetstream  bench/eventing-jetstream.ts: durable brokers on a real nats-server (Debian's
#            nats-server; a "skipped" line when it is not installed): events/s delivered end to end
#            against the target (≥ 5,000/s), p50/p99 latency and CPU per event, with the backing in
#            process and through a Gateway child, next to bare js.publish (about 1–2 minutes;
#            EVENTS, ROUNDS, WINDOW, SETUPS tune it, see the top of the file).
# functions  bench/functions.ts: `sluice func deploy` → first 200 of the Node HTTP template, cold (no
#            dependency cache) and warm (a redeploy: cache hit), the snapshot's size, and the Node
#            function runtime's CPU per request against node:http answering the same (target
#            ≤ 1.10×; about 2 minutes; DEPLOYS, ROUNDS, ROUND_S, CONNS, FUNCTIONS="deploy cpu" tune it).
#
# Everything listens on 127.0.0.1 only, stops by itself and kills what it started. Exit status is
# non-zero if a part failed or missed a target.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-all}
case "$BENCH" in peers|workers|activator|plugins|protocols|kubernetes|eventing|eventing-jetstream|tracing|functions|all) ;; *) echo "bench: BENCH must be peers, workers, activator, plugins, protocols, kubernetes, eventing, eventing-jetstream, tracing, functions or all (got $BENCH)" >&2; exit 2 ;; esac
NODE="$ROOT/node_modules/.bin/node"
status=0

# Debian tools the benches drive: installed when missing and we may (root with apt-get); otherwise
# each bench says what it skipped. BENCH_NO_INSTALL=1 never installs.
need() {
  command -v "$1" >/dev/null && return 0
  [ "${BENCH_NO_INSTALL:-}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 0
  echo "bench: installing $2 (apt-get)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >/dev/null 2>&1 || true
}

if [ "$BENCH" = peers ] || [ "$BENCH" = all ]; then
  need wrk wrk; need nginx nginx-light; need haproxy haproxy
  # Bounded: 6 peers × (DURATION + warm-up + start) plus the direct run; a stuck run is killed.
  timeout $(( (${DURATION:-10} + ${WARMUP:-2} + 25) * 8 )) "$NODE" "$ROOT/bench/peers.ts" || status=$?
fi

if [ "$BENCH" = workers ] || [ "$BENCH" = all ]; then
  need wrk wrk; need nginx nginx-light
  [ "$BENCH" = all ] && echo
  # Bounded: 3 configurations × (DURATION + warm-up + start).
  timeout $(( (${DURATION:-10} + ${WARMUP:-2} + 30) * 3 )) "$NODE" "$ROOT/bench/workers.ts" || status=$?
fi

if [ "$BENCH" = activator ] || [ "$BENCH" = all ]; then
  need wrk wrk; need nginx nginx-light
  # The burst benchmark holds 10,000 client and 10,000 gateway connections open.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  [ "$BENCH" = all ] && echo
  # shellcheck disable=SC2086 # ACTIVATOR is a word list
  "$NODE" "$ROOT/bench/activator.ts" ${ACTIVATOR:-} || status=$?
fi
if [ "$BENCH" = plugins ] || [ "$BENCH" = all ]; then
  echo; echo "# plugins (bench/plugins.sh)"
  bash "$ROOT/bench/plugins.sh" || status=$?
fi

if [ "$BENCH" = protocols ] || [ "$BENCH" = all ]; then
  echo; echo "# protocols (bench/protocols.sh)"
  bash "$ROOT/bench/protocols.sh" || status=$?
fi

if [ "$BENCH" = kubernetes ] || [ "$BENCH" = all ]; then
  echo; echo "# kubernetes (bench/kubernetes.ts)"
  # Bounded: a stuck run is killed after 3 minutes.
  timeout 180 "$NODE" "$ROOT/bench/kubernetes.ts" || status=$?
fi

if [ "$BENCH" = eventing ] || [ "$BENCH" = all ]; then
  echo; echo "# eventing (bench/eventing.ts)"
  timeout 300 "$NODE" "$ROOT/bench/eventing.ts" || status=$?
fi

if [ "$BENCH" = eventing-jetstream ] || [ "$BENCH" = eventing ] || [ "$BENCH" = all ]; then
  [ "$BENCH" = eventing-jetstream ] || echo
  echo "# eventing, durable (bench/eventing-jetstream.ts)"
  # the test fixture looks in /usr/sbin (Debian); a nats-server elsewhere on PATH is used too
  if [ -z "${NATS_SERVER:-}" ] && [ ! -x /usr/sbin/nats-server ] && command -v nats-server >/dev/null; then
    NATS_SERVER=$(command -v nats-server); export NATS_SERVER
  fi
  timeout 600 "$NODE" "$ROOT/bench/eventing-jetstream.ts" || status=$?
fi
if [ "$BENCH" = tracing ] || [ "$BENCH" = all ]; then echo; echo "# tracing (bench/tracing.ts)"; timeout 300 "$NODE" "$ROOT/bench/tracing.ts" || status=$?; fi
if [ "$BENCH" = functions ] || [ "$BENCH" = all ]; then
  need wrk wrk
  echo; echo "# functions (bench/functions.ts)"
  timeout 600 "$NODE" "$ROOT/bench/functions.ts" || status=$?
fi
exit $status
