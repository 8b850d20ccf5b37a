#!/usr/bin/env bash
# User-space instructions per composite request (three calls, ~4 KB of JSON), as bench/callgrind-proxy.sh.
# Usage: bash bench/callgrind-composite.sh BFFWeb-binary out-prefix [bench|harness]
#   bench (default): the payloads and template of bench/composite.sh (two results selected by sub-path:
#     "$orders.orders", "$recs.items");
#   harness: the outside harness's endpoint (../shared/bench/peers/bffweb/endpoints/composite.json): its three
#     bodies (bench/payloads-harness: users 585 B object, orders 1976 B array, recommendations 1563 B array,
#     copied from ../shared/bench/upstreams/bodies without the file's final newline, as its nginx sends them)
#     each embedded whole ("$user", "$orders", "$recs").
set -e
BIN=$1; OUT=$2; SHAPE=${3:-bench}; REPO=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d); chmod 755 $W; DOWN=19740; GW=19741
mkdir -p $W/payloads
if [ "$SHAPE" = harness ]; then
  cp "$REPO"/bench/payloads-harness/* $W/payloads/
elif [ ! -f ${PAYLOADS:-/tmp/bff-callgrind-payloads}/recs ]; then
  mkdir -p ${PAYLOADS:-/tmp/bff-callgrind-payloads}
  (cd "$REPO" && exec $BIN --demo --port 19799 --threads 1 > /dev/null 2>&1) & DP=$!
  sleep 1.5
  # The user routes need a session: log in as the demo admin (the README lists the demo users).
  curl -sf -c $W/jar -H 'Content-Type: application/json' -d '{"username":"admin","password":"change-me-admin"}' \
    http://127.0.0.1:19799/auth/login > /dev/null
  curl -sf -b $W/jar http://127.0.0.1:19799/api/web/users/7 > ${PAYLOADS:-/tmp/bff-callgrind-payloads}/user
  curl -sf -b $W/jar "http://127.0.0.1:19799/api/web/users/7/orders?limit=5" > ${PAYLOADS:-/tmp/bff-callgrind-payloads}/orders
  curl -sf "http://127.0.0.1:19799/api/web/catalog/products?ids=1,2,3,4,5,6" | python3 -c 'import json,sys; print(json.dumps({"items": json.load(sys.stdin)["products"]}, separators=(",",":")))' > ${PAYLOADS:-/tmp/bff-callgrind-payloads}/recs
  kill $DP
fi
[ "$SHAPE" = harness ] || cp ${PAYLOADS:-/tmp/bff-callgrind-payloads}/* $W/payloads/
chmod -R a+rX $W
if [ "$SHAPE" = harness ]; then RESPONSE='{ "user": "$user", "orders": "$orders", "recommendations": "$recs" }'
else RESPONSE='{ "user": "$user", "orders": "$orders.orders", "recommendations": "$recs.items" }'; fi
cat > $W/n.conf <<NGX
worker_processes 1; daemon off; pid $W/n.pid; error_log /dev/null crit;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; server { listen 127.0.0.1:$DOWN; default_type application/json; location / { root $W/payloads; } } }
NGX
/usr/sbin/nginx -c $W/n.conf -p $W & NP=$!
mkdir -p $W/gw/endpoints
cat > $W/gw/gateway.json <<JSON
{ "listen": {"host": "127.0.0.1", "port": $GW}, "threads": 1, "accessLog": false, "responseValidation": "off", "admin": {"port": 19742},
  "services": {"down": {"instances": ["127.0.0.1:$DOWN"], "pool": {"maxConnections": 256, "maxIdle": 256}}}, "routes": [] }
JSON
cat > $W/gw/endpoints/composite.json <<JSON
{ "name": "composite", "method": "GET", "path": "/composite",
  "calls": { "user": {"service": "down", "path": "/user"}, "orders": {"service": "down", "path": "/orders"},
             "recs": {"service": "down", "path": "/recs"} },
  "response": $RESPONSE }
JSON
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$OUT.%p $BIN --config $W/gw > $W/gw.log 2>&1 & GP=$!
for i in $(seq 60); do curl -sf -o /dev/null http://127.0.0.1:$GW/composite && break; sleep 0.5; done
curl -sf http://127.0.0.1:$GW/composite > $OUT.response.json
wrk -t1 -c16 -d3s http://127.0.0.1:$GW/composite > /dev/null
callgrind_control -i on $GP >/dev/null
wrk -t1 -c16 -d5s http://127.0.0.1:$GW/composite > $W/wrk.txt
callgrind_control -i off $GP >/dev/null
callgrind_control -d $GP >/dev/null
N=$(awk '/requests in/ {print $1}' $W/wrk.txt)
kill $GP; wait $GP 2>/dev/null || true; kill $NP
F=$(ls -S $OUT.* | head -1)
IR=$(callgrind_annotate $F 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
echo "requests $N  Ir $IR  Ir/request $((IR / N))"
echo "$F"
rm -rf $W
