#!/usr/bin/env bash
# Plugin overhead: one Sluice process, two routes to the same nginx upstream, one plain and one
# with cors + headers + rate-limit (the limit is never reached). wrk drives each route in turn,
# ROUNDS times, and the gateway's own CPU time per request is compared in the same run.
# Target: the plugin route costs ≤ 10% more CPU per request than the plain one.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5}; CONNS=${CONNS:-50}; ROUNDS=${ROUNDS:-4}
NODE="$ROOT/node_modules/.bin/node"
WORK=$(mktemp -d); GW=; trap 'set +e; for p in $(jobs -p); do kill -- -$p 2>/dev/null; done; [ -n "$GW" ] && kill $GW 2>/dev/null; nginx -s quit -c "$WORK/up.conf" 2>/dev/null; rm -rf "$WORK"' EXIT
command -v wrk >/dev/null && command -v nginx >/dev/null || { apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null 2>&1; }
TCK=$(getconf CLK_TCK)
cat > "$WORK/up.conf" <<C
worker_processes 1; daemon off; pid $WORK/up.pid; error_log $WORK/up.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:9001; location / { return 200 "hello world\n"; } } }
C
setsid taskset -c 0 nginx -c "$WORK/up.conf" & sleep 0.5
SLUICE_LOG_LEVEL=warn taskset -c 1 "$NODE" "$ROOT/bin/sluice.ts" serve --config "$ROOT/bench/config-plugins" --state "$WORK/state" \
  --port 8090 --internal-port 0 --admin-port 0 --host 127.0.0.1 > "$WORK/gw.log" 2>&1 & GW=$!
for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/8090) 2>/dev/null && break; sleep 0.1; done
cpu() { local f; read -r -a f < /proc/$GW/stat; echo $((f[13] + f[14])); }
run() { # host → "requests cpu_ticks"
  local c0 c1 out
  c0=$(cpu)
  out=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" -H "Host: $1" -H 'Origin: https://app.example.com' http://127.0.0.1:8090/)
  c1=$(cpu)
  echo "$(echo "$out" | grep -oP '^\s*\K\d+(?= requests in)') $((c1 - c0)) $(echo "$out" | grep -oP 'Non-2xx or 3xx responses:\s*\K\d+' || echo 0)"
}
# Warm both routes (JIT) before measuring.
taskset -c 0 wrk -t1 -c"$CONNS" -d2s -H 'Host: plain.default.localhost' http://127.0.0.1:8090/ >/dev/null
taskset -c 0 wrk -t1 -c"$CONNS" -d2s -H 'Host: plugged.default.localhost' -H 'Origin: https://app.example.com' http://127.0.0.1:8090/ >/dev/null
declare -A REQ=( [plain]=0 [plugged]=0 ) TICKS=( [plain]=0 [plugged]=0 ) BAD=( [plain]=0 [plugged]=0 )
for r in $(seq 1 "$ROUNDS"); do
  for name in plain plugged; do
    read -r n t b < <(run "$name.default.localhost")
    REQ[$name]=$((REQ[$name] + n)); TICKS[$name]=$((TICKS[$name] + t)); BAD[$name]=$((BAD[$name] + b))
  done
done
printf '%-10s %10s %12s %8s\n' route requests cpu_us/req non2xx
for name in plain plugged; do
  awk -v n="$name" -v r="${REQ[$name]}" -v t="${TICKS[$name]}" -v k="$TCK" -v b="${BAD[$name]}" 'BEGIN{ printf "%-10s %10d %12.1f %8d\n", n, r, t*1e6/k/r, b }'
done
awk -v a="${REQ[plain]}" -v ta="${TICKS[plain]}" -v b="${REQ[plugged]}" -v tb="${TICKS[plugged]}" 'BEGIN{
  ratio = (tb/b)/(ta/a); printf "plugins (cors+headers+rate-limit) cpu/req vs plain: %.3fx (target <= 1.10: %s)\n", ratio, ratio <= 1.10 ? "met" : "NOT met"; exit (ratio <= 1.10 ? 0 : 1) }'
