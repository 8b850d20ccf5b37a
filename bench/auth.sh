#!/usr/bin/env bash
# What JWT authentication costs a pass-through route on the cache-hit path (issue 8: ≥ 0.9× the same
# route without auth), and how fast signatures verify against OpenSSL's own ceiling (`openssl speed`).
#
# Part 1, pass-through: one gateway pinned to CPU 0 (metrics on), wrk and an nginx downstream on CPU 1,
# alternating rounds, medians:
#   plain  /plain/*  no stage
#   jwt    /jwt/*    policy.auth (ES256 provider; every request carries the same valid token, so after
#                    the first request on a loop it is a cache hit: SHA-256 of the token and a lookup),
#                    with claimsToHeaders sub → X-User-Id
# Part 2, verification on one core (taskset -c 1): `BFFWeb speed` (token parsing, base64url, signature)
# beside `openssl speed` for the same primitive (ecdsap256, ed25519, rsa2048; HMAC-SHA256 over 256 bytes).
#
# Usage: [BIN=path/to/BFFWeb] [ROUNDS=5] bash bench/auth.sh [seconds] [connections]
# Needs python3 with PyJWT and cryptography (pip install pyjwt cryptography) to mint the bench token.
# Writes bench/out/auth.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-6}; CONNS=${2:-64}; ROUNDS=${ROUNDS:-5}
OUT=bench/out; mkdir -p "$OUT"
if [ -z "${BIN:-}" ]; then
  swift build -c release --product BFFWeb 2>&1 | tail -1
  BIN=$(swift build -c release --show-bin-path)/BFFWeb
fi
command -v wrk >/dev/null 2>&1 && [ -x /usr/sbin/nginx ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light; }
W=$(mktemp -d); chmod 755 "$W"
cleanup() { for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done; sleep 0.5; rm -rf "$W"; }
trap cleanup EXIT
DOWN=19530; GW=19531; GW_ADMIN=19532
PAYLOAD='{"id":7,"username":"linus.hopper7","name":"Linus Hopper","email":"linus.hopper@example.com","avatarUrl":"https://cdn.example.com/avatars/7/512.jpg","tier":"plus","createdAt":"2026-01-22T19:35:00Z","address":{"street":"21 Main Street","city":"Lisbon","country":"PT","postalCode":"10259"}}'
mkdir -p "$W/down" "$W/gw"
cat > "$W/down/nginx.conf" <<NGX
worker_processes 1; daemon off; pid $W/down/nginx.pid; error_log /dev/null crit;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$DOWN; default_type application/json; location / { return 200 '$PAYLOAD'; } } }
NGX
taskset -c 1 /usr/sbin/nginx -c "$W/down/nginx.conf" -p "$W/down" & echo $! > "$W/down.pid"

# An ES256 key pair: the public JWK for the gateway, a token valid for an hour for wrk.
python3 - "$W" <<'PY'
import json, sys, time, jwt
from cryptography.hazmat.primitives.asymmetric import ec
w = sys.argv[1]
key = ec.generate_private_key(ec.SECP256R1())
jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
jwk.update({"kid": "bench", "alg": "ES256", "use": "sig"})
open(f"{w}/gw/jwks.json", "w").write(json.dumps({"keys": [jwk]}))
now = int(time.time())
claims = {"iss": "https://id.example.com", "aud": "bff-web", "sub": "248289761001", "iat": now, "exp": now + 3600,
          "roles": ["user"], "scope": "orders:read profile:read"}
open(f"{w}/token", "w").write(jwt.encode(claims, key, algorithm="ES256", headers={"kid": "bench"}))
PY
cat > "$W/gw/gateway.json" <<JSON
{ "listen": {"host": "127.0.0.1", "port": $GW}, "threads": 1, "accessLog": false, "admin": {"enabled": true, "port": $GW_ADMIN},
  "limits": {"maxConnections": 20000},
  "services": {"down": {"instances": ["127.0.0.1:$DOWN"], "pool": {"maxConnections": 64, "maxIdle": 64}}},
  "auth": {"jwt": {"providers": {"id": {"keys": [{"jwksFile": "jwks.json"}], "algorithms": ["ES256"],
                                         "issuers": ["https://id.example.com"], "audiences": ["bff-web"]}}}},
  "routes": [{"name": "plain", "path": "/plain/*", "proxy": {"service": "down"}},
             {"name": "jwt", "path": "/jwt/*", "proxy": {"service": "down"},
              "policy": {"auth": {"claimsToHeaders": {"sub": "X-User-Id"}}}}] }
JSON
taskset -c 0 "$BIN" --config "$W/gw" > "$W/gw.log" 2>&1 & echo $! > "$W/gw.pid"
sleep 1
AUTH="Authorization: Bearer $(cat "$W/token")"
curl -sf -H "$AUTH" "http://127.0.0.1:$GW/plain/users/7" > /dev/null
curl -sf -H "$AUTH" "http://127.0.0.1:$GW/jwt/users/7" > /dev/null || { echo "the token is refused:"; cat "$W/gw.log"; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW/jwt/users/7")" = 401 ] || { echo "the jwt route is open"; exit 1; }

