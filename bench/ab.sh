#!/usr/bin/env bash
# A/B of two gateway builds on the same load: what a change costs. Proxy (a ~400-byte JSON pass-through)
# and composite (3 concurrent calls merged, ~4 KB), each build pinned to CPU 0 in turn, wrk and the
# nginx downstream on CPU 1, alternating rounds, medians of requests/s and of CPU time per request.
# Usage: BASE_BIN=path/to/old/BFFWeb [NEW_BIN=...] [ROUNDS=5] bash bench/ab.sh [seconds] [connections]
# NEW_BIN defaults to this tree's release build. Writes bench/out/ab.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-8}; CONNS=${2:-64}; ROUNDS=${ROUNDS:-5}
OUT=bench/out; mkdir -p "$OUT"
: "${BASE_BIN:?set BASE_BIN to the BFFWeb binary of the baseline build}"
if [ -z "${NEW_BIN:-}" ]; then
  swift build -c release --product BFFWeb 2>&1 | tail -1
  NEW_BIN=$(swift build -c release --show-bin-path)/BFFWeb
fi
command -v wrk >/dev/null 2>&1 && [ -x /usr/sbin/nginx ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light; }
W=$(mktemp -d); chmod 755 "$W"
cleanup() { for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done; sleep 0.5; rm -rf "$W"; }
trap cleanup EXIT
DOWN=19500; BASE=19501; NEW=19502
PAYLOAD='{"id":7,"username":"linus.hopper7","name":"Linus Hopper","email":"linus.hopper@example.com","avatarUrl":"https://cdn.example.com/avatars/7/512.jpg","tier":"plus","createdAt":"2026-01-22T19:35:00Z","address":{"street":"21 Main Street","city":"Lisbon","country":"PT","postalCode":"10259"}}'
mkdir -p "$W/down/p"
echo -n "$PAYLOAD" > "$W/down/p/user"
python3 - "$W/down/p" <<'PY'
import json, sys
d = sys.argv[1]
orders = {"orders": [{"id": 7000 + i, "status": "shipped", "total": 19.9 + i, "items": [{"productId": j, "quantity": 1} for j in range(3)]} for i in range(8)]}
recs = {"items": [{"id": i, "name": f"Product {i}", "price": 9.5 + i, "tags": ["a", "b", "c"], "rating": 4.5} for i in range(12)]}
open(f"{d}/orders", "w").write(json.dumps(orders, separators=(",", ":")))
open(f"{d}/recs", "w").write(json.dumps(recs, separators=(",", ":")))
PY
chmod -R a+rX "$W"
cat > "$W/down/nginx.conf" <<NGX
worker_processes 1; daemon off; pid $W/down/nginx.pid; error_log /dev/null crit;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$DOWN; default_type application/json;
    location /api/ { return 200 '$PAYLOAD'; }
    location / { root $W/down/p; } } }
NGX
taskset -c 1 /usr/sbin/nginx -c "$W/down/nginx.conf" -p "$W/down" & echo $! > "$W/down.pid"
for who in base new; do
  port=$([ $who = base ] && echo $BASE || echo $NEW)
  mkdir -p "$W/$who/endpoints"
  cat > "$W/$who/gateway.json" <<JSON
{ "listen": {"host": "127.0.0.1", "port": $port}, "threads": 1, "accessLog": false, "responseValidation": "off",
  "limits": {"maxConnections": 20000},
  "services": {"down": {"instances": ["127.0.0.1:$DOWN"], "pool": {"maxConnections": 256, "maxIdle": 256}}},
  "routes": [{"name": "pass", "path": "/api/*", "proxy": {"service": "down"}}] }
JSON
  cat > "$W/$who/endpoints/composite.json" <<JSON
{ "name": "composite", "method": "GET", "path": "/composite",
  "calls": { "user": {"service": "down", "path": "/user"}, "orders": {"service": "down", "path": "/orders"},
             "recs": {"service": "down", "path": "/recs"} },
  "response": { "user": "\$user", "orders": "\$orders.orders", "recommendations": "\$recs.items" } }
JSON
  bin=$([ $who = base ] && echo "$BASE_BIN" || echo "$NEW_BIN")
  taskset -c 0 "$bin" --config "$W/$who" > /dev/null 2>&1 & echo $! > "$W/$who.pid"
done
sleep 1
for port in $BASE $NEW; do
  curl -sf "http://127.0.0.1:$port/api/users/7" > /dev/null
  curl -sf "http://127.0.0.1:$port/composite" > /dev/null
done

run_wrk() { # port path pid -> "rps p50 p99 cpu_us_per_request"
  local u1 s1 u2 s2
  read -r u1 s1 < <(awk '{print $14, $15}' /proc/"$3"/stat)
  taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$1$2" > "$W/wrk.txt"
  read -r u2 s2 < <(awk '{print $14, $15}' /proc/"$3"/stat)
  awk -v c=$((u2 + s2 - u1 - s1)) -v t="$(getconf CLK_TCK)" '/Requests\/sec/ {r=$2} /requests in/ {n=$1} $1=="50%" {a=$2} $1=="99%" {b=$2}
       END {printf "%s %s %s %.1f\n", r, a, b, c / t * 1e6 / n}' "$W/wrk.txt"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }'; }
: > "$W/rounds.txt"
for scenario in proxy:/api/users/7 composite:/composite; do
  name=${scenario%%:*}; path=${scenario#*:}
  for port in $BASE $NEW; do taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$port$path" > /dev/null; done
  for round in $(seq "$ROUNDS"); do
    # Alternate which build goes first, so neither always runs on a warmer or cooler machine.
    order="base new"; [ $((round % 2)) -eq 0 ] && order="new base"
    for who in $order; do
      port=$([ $who = base ] && echo $BASE || echo $NEW)
      echo "$name $who $(run_wrk $port "$path" "$(cat "$W/$who.pid")")" >> "$W/rounds.txt"
    done
  done
done
cp "$W/rounds.txt" "$OUT/ab-rounds.txt"
col() { awk -v s="$1" -v w="$2" -v c="$3" '$1 == s && $2 == w { print $c }' "$W/rounds.txt" | to_ms | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
{
  echo "### A/B ($(date -u +%Y-%m-%d), wrk -t1 -c$CONNS -d${DURATION}s, median of $ROUNDS alternating rounds)"
  echo
  echo "| scenario | build | requests/s | p50 ms | p99 ms | CPU µs per request |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for s in proxy composite; do
    for who in base new; do echo "| $s | $who | $(col $s $who 3) | $(col $s $who 4) | $(col $s $who 5) | $(col $s $who 6) |"; done
    echo "| $s | **new / base** | **$(ratio "$(col $s new 3)" "$(col $s base 3)")×** | | | $(ratio "$(col $s new 6)" "$(col $s base 6)")× |"
  done
  echo
  echo "Rounds (scenario build rps p50 p99 cpu_us):"
  echo '```'
  cat "$W/rounds.txt"
  echo '```'
} > "$OUT/ab.md"
cat "$OUT/ab.md"
