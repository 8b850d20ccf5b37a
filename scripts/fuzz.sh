#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses in Tests/Fuzz/ (not part of the SwiftPM package).
#
#   scripts/fuzz.sh [seconds-per-target] [target...]      (default: 60 s, every target; 0 = build only)
#
# Targets: http-request http-response json templates config redis-reply.
#
#   Sources/AggregationKit/**/*.swift ─▶ libAggregationKit.a (instrumented once, -enable-testing)
#   Tests/Fuzz/<Harness>.swift + lib ─▶ .build-fuzz/bin/<target>      (one small link each)
#   fixtures + Tests/Fuzz/Seeds      ─▶ .build-fuzz/seeds/<target>     (regenerated every run)
#   seeds ─▶ .build-fuzz/corpus/<target> (kept between runs, so longer runs build on earlier ones)
#
# A crash, an assertion, a hang (-timeout) or an out-of-memory stops that target and leaves the input in
# .build-fuzz/artifacts/<target>/; the script goes on with the other targets and exits 1 at the end.
# Reproduce with `.build-fuzz/bin/<target> <file>`.
#
# Environment: FUZZ_SANITIZERS (default "fuzzer,address"; falls back to "fuzzer" if ASan does not build),
# FUZZ_JOBS (parallel fuzzing processes per target, default 1), SWIFTC (default: swiftc on PATH).
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
all_targets=(http-request http-response json templates config redis-reply)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

harness() {
  case "$1" in
    http-request) echo HTTPRequestParser ;;
    http-response) echo HTTPResponseParser ;;
    json) echo JSONRoundTrip ;;
    templates) echo Templates ;;
    config) echo Configuration ;;
    redis-reply) echo RedisReplyParser ;;
    *) echo "unknown target '$1' (known: ${all_targets[*]})" >&2; exit 2 ;;
  esac
}
for t in "${targets[@]}"; do harness "$t" >/dev/null || exit 2; done

out=.build-fuzz
# Swift's own crash backtracer would race ASan and libFuzzer for the fatal signal; let them report it.
export SWIFT_BACKTRACE=enable=no
swiftc=${SWIFTC:-swiftc}
sanitizers=${FUZZ_SANITIZERS:-fuzzer,address}
mkdir -p "$out/lib" "$out/bin" "$out/seeds" "$out/corpus" "$out/artifacts"
command -v python3 >/dev/null || { echo "fuzz.sh: python3 is needed to write the seed corpora" >&2; exit 2; }

# lld links the instrumented binaries in a fraction of a second (gold takes longer and warns about ASan symbols).
linker=()
if [ -x "$(dirname "$(command -v "$swiftc")")/ld.lld" ] || command -v ld.lld >/dev/null; then linker=(-use-ld=lld); fi

