#!/usr/bin/env bash
# Composite endpoint benchmark: three concurrent downstream calls merged into one ~4 KB JSON document.
# Peers doing the same work: BFFWeb (release), nginx + njs (r.subrequest + Promise.all), aiohttp (one shared
# ClientSession), FastAPI + httpx (uvicorn, one worker). Each peer pinned to CPU 0; wrk and the downstream
# (nginx serving static JSON, and njs answering after 20 ms for the latency run) pinned to CPU 1.
# Usage: bash bench/composite.sh [seconds]        Writes bench/out/composite.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
OUT=bench/out; mkdir -p "$OUT"
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
[ -f /usr/lib/nginx/modules/ngx_http_js_module.so ] || need+=(libnginx-mod-http-js)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; fi
python3 -c "import aiohttp, fastapi, uvicorn, httpx" 2>/dev/null || pip install -q aiohttp fastapi uvicorn httpx
NGINX=/usr/sbin/nginx

swift build -c release --product BFFWeb 2>&1 | tail -1
BIN=$(swift build -c release --show-bin-path)/BFFWeb
W=$(mktemp -d); chmod 755 "$W"
cleanup() { for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done; sleep 0.5; rm -rf "$W"; }
trap cleanup EXIT
DOWN=19300; GW=19301; NJS=19302; AIO=19303; FAPI=19304

# Payloads from the demo services: user (~0.4 KB), orders (~1.4 KB), recommendations with products (~2.2 KB).
# Through open routes to the demo services (the shipped web routes to users need a session token).
mkdir -p "$W/payloads" "$W/demo-config"
cat > "$W/demo-config/gateway.json" <<'JSON'
{ "services": { "users": { "instances": ["127.0.0.1:9101"] }, "orders": { "instances": ["127.0.0.1:9102"] },
               "catalog": { "instances": ["127.0.0.1:9103"] } },
  "routes": [ { "name": "users", "path": "/users/*", "proxy": { "service": "users" } },
              { "name": "orders", "method": "GET", "path": "/orders", "proxy": { "service": "orders" } },
              { "name": "products", "method": "GET", "path": "/products", "proxy": { "service": "catalog" } } ] }
JSON
"$BIN" --demo --config "$W/demo-config" --port 19399 --threads 1 > /dev/null 2>&1 & echo $! > "$W/demo.pid"
sleep 1
curl -sf http://127.0.0.1:19399/users/7 > "$W/payloads/user"
curl -sf "http://127.0.0.1:19399/orders?userId=7&limit=5" > "$W/payloads/orders"
curl -sf "http://127.0.0.1:19399/products?ids=1,2,3,4,5,6" | python3 -c 'import json,sys; print(json.dumps({"items": json.load(sys.stdin)["products"]}, separators=(",",":")))' > "$W/payloads/recs"
kill "$(cat "$W/demo.pid")"; rm "$W/demo.pid"; chmod -R a+rX "$W"

# Downstream on CPU 1.
mkdir -p "$W/down"
cat > "$W/down/nginx.conf" <<NGX
load_module /usr/lib/nginx/modules/ngx_http_js_module.so;
worker_processes 1; daemon off; pid $W/down/nginx.pid; error_log /dev/null crit;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; js_import slow from $PWD/bench/peers/slow.js;
  server { listen 127.0.0.1:$DOWN; default_type application/json;
    location / { root $W/payloads; }
    location /slow/ { set \$payload_dir $W/payloads/; js_content slow.slow; } } }
NGX
taskset -c 1 $NGINX -c "$W/down/nginx.conf" -p "$W/down" & echo $! > "$W/down.pid"

# The gateway: a composite endpoint with three calls (and its 20 ms twin).
mkdir -p "$W/gw/endpoints"
cat > "$W/gw/gateway.json" <<JSON
{ "listen": {"host": "127.0.0.1", "port": $GW}, "threads": 1, "accessLog": false, "responseValidation": "off",
  "services": {"down": {"instances": ["127.0.0.1:$DOWN"], "pool": {"maxConnections": 256, "maxIdle": 256}}}, "routes": [] }
JSON
for slow in "" "-slow"; do
  prefix=$([ -n "$slow" ] && echo "/slow" || echo "")
  cat > "$W/gw/endpoints/composite$slow.json" <<JSON
{ "name": "composite$slow", "method": "GET", "path": "/composite$slow",
  "calls": { "user": {"service": "down", "path": "$prefix/user"}, "orders": {"service": "down", "path": "$prefix/orders"},
             "recs": {"service": "down", "path": "$prefix/recs"} },
  "response": { "user": "\$user", "orders": "\$orders.orders", "recommendations": "\$recs.items" } }
JSON
done
"$BIN" check --config "$W/gw" >&2
taskset -c 0 "$BIN" --config "$W/gw" > /dev/null 2>&1 & echo $! > "$W/gw.pid"

