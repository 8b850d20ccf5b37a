#!/usr/bin/env bash
# User-space instructions per proxied request: the gateway under callgrind, instrumentation switched on
# only around a 5-second wrk run (16 connections) after a warm-up; nginx downstream. Noise-free, so
# two builds compare by instructions (and by malloc/retain counts in the output file).
# Usage: bash bench/callgrind-proxy.sh BFFWeb-binary out-prefix [plain|staged|pass]
set -e
BIN=$1; OUT=$2; ROUTE=${3:-staged}
W=$(mktemp -d); chmod 755 $W; DOWN=19720; GW=19721
PAYLOAD='{"id":7,"username":"linus.hopper7","name":"Linus Hopper","email":"linus.hopper@example.com","avatarUrl":"https://cdn.example.com/avatars/7/512.jpg","tier":"plus","createdAt":"2026-01-22T19:35:00Z","address":{"street":"21 Main Street","city":"Lisbon","country":"PT","postalCode":"10259"}}'
cat > $W/n.conf <<NGX
worker_processes 1; daemon off; pid $W/n.pid; error_log /dev/null crit;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; server { listen 127.0.0.1:$DOWN; default_type application/json; location / { return 200 '$PAYLOAD'; } } }
NGX
/usr/sbin/nginx -c $W/n.conf -p $W & NP=$!
mkdir -p $W/gw
cat > $W/gw/gateway.json <<JSON
{ "listen": {"host": "127.0.0.1", "port": $GW}, "threads": 1, "accessLog": false, "admin": {"port": 19722},
  "limits": {"maxConnections": 20000},
  "services": {"down": {"instances": ["127.0.0.1:$DOWN"], "pool": {"maxConnections": 64, "maxIdle": 64}}},
  "routes": [{"name": "plain", "path": "/plain/*", "proxy": {"service": "down"}},
    {"name": "staged", "path": "/staged/*", "proxy": {"service": "down"},
     "policy": {"methods": ["GET"],
                "cors": {"allowOrigins": ["https://app.example.com"], "allowMethods": ["GET"], "maxAgeSeconds": 600},
                "headers": {"request": {"set": {"X-Bench": "staged"}}, "response": {"set": {"X-Served-By": "gateway"}}}}},
    {"name": "pass", "path": "/*", "proxy": {"service": "down"}}] }
JSON
P=/$ROUTE/users/7; [ $ROUTE = pass ] && P=/users/7
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$OUT.%p $BIN --config $W/gw > $W/gw.log 2>&1 & GP=$!
for i in $(seq 60); do curl -sf -o /dev/null http://127.0.0.1:$GW$P -H 'Origin: https://app.example.com' && break; sleep 0.5; done
wrk -t1 -c16 -d3s -H 'Origin: https://app.example.com' http://127.0.0.1:$GW$P > /dev/null
callgrind_control -i on $GP >/dev/null
wrk -t1 -c16 -d5s -H 'Origin: https://app.example.com' http://127.0.0.1:$GW$P > $W/wrk.txt
callgrind_control -i off $GP >/dev/null
callgrind_control -d $GP >/dev/null
N=$(awk '/requests in/ {print $1}' $W/wrk.txt)
kill $GP; wait $GP 2>/dev/null || true; kill $NP
F=$(ls -t $OUT.* | head -1)
# pick the largest dump (the explicit one)
F=$(ls -S $OUT.* | head -1)
IR=$(callgrind_annotate $F 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
MALLOC=$(callgrind_annotate --inclusive=yes $F 2>/dev/null | awk '$0 ~ / malloc / || $0 ~ /\*  .*:malloc / {print}' | head -2)
echo "requests $N  Ir $IR  Ir/request $((IR / N))"
echo "$F"
rm -rf $W
