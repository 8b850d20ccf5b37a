#!/usr/bin/env bash
# Pass-through proxy benchmark: BFFWeb (release) vs nginx (one worker, upstream keepalive), same downstream.
# Gateway / nginx pinned to CPU 0; wrk and the downstream pinned to CPU 1.
# Usage: bash bench/proxy.sh [duration_seconds] [connections]     Writes bench/out/proxy.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-64}
OUT=bench/out
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || true

need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

swift build -c release --product BFFWeb 2>&1 | tail -1
BIN=$(swift build -c release --show-bin-path)/BFFWeb

DOWN_PORT=19100; NGINX_PORT=19180; GW_PORT=19080
PAYLOAD='{"id":7,"username":"linus.hopper7","name":"Linus Hopper","email":"linus.hopper@example.com","avatarUrl":"https://cdn.example.com/avatars/7/512.jpg","tier":"plus","createdAt":"2026-01-22T19:35:00Z","address":{"street":"21 Main Street","city":"Lisbon","country":"PT","postalCode":"10259"}}'
WORK=$(mktemp -d)
cleanup() { for p in $(cat "$WORK"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$WORK"; }
trap cleanup EXIT

# Downstream: nginx returning a fixed JSON document, on CPU 1.
mkdir -p "$WORK/down" "$WORK/proxy"
cat > "$WORK/down/nginx.conf" <<NGX
worker_processes 1; daemon off; pid $WORK/down/nginx.pid; error_log /dev/null crit;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$DOWN_PORT; location / { default_type application/json; return 200 '$PAYLOAD'; } } }
NGX
taskset -c 1 "$NGINX" -c "$WORK/down/nginx.conf" -p "$WORK/down" & echo $! > "$WORK/down.pid"

