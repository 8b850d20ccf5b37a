#!/usr/bin/env bash
# JSON benchmark: AggregationKit's JSON code vs Foundation's JSONSerialization on the demo downstream payloads.
# Usage: bash bench/json.sh          Writes bench/out/json.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out; mkdir -p "$OUT/payloads"
swift build -c release --product BFFWeb 2>&1 | tail -1
BIN=$(swift build -c release --show-bin-path)/BFFWeb
# Fetch real payloads from the demo services through open proxy routes (the shipped web routes to users
# need a session token).
CONF=$(mktemp -d)
cat > "$CONF/gateway.json" <<'JSON'
{ "services": { "users": { "instances": ["127.0.0.1:9101"] }, "orders": { "instances": ["127.0.0.1:9102"] },
               "catalog": { "instances": ["127.0.0.1:9103"] } },
  "routes": [ { "name": "users", "path": "/users/*", "proxy": { "service": "users" } },
              { "name": "orders", "method": "GET", "path": "/orders", "proxy": { "service": "orders" } },
              { "name": "products", "method": "GET", "path": "/products", "proxy": { "service": "catalog" } } ] }
JSON
"$BIN" --demo --config "$CONF" --port 19280 --threads 1 > /dev/null 2>&1 & PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$CONF"' EXIT
sleep 1
curl -sf http://127.0.0.1:19280/users/7 > "$OUT/payloads/user.json"
curl -sf "http://127.0.0.1:19280/orders?userId=7&limit=5" > "$OUT/payloads/orders-5.json"
curl -sf "http://127.0.0.1:19280/products?ids=1,2,3,4,5,6,7,8,9,10" > "$OUT/payloads/products-10.json"
curl -sf "http://127.0.0.1:19280/orders?userId=7&limit=50" > "$OUT/payloads/orders-50.json"
kill $PID; rm -rf "$CONF"; trap - EXIT
swiftc -O -wmo Sources/AggregationKit/JSON/*.swift Sources/AggregationKit/HTTP/ByteClasses.swift bench/json/main.swift -o "$OUT/jsonbench" 2>&1 | grep -v warning || true
{
  echo "### JSON: ours vs Foundation JSONSerialization ($(date -u +%Y-%m-%d), release, best of 5 runs, one core)"
  echo
  taskset -c 0 "$OUT/jsonbench" "$OUT"/payloads/*.json
} > "$OUT/json.md"
cat "$OUT/json.md"