run_wrk() { # path -> "rps p50 p99 cpu_us_per_request"
  local u1 s1 u2 s2 pid; pid=$(cat "$W/gw.pid")
  read -r u1 s1 < <(awk '{print $14, $15}' /proc/"$pid"/stat)
  taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "$AUTH" "http://127.0.0.1:$GW$1" > "$W/wrk.txt"
  read -r u2 s2 < <(awk '{print $14, $15}' /proc/"$pid"/stat)
  awk -v c=$((u2 + s2 - u1 - s1)) -v t="$(getconf CLK_TCK)" '/Requests\/sec/ {r=$2} /requests in/ {n=$1} $1=="50%" {a=$2} $1=="99%" {b=$2}
       END {printf "%s %s %s %.1f\n", r, a, b, c / t * 1e6 / n}' "$W/wrk.txt"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }'; }
CASES=(plain jwt)
for c in "${CASES[@]}"; do taskset -c 1 wrk -t1 -c"$CONNS" -d2s -H "$AUTH" "http://127.0.0.1:$GW/$c/users/7" > /dev/null; done
: > "$W/rounds.txt"
for round in $(seq "$ROUNDS"); do
  for k in 0 1; do
    c=${CASES[$(( (round + k) % 2 ))]}
    echo "$c $(run_wrk "/$c/users/7")" >> "$W/rounds.txt"
  done
done
cp "$W/rounds.txt" "$OUT/auth-rounds.txt"
col() { awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$W/rounds.txt" | to_ms | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# Part 2: verifications per second on one core, ours and OpenSSL's.
SECS=${SPEED_SECONDS:-3}  # whole seconds (openssl speed takes no fraction)
taskset -c 1 "$BIN" speed --seconds "$SECS" ES256 EdDSA RS256 HS256 > "$W/speed.txt"
taskset -c 1 openssl speed -seconds "$SECS" ecdsap256 ed25519 rsa2048 2>/dev/null > "$W/openssl.txt"
taskset -c 1 openssl speed -seconds "$SECS" -hmac sha256 2>/dev/null > "$W/openssl-hmac.txt"
ours() { awk -v a="$1" '$1 == a { print $3 }' "$W/speed.txt"; }
ours_sign() { awk -v a="$1" '$1 == a { print $5 }' "$W/speed.txt"; }
ossl_ec=$(awk '/ecdsa \(nistp256\)/ { print $(NF) }' "$W/openssl.txt")
ossl_ec_sign=$(awk '/ecdsa \(nistp256\)/ { print $(NF-1) }' "$W/openssl.txt")
ossl_ed=$(awk '/EdDSA \(Ed25519\)/ { print $(NF) }' "$W/openssl.txt")
ossl_rsa=$(awk '/^rsa 2048 bits/ { print $(NF) }' "$W/openssl.txt")
ossl_hmac=$(awk '/^hmac\(sha256\)/ { v = $5; sub(/k$/, "", v); printf "%.0f", v * 1000 / 256 }' "$W/openssl-hmac.txt")
{
  echo "### JWT auth ($(date -u +%Y-%m-%d), wrk -t1 -c$CONNS -d${DURATION}s, median of $ROUNDS alternating rounds)"
  echo
  echo "| case | requests/s | p50 ms | p99 ms | CPU µs per request |"
  echo "| --- | --- | --- | --- | --- |"
  for c in "${CASES[@]}"; do echo "| $c | $(col "$c" 2) | $(col "$c" 3) | $(col "$c" 4) | $(col "$c" 5) |"; done
  echo
  echo "- jwt (cache hit) / plain: **$(ratio "$(col jwt 2)" "$(col plain 2)")×** requests/s (issue: ≥ 0.9×)"
  echo
  echo "Verification on one core (\`BFFWeb speed --seconds $SECS\` vs \`openssl speed -seconds $SECS\`), per second:"
  echo
  echo "| primitive | ours: verify a JWT | OpenSSL: verify | ratio | ours: sign a JWT | OpenSSL: sign |"
  echo "| --- | --- | --- | --- | --- | --- |"
  echo "| ES256 (P-256) | $(ours ES256) | $ossl_ec | $(ratio "$(ours ES256)" "$ossl_ec") | $(ours_sign ES256) | $ossl_ec_sign |"
  echo "| EdDSA (Ed25519) | $(ours EdDSA) | $ossl_ed | $(ratio "$(ours EdDSA)" "$ossl_ed") | $(ours_sign EdDSA) | |"
  echo "| RS256 (2048) | $(ours RS256) | $ossl_rsa | $(ratio "$(ours RS256)" "$ossl_rsa") | $(ours_sign RS256) | |"
  echo "| HS256 (HMAC-SHA256, 256 B) | $(ours HS256) | $ossl_hmac | $(ratio "$(ours HS256)" "$ossl_hmac") | $(ours_sign HS256) | |"
  echo
  echo "Rounds (case rps p50 p99 cpu_us):"
  echo '```'
  cat "$W/rounds.txt"
  echo '```'
} > "$OUT/auth.md"
cat "$OUT/auth.md"