# ── Build ───────────────────────────────────────────────────────────────────────────────────────────────
sources=$(find Sources/AggregationKit -name '*.swift' | sort)
build_library() {
  "$swiftc" -sanitize="$1" -parse-as-library -module-name AggregationKit -O -wmo -enable-testing \
    -I Sources/CLinuxIO -I Sources/COpenSSL $sources \
    -emit-library -static -emit-module -emit-module-path "$out/lib/AggregationKit.swiftmodule" \
    -o "$out/lib/libAggregationKit.a"
}
stamp="$out/lib/sanitizers"
if [ ! -f "$out/lib/libAggregationKit.a" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$sanitizers" ] \
   || [ -n "$(find Sources/AggregationKit -name '*.swift' -newer "$out/lib/libAggregationKit.a" | head -1)" ]; then
  started=$SECONDS
  echo "fuzz.sh: building AggregationKit with -sanitize=$sanitizers"
  if ! build_library "$sanitizers"; then
    if [ "$sanitizers" != fuzzer ]; then
      echo "fuzz.sh: -sanitize=$sanitizers does not build here; falling back to -sanitize=fuzzer (no ASan)" >&2
      sanitizers=fuzzer
      build_library fuzzer || exit 2
    else
      exit 2
    fi
  fi
  echo "$sanitizers" > "$stamp"
  echo "fuzz.sh: library built in $((SECONDS - started)) s"
fi
sanitizers=$(cat "$stamp")
for t in "${targets[@]}"; do
  h=$(harness "$t")
  bin="$out/bin/$t"
  if [ ! -x "$bin" ] || [ "Tests/Fuzz/$h.swift" -nt "$bin" ] || [ "$out/lib/libAggregationKit.a" -nt "$bin" ]; then
    "$swiftc" -sanitize="$sanitizers" -parse-as-library -module-name "Fuzz$h" -O \
      -I "$out/lib" -I Sources/CLinuxIO -I Sources/COpenSSL "Tests/Fuzz/$h.swift" "$out/lib/libAggregationKit.a" \
      -lssl -lcrypto "${linker[@]}" -o "$bin" || exit 2
  fi
done

[ "$seconds" -gt 0 ] || exit 0

# ── Seed corpora ────────────────────────────────────────────────────────────────────────────────────────
# HTTP inputs start with three control bytes (flags, split offset); each raw message is written with a few.
python3 - "$out/seeds" <<'PY' || exit 2
import base64, glob, hashlib, json, os, shutil, sys

root = sys.argv[1]
fixtures = "Tests/AggregationKitTests/Fixtures"

def put(target, data):
    folder = os.path.join(root, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)

def read(path):
    with open(path, "rb") as f:
        return f.read()

for target in ("http-request", "http-response", "json", "templates", "config", "redis-reply"):
    shutil.rmtree(os.path.join(root, target), ignore_errors=True)

def http(target, message, flag_sets):
    for flags in flag_sets:
        for split in (len(message) // 2, len(message) - 1 if message else 0):
            put(target, bytes([flags, split & 255, split >> 8 & 255]) + message)

with open(os.path.join(fixtures, "llhttp-requests/cases.json")) as f:
    for case in json.load(f):
        http("http-request", base64.b64decode(case["request_b64"]), (0, 1))
for path in sorted(glob.glob("Tests/Fuzz/Seeds/http-response/*")):
    http("http-response", read(path), (0, 1, 2))

contracts = sorted(glob.glob("contracts/*/gateway.json") + glob.glob("contracts/*/endpoints/*.json"))
for path in sorted(glob.glob(os.path.join(fixtures, "json-test-suite/*/*.json"))
                   + glob.glob(os.path.join(fixtures, "json-schema-test-suite/**/*.json"), recursive=True)) + contracts:
    put("json", read(path))

for path in contracts:
    put("config", read(path))
    if "/endpoints/" in path:
        endpoint = json.loads(read(path))
        if "response" in endpoint:
            put("templates", json.dumps(endpoint["response"]).encode())
for path in sorted(glob.glob("Tests/Fuzz/Seeds/templates/*.json")):
    put("templates", read(path))

# Redis replies: every RESP3 type, nested, and several in a row; each with normal and small limits.
replies = [b"+OK\r\n", b"-ERR unknown command\r\n", b":-42\r\n", b"$5\r\nhello\r\n", b"$-1\r\n", b"*-1\r\n",
           b"_\r\n", b"#t\r\n", b",3.25\r\n", b",-inf\r\n", b"(3492890328409238509324850943850943825024385\r\n",
           b"!21\r\nSYNTAX invalid syntax\r\n", b"=15\r\ntxt:Some string\r\n",
           b"*3\r\n:1\r\n$1\r\na\r\n_\r\n", b"%2\r\n+first\r\n:1\r\n+second\r\n*1\r\n~1\r\n#f\r\n",
           b">3\r\n+message\r\n+chan\r\n$2\r\nhi\r\n", b"|1\r\n+ttl\r\n:3600\r\n*2\r\n:1\r\n:2\r\n",
           b"+OK\r\n$3\r\nabc\r\n:7\r\n*0\r\n%0\r\n"]
for reply in replies:
    for flags in (0, 1):
        put("redis-reply", bytes([flags, len(reply) // 2, 0]) + reply)
PY

# ── Run ─────────────────────────────────────────────────────────────────────────────────────────────────
failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$out/corpus/$t"
  artifacts="$out/artifacts/$t/"
  mkdir -p "$corpus" "$artifacts"
  cp -n "$out/seeds/$t/"* "$corpus/" 2>/dev/null || true
  # Inputs that once failed are replayed first: a regression fails at once, before any fuzzing.
  regressions="Tests/AggregationKitTests/Fixtures/fuzz-regressions/$t"
  if [ -d "$regressions" ] && [ -n "$(ls "$regressions")" ]; then
    if ! "$out/bin/$t" -runs=0 "$regressions"/* >"$out/$t.regressions.log" 2>&1; then
      echo "fuzz.sh: $t: a saved regression input fails again:"
      grep -E 'Running: |Fatal error|==ERROR|SUMMARY' "$out/$t.regressions.log" | head -10
      failed+=("$t")
      summary+=("$t: regression input failed (see $out/$t.regressions.log)")
      continue
    fi
  fi
  case "$t" in
    http-request|http-response) dict=Tests/Fuzz/Dictionaries/http.dict; max_len=4096 ;;
    json) dict=Tests/Fuzz/Dictionaries/json.dict; max_len=8192 ;;
    templates) dict=Tests/Fuzz/Dictionaries/templates.dict; max_len=8192 ;;
    config) dict=Tests/Fuzz/Dictionaries/config.dict; max_len=16384 ;;
    redis-reply) dict=Tests/Fuzz/Dictionaries/redis.dict; max_len=4096 ;;
  esac
  log="$out/$t.log"
  touch "$out/$t.started"
  echo "fuzz.sh: $t for ${seconds} s (corpus $(ls "$corpus" | wc -l) files, -sanitize=$sanitizers)"
  jobs=()
  [ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs=(-fork="$FUZZ_JOBS" -ignore_crashes=0)
  "$out/bin/$t" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="$max_len" \
    -dict="$dict" -artifact_prefix="$artifacts" -print_final_stats=1 "${jobs[@]}" >"$log" 2>&1
  status=$?
  executions=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  [ -n "$executions" ] || executions=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  line="$t: ${executions:-?} executions in ${seconds} s, corpus $(ls "$corpus" | wc -l) files"
  if [ "$status" -ne 0 ]; then
    line="$line — FAILED (exit $status)"
    failed+=("$t")
    grep -E '^(==[0-9]+==ERROR|Fatal error|SUMMARY|artifact_prefix|Test unit written)|^[A-Za-z/._-]+\.swift:[0-9]+: Fatal error' "$log" | head -20
    grep -A25 -m1 -E '==ERROR|Fatal error|deadly signal' "$log" | head -40
    for input in $(find "$artifacts" -type f -newer "$out/$t.started"); do
      echo "fuzz.sh: input left in $input; reproduce with: $out/bin/$t $input"
    done
    echo "fuzz.sh: full log in $log"
  fi
  echo "fuzz.sh: $line"
  summary+=("$line")
done

echo
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failing targets: ${failed[*]}"
  exit 1
fi