# nginx + njs, one worker on CPU 0.
mkdir -p "$W/njs"
cat > "$W/njs/nginx.conf" <<NGX
load_module /usr/lib/nginx/modules/ngx_http_js_module.so;
worker_processes 1; daemon off; pid $W/njs/nginx.pid; error_log /dev/null crit;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; js_import main from $PWD/bench/peers/composite.js;
  upstream down { server 127.0.0.1:$DOWN; keepalive 128; }
  subrequest_output_buffer_size 64k;
  server { listen 127.0.0.1:$NJS;
    location /composite { js_content main.composite; }
    location /_d/ { internal; proxy_pass http://down/; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location /_slow/ { internal; proxy_pass http://down/slow/; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
NGX
taskset -c 0 $NGINX -c "$W/njs/nginx.conf" -p "$W/njs" & echo $! > "$W/njs.pid"
taskset -c 0 python3 bench/peers/aiohttp_peer.py $AIO $DOWN & echo $! > "$W/aio.pid"
taskset -c 0 python3 bench/peers/fastapi_peer.py $FAPI $DOWN & echo $! > "$W/fapi.pid"
sleep 3

pid_of() { # the process that does the work
  case $1 in
    njs) pgrep -P "$(cat "$W/njs.pid")" | head -1 ;;
    *) cat "$W/$1.pid" ;;
  esac
}
declare -A PORT=([gw]=$GW [njs]=$NJS [aio]=$AIO [fapi]=$FAPI)
declare -A NAME=([gw]="BFFWeb (1 loop thread)" [njs]="nginx + njs (1 worker)" [aio]="aiohttp (1 process, shared session)" [fapi]="FastAPI + httpx (uvicorn, 1 worker)")
for p in gw njs aio fapi; do
  size=$(curl -s "http://127.0.0.1:${PORT[$p]}/composite" | tee "$OUT/composite-$p.json" | wc -c)
  echo "$p: composite response $size bytes" >&2
done

wrk_run() { # port path conns seconds -> "rps p50 p99 errors" (errors: non-2xx answers and socket errors)
  taskset -c 1 wrk -t1 -c"$3" -d"$4s" --latency "http://127.0.0.1:$1$2" > "$W/wrk.txt"
  awk '/Requests\/sec/ {r=$2} $1=="50%" {a=$2} $1=="99%" {b=$2} /Non-2xx/ {e+=$NF} /Socket errors/ {gsub(",", ""); e+=$4+$6+$8+$10}
       END {print r, a, b, e+0}' "$W/wrk.txt"
}
rows=""; slowrows=""
declare -A RPS
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ROUNDS=${ROUNDS:-3}
for p in gw njs aio fapi; do wrk_run "${PORT[$p]}" /composite 64 2 > /dev/null; done   # warm-up
: > "$W/rounds.txt"
for round in $(seq "$ROUNDS"); do   # alternating rounds; medians reported
  for p in gw njs aio fapi; do
    echo "$p $(wrk_run "${PORT[$p]}" /composite 64 "$DURATION")" >> "$W/rounds.txt"
    sleep 3   # a saturated peer (FastAPI) keeps working through its backlog after wrk stops: let CPU 0 settle
  done
done
cp "$W/rounds.txt" "$OUT/composite-rounds.txt"
# A wrk latency ("850.12us", "12.3ms", "1.9s") in milliseconds.
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }'; }
col() { awk -v who="$1" -v c="$2" '$1 == who { print $c }' "$W/rounds.txt" | to_ms | median; }
for p in gw njs aio fapi; do
  RPS[$p]=$(col $p 2)
  errors=$(awk -v who="$p" '$1 == who { e += $5 } END { print e + 0 }' "$W/rounds.txt")
  rss=$(awk '/VmHWM/ {print int($2/1024)}' /proc/"$(pid_of $p)"/status)
  rows+="| ${NAME[$p]} | ${RPS[$p]} | $(col $p 3)ms | $(col $p 4)ms | $rss MB | $errors |"$'\n'
  sleep 3
  read -r srps sp50 sp99 serrors < <(wrk_run "${PORT[$p]}" /composite-slow 8 "$DURATION")
  slowrows+="| ${NAME[$p]} | $srps | $sp50 | $sp99 | $serrors |"$'\n'
done
# The delayed downstream on its own, at the load it sees in that run (8 clients × 3 calls).
read -r brps bp50 bp99 berrors < <(wrk_run $DOWN /slow/user 24 "$DURATION")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cat > "$OUT/composite.md" <<MD
### Composite endpoint, 3 concurrent downstream calls, ~4 KB merged JSON ($(date -u +%Y-%m-%d), wrk -t1 -c64 -d${DURATION}s, median of $ROUNDS alternating rounds)

| peer | requests/s | p50 | p99 | peak RSS | errors |
| --- | --- | --- | --- | --- | --- |
$rows
BFFWeb vs nginx + njs: **$(ratio "${RPS[gw]}" "${RPS[njs]}")×**; vs aiohttp: **$(ratio "${RPS[gw]}" "${RPS[aio]}")×**; vs FastAPI + httpx: **$(ratio "${RPS[gw]}" "${RPS[fapi]}")×**.

Downstreams that each take 20 ms, 8 concurrent clients (wrk -t1 -c8 -d${DURATION}s):

| peer | requests/s | p50 | p99 | errors |
| --- | --- | --- | --- | --- |
$slowrows
The delayed downstream alone (24 clients, one document): p50 $bp50, p99 $bp99; so each peer's own share of
the p50 is its p50 minus that (and the wait for the slowest of three).
MD
cat "$OUT/composite.md"
