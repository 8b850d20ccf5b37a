#!/usr/bin/env bash
# Login and refresh requests per second with the session store and login throttle in Redis (issue 8),
# beside the embedded in-memory stores. Bearer mode (the mobile flow: tokens in JSON bodies), so wrk can
# carry each rotated refresh token into the next request.
#
#   login    POST /auth/login: throttle check (Redis), identity service call (an nginx stub answering
#            200 {"sub","roles"}, a new sub per request: $request_id), ES256 access token signed, session
#            created (one Lua script)
#   refresh  POST /auth/refresh: one Lua script (rotation), ES256 access token signed. Every request
#            presents a live token: wrk starts with CONNS logged-in sessions and each answer's new
#            refresh token goes back into the pool (a reused token would revoke its family: counted)
#
# The gateway is pinned to CPU 0; wrk, nginx and redis-server share CPU 1. Alternating rounds, medians.
# Usage: [BIN=path/to/BFFWeb] [ROUNDS=3] bash bench/sessions.sh [seconds] [connections]
# Writes bench/out/sessions.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-5}; CONNS=${2:-32}; ROUNDS=${ROUNDS:-3}
OUT=bench/out; mkdir -p "$OUT"
if [ -z "${BIN:-}" ]; then
  swift build -c release --product BFFWeb 2>&1 | tail -1
  BIN=$(swift build -c release --show-bin-path)/BFFWeb
fi
command -v wrk >/dev/null 2>&1 && [ -x /usr/sbin/nginx ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light; }
command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }
W=$(mktemp -d); chmod 755 "$W"
cleanup() { for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done; sleep 0.5; rm -rf "$W"; }
trap cleanup EXIT
ID=19540; REDIS=19541; MEM=19542; RED=19543
mkdir -p "$W/id" "$W/mem" "$W/red"
cat > "$W/id/nginx.conf" <<NGX
worker_processes 1; daemon off; pid $W/id/nginx.pid; error_log /dev/null crit;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$ID; default_type application/json; location /verify { return 200 '{"sub":"\$request_id","roles":["user"]}'; } } }
NGX
taskset -c 1 /usr/sbin/nginx -c "$W/id/nginx.conf" -p "$W/id" & echo $! > "$W/id.pid"
taskset -c 1 redis-server --port $REDIS --bind 127.0.0.1 --save '' --appendonly no --daemonize no > "$W/redis.log" 2>&1 & echo $! > "$W/redis.pid"
for _ in $(seq 50); do redis-cli -p $REDIS ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
for who in mem red; do
  port=$([ $who = mem ] && echo $MEM || echo $RED)
  redis=$([ $who = red ] && echo "\"redis\": {\"url\": \"redis://127.0.0.1:$REDIS\"}," || echo "")
  cat > "$W/$who/gateway.json" <<JSON
{ "listen": {"host": "127.0.0.1", "port": $port}, "threads": 1, "accessLog": false, "admin": {"enabled": false},
  "limits": {"maxConnections": 20000}, $redis
  "services": {"identity": {"instances": ["127.0.0.1:$ID"], "pool": {"maxConnections": 64, "maxIdle": 64}}},
  "auth": {"sessions": {"mode": "bearer", "identity": {"service": "identity"}}},
  "routes": [] }
JSON
  taskset -c 0 "$BIN" --config "$W/$who" > "$W/$who.log" 2>&1 & echo $! > "$W/$who.pid"
