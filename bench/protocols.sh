#!/usr/bin/env bash
# Protocols: h2load (h2c prior knowledge) against Sluice and against nginx with http2, for
# h2c → HTTP/1.1 upstream, and h2c → h2c upstream (Sluice vs the upstream direct); then WebSocket
# echo messages/s through Sluice vs direct. Proxies on CPU 1, upstreams and load on CPU 0; the
# proxy's own CPU time per request is what compares across runs.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-60000}; CONNS=${CONNS:-50}; STREAMS=${STREAMS:-10}
NODE="$ROOT/node_modules/.bin/node"
WORK=$(mktemp -d); GW=; NG=; UP=
trap 'set +e; for p in $GW $NG $UP; do kill $p 2>/dev/null; done; nginx -s quit -c "$WORK/up.conf" 2>/dev/null; rm -rf "$WORK"' EXIT
need() { command -v "$1" >/dev/null || { apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1; }; }
need h2load nghttp2-client; need nginx nginx-light
TCK=$(getconf CLK_TCK)
cpu() { local s=0 f p; for p in $1 $(ps -o pid= --ppid "$1"); do read -r -a f < /proc/$p/stat 2>/dev/null && s=$((s + f[13] + f[14])); done; echo $s; }
cat > "$WORK/up.conf" <<C
worker_processes 1; daemon off; pid $WORK/up.pid; error_log $WORK/up.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:9001; location / { return 200 "hello world\n"; } } }
C
cat > "$WORK/ng.conf" <<C
worker_processes 1; daemon off; pid $WORK/ng.pid; error_log $WORK/ng.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; 
  upstream be { server 127.0.0.1:9001; keepalive 64; keepalive_requests 1000000; }
  server { listen 127.0.0.1:9201 http2; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
C
setsid taskset -c 0 nginx -c "$WORK/up.conf" &
taskset -c 0 "$NODE" "$ROOT/bench/protocol-upstreams.mjs" & UP=$!
taskset -c 1 nginx -c "$WORK/ng.conf" & NG=$!
SLUICE_LOG_LEVEL=warn taskset -c 1 "$NODE" "$ROOT/bin/sluice.ts" serve --config "$ROOT/bench/config-protocols" --state "$WORK/state" \
  --port 8091 --internal-port 0 --tls-port 0 --admin-port 0 --host 127.0.0.1 > "$WORK/gw.log" 2>&1 & GW=$!
for p in 8091 9201 9002 9003; do for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done; done
h2() { # name pid url [host] → "req/s cpu_us/req"
  local c0 c1 out
  local hdr=(); [ -n "${4:-}" ] && hdr=(-H ":authority: $4")
  taskset -c 0 h2load -n 5000 -c "$CONNS" -m "$STREAMS" "${hdr[@]}" "$3" >/dev/null 2>&1
  c0=$(cpu "$2"); out=$(taskset -c 0 h2load -n "$N" -c "$CONNS" -m "$STREAMS" "${hdr[@]}" "$3" 2>&1); c1=$(cpu "$2")
  local ok rps; ok=$(echo "$out" | grep -oP '\d+(?= succeeded)'); rps=$(echo "$out" | grep -oP 'finished in [\d.]+\w+, \K[\d.]+(?= req/s)')
  awk -v n="$1" -v r="$rps" -v a="$c0" -v b="$c1" -v t="$TCK" -v ok="$ok" 'BEGIN{ printf "%-28s %10s %12.1f %10s\n", n, r, (b-a)*1e6/t/(ok>0?ok:1), ok }'
}
printf '%-28s %10s %12s %10s\n' 'h2load (h2c, -m '"$STREAMS"')' req/s cpu_us/req succeeded
h2 'sluice h2c -> http/1.1' $GW http://127.0.0.1:8091/ h1.default.localhost
h2 'nginx http2 -> http/1.1' $NG http://127.0.0.1:9201/
h2 'sluice h2c -> h2c' $GW http://127.0.0.1:8091/ h2.default.localhost
h2 'direct h2c upstream' $UP http://127.0.0.1:9002/
echo
printf '%-28s %12s\n' 'websocket echo (64 B)' messages/s
printf '%-28s %12s\n' 'through sluice' "$(taskset -c 0 "$NODE" "$ROOT/bench/ws-echo.mjs" ws://127.0.0.1:8091/ ws.default.localhost)"
printf '%-28s %12s\n' 'direct' "$(taskset -c 0 "$NODE" "$ROOT/bench/ws-echo.mjs" ws://127.0.0.1:9003/)"