# nginx as the proxy, one worker on CPU 0.
cat > "$WORK/proxy/nginx.conf" <<NGX
worker_processes 1; daemon off; pid $WORK/proxy/nginx.pid; error_log /dev/null crit;
worker_rlimit_nofile 65536;
events { worker_connections 20000; }
http { access_log off; keepalive_requests 1000000;
  upstream down { server 127.0.0.1:$DOWN_PORT; keepalive 64; }
  server { listen 127.0.0.1:$NGINX_PORT;
    location / { proxy_pass http://down; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
NGX
taskset -c 0 "$NGINX" -c "$WORK/proxy/nginx.conf" -p "$WORK/proxy" & echo $! > "$WORK/nginx.pid"

# The gateway, one loop thread on CPU 0, access log off (nginx's is off too).
mkdir -p "$WORK/gw"
cat > "$WORK/gw/gateway.json" <<JSON
{ "name": "bff-web", "listen": {"host": "127.0.0.1", "port": $GW_PORT}, "threads": 1, "accessLog": false,
  "limits": {"maxConnections": 20000},
  "services": {"down": {"instances": ["127.0.0.1:$DOWN_PORT"], "pool": {"maxConnections": 64, "maxIdle": 64}}},
  "routes": [{"name": "pass", "path": "/*", "proxy": {"service": "down"}}] }
JSON
taskset -c 0 "$BIN" --config "$WORK/gw" > "$WORK/gw.log" 2>&1 & echo $! > "$WORK/gw.pid"
sleep 1
curl -sf "http://127.0.0.1:$GW_PORT/api/users/7" > /dev/null
curl -sf "http://127.0.0.1:$NGINX_PORT/api/users/7" > /dev/null

rss_peak() { awk '/VmHWM/ {print $2}' /proc/"$1"/status; }
rss_now() { awk '/VmRSS/ {print $2}' /proc/"$1"/status; }
worker_pid() { pgrep -P "$(cat "$WORK/nginx.pid")" | head -1; }

run_wrk() { # name port pid -> "rps p50 p99 user_us sys_us" (CPU time per request of the proxy process)
  local rps p50 p99 u1 s1 u2 s2 n
  read -r u1 s1 < <(awk '{print $14, $15}' /proc/"$3"/stat)
  taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$2/api/users/7" > "$OUT/wrk-$1.txt"
  read -r u2 s2 < <(awk '{print $14, $15}' /proc/"$3"/stat)
  rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk-$1.txt")
  n=$(awk '/requests in/ {print $1}' "$OUT/wrk-$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "$OUT/wrk-$1.txt")
  p99=$(awk '$1=="99%" {print $2}' "$OUT/wrk-$1.txt")
  awk -v r="$rps" -v a="$p50" -v b="$p99" -v u=$((u2 - u1)) -v s=$((s2 - s1)) -v n="$n" -v t="$(getconf CLK_TCK)" \
    'BEGIN { printf "%s %s %s %.1f %.1f\n", r, a, b, u / t * 1e6 / n, s / t * 1e6 / n }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Warm-up (pools fill, pages fault in), then ROUNDS alternating runs; medians are reported.
ROUNDS=${ROUNDS:-5}
NGW=$(worker_pid)
taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$NGINX_PORT/api/users/7" > /dev/null
taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$GW_PORT/api/users/7" > /dev/null
: > "$OUT/rounds.txt"
for round in $(seq "$ROUNDS"); do
  # Alternating which goes first (ABBA), so neither always runs on a machine a few seconds warmer.
  if [ $((round % 2)) -eq 1 ]; then
    echo "nginx $(run_wrk nginx $NGINX_PORT "$NGW")" >> "$OUT/rounds.txt"
    echo "gateway $(run_wrk gateway $GW_PORT "$(cat "$WORK/gw.pid")")" >> "$OUT/rounds.txt"
  else
    echo "gateway $(run_wrk gateway $GW_PORT "$(cat "$WORK/gw.pid")")" >> "$OUT/rounds.txt"
    echo "nginx $(run_wrk nginx $NGINX_PORT "$NGW")" >> "$OUT/rounds.txt"
  fi
done
# This VM's speed drifts by up to 20 % within minutes: each round's own pair (back to back) cancels it;
# the median of those ratios is the steadier figure, reported beside the ratio of the medians.
PAIR_RATIO=$(awk '{ r = int((NR - 1) / 2); v[r, $1] = $2 } END { for (i = 0; i <= r; i++) printf "%.4f\n", v[i, "gateway"] / v[i, "nginx"] }' "$OUT/rounds.txt" | sort -g | awk '{ x[NR] = $1 } END { printf "%.2f", x[int((NR + 1) / 2)] }')
PAIR_CPU=$(awk '{ r = int((NR - 1) / 2); v[r, $1] = $5 + $6 } END { for (i = 0; i <= r; i++) printf "%.4f\n", v[i, "nginx"] / v[i, "gateway"] }' "$OUT/rounds.txt" | sort -g | awk '{ x[NR] = $1 } END { printf "%.2f", x[int((NR + 1) / 2)] }')
# wrk prints latencies as 735.00us, 1.02ms or 1.10s: everything in ms before the median.
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }'; }
col() { awk -v who="$1" -v c="$2" '$1 == who { print $c }' "$OUT/rounds.txt" | to_ms | median; }
NG_RPS=$(col nginx 2); NG_P50=$(col nginx 3); NG_P99=$(col nginx 4); NG_US=$(col nginx 5); NG_SYS=$(col nginx 6)
GW_RPS=$(col gateway 2); GW_P50=$(col gateway 3); GW_P99=$(col gateway 4); GW_US=$(col gateway 5); GW_SYS=$(col gateway 6)
NG_RSS=$(rss_peak "$NGW")
GW_RSS=$(rss_peak "$(cat "$WORK/gw.pid")")

# 10,000 idle keep-alive connections: resident memory while they are open.
idle_rss() { # port pid
  python3 - "$1" "$2" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
socks = []
req = b"GET /api/users/7 HTTP/1.1\r\nHost: bench\r\n\r\n"
for i in range(10000):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
for s in socks:
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
time.sleep(1)
alive = 0
for s in socks:
    s.setblocking(False)
    try:
        alive += 0 if s.recv(1) == b"" else 1
    except BlockingIOError:
        alive += 1
rss = [l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0]
print(alive, rss)
PY
}
read -r GW_IDLE_OPEN GW_IDLE_RSS < <(idle_rss $GW_PORT "$(cat "$WORK/gw.pid")")
read -r NG_IDLE_OPEN NG_IDLE_RSS < <(idle_rss $NGINX_PORT "$(worker_pid)")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cat > "$OUT/proxy.md" <<MD
### Pass-through proxy ($(date -u +%Y-%m-%d), wrk -t1 -c$CONNS -d${DURATION}s, ~400-byte JSON, median of $ROUNDS alternating rounds)

| | requests/s | p50 | p99 | CPU per request (user + sys) | peak RSS |
| --- | --- | --- | --- | --- | --- |
| nginx $($NGINX -v 2>&1 | sed 's/.*nginx\///') (1 worker, upstream keepalive 64) | $NG_RPS | ${NG_P50}ms | ${NG_P99}ms | ${NG_US} + ${NG_SYS} µs | $((NG_RSS / 1024)) MB |
| BFFWeb (1 loop thread, pool 64) | $GW_RPS | ${GW_P50}ms | ${GW_P99}ms | ${GW_US} + ${GW_SYS} µs | $((GW_RSS / 1024)) MB |
| **gateway / nginx** | **$(ratio "$GW_RPS" "$NG_RPS")×** | $(ratio "$GW_P50" "$NG_P50")× | $(ratio "$GW_P99" "$NG_P99")× | | |

Per round (each round's pair, back to back; median over rounds): requests/s **${PAIR_RATIO}×** nginx's; CPU per request
nginx's / ours **${PAIR_CPU}×** (above 1: we spend less).

Rounds (name rps p50 p99 user_us sys_us):
\`\`\`
$(cat "$OUT/rounds.txt")
\`\`\`

10,000 idle keep-alive connections (one request each, then left open): BFFWeb $GW_IDLE_OPEN open, **$((GW_IDLE_RSS / 1024)) MB** resident;
nginx worker $NG_IDLE_OPEN open, $((NG_IDLE_RSS / 1024)) MB resident.
MD
cat "$OUT/proxy.md"