done
sleep 1
for port in $MEM $RED; do
  curl -sf -H 'Content-Type: application/json' -d '{"username":"ann","password":"pw"}' "http://127.0.0.1:$port/auth/login" | grep -q refresh_token \
    || { echo "login fails on port $port:"; cat "$W"/*.log; exit 1; }
done
[ "$(redis-cli -p $REDIS --scan --pattern 'bff:sess:*' | head -1)" != "" ] || { echo "the redis gateway keeps no sessions in Redis"; exit 1; }

cat > "$W/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"username":"ann","password":"pw"}'
wrk.headers["Content-Type"] = "application/json"
local failed = 0
response = function(status) if status ~= 200 then failed = failed + 1 end end
done = function() io.stderr:write("non-200: " .. failed .. "\n") end
LUA
cat > "$W/refresh.lua" <<'LUA'
local pool, failed = {}, 0
init = function(args) for line in io.lines(args[1]) do pool[#pool + 1] = line end end
request = function()
  local token = table.remove(pool) or "empty-pool"
  return wrk.format("POST", "/auth/refresh", {["Content-Type"] = "application/json"}, '{"refresh_token":"' .. token .. '"}')
end
response = function(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then pool[#pool + 1] = token else failed = failed + 1 end
end
done = function() io.stderr:write("non-200: " .. failed .. "\n") end
LUA
tokens() { # port -> file of CONNS fresh refresh tokens
  local f="$W/tokens-$1-$RANDOM"
  for _ in $(seq "$CONNS"); do
    curl -sf -H 'Content-Type: application/json' -d '{"username":"ann","password":"pw"}' "http://127.0.0.1:$1/auth/login" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])'
  done > "$f"
  echo "$f"
}
run_wrk() { # port kind pid -> "rps p50 p99 cpu_us failed"
  local u1 s1 u2 s2 args=()
  [ "$2" = refresh ] && args=(-- "$(tokens "$1")")
  read -r u1 s1 < <(awk '{print $14, $15}' /proc/"$3"/stat)
  taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$W/$2.lua" "http://127.0.0.1:$1/auth/$2" "${args[@]}" > "$W/wrk.txt" 2> "$W/wrk.err"
  read -r u2 s2 < <(awk '{print $14, $15}' /proc/"$3"/stat)
  awk -v c=$((u2 + s2 - u1 - s1)) -v t="$(getconf CLK_TCK)" -v f="$(awk '/non-200/ {print $2}' "$W/wrk.err")" \
      '/Requests\/sec/ {r=$2} /requests in/ {n=$1} $1=="50%" {a=$2} $1=="99%" {b=$2}
       END {printf "%s %s %s %.1f %s\n", r, a, b, c / t * 1e6 / n, f}' "$W/wrk.txt"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }'; }
CASES=(login-memory login-redis refresh-memory refresh-redis)
case_of() { case $1 in
  login-memory) echo "$MEM login $W/mem.pid" ;; login-redis) echo "$RED login $W/red.pid" ;;
  refresh-memory) echo "$MEM refresh $W/mem.pid" ;; refresh-redis) echo "$RED refresh $W/red.pid" ;; esac; }
: > "$W/rounds.txt"
for round in $(seq "$ROUNDS"); do
  for k in 0 1 2 3; do
    c=${CASES[$(( (round + k) % 4 ))]}
    read -r port kind pidfile < <(case_of "$c")
    echo "$c $(run_wrk "$port" "$kind" "$(cat "$pidfile")")" >> "$W/rounds.txt"
  done
done
cp "$W/rounds.txt" "$OUT/sessions-rounds.txt"
col() { awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$W/rounds.txt" | to_ms | median; }
{
  echo "### Sessions ($(date -u +%Y-%m-%d), bearer mode, wrk -t1 -c$CONNS -d${DURATION}s, median of $ROUNDS rotating rounds)"
  echo
  echo "| case | requests/s | p50 ms | p99 ms | gateway CPU µs per request | non-200 (median) |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for c in "${CASES[@]}"; do echo "| $c | $(col "$c" 2) | $(col "$c" 3) | $(col "$c" 4) | $(col "$c" 5) | $(col "$c" 6) |"; done
  echo
  echo "Rounds (case rps p50 p99 cpu_us non200):"
  echo '```'
  cat "$W/rounds.txt"
  echo '```'
} > "$OUT/sessions.md"
cat "$OUT/sessions.md"
