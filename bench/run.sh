#!/usr/bin/env bash
# The benchmark: builds the release server, starts it on a fresh database,
# prepares data through the API, loads it with wrk (or oha) from a separate process on
# loopback and prints a Markdown table. See bench/README.md.
#
#   bench/run.sh
#
# Settings (environment):
#   BENCH_DURATION=10      seconds measured per scenario (after the warm-up)
#   BENCH_WARMUP=3         seconds of warm-up per scenario (not measured)
#   BENCH_CONNECTIONS=32   connections wrk keeps open
#   BENCH_THREADS=2        wrk threads
#   BENCH_LOADGEN          wrk (Debian's, installed with apt-get when missing) or
#                          oha (installed with cargo into target/bench-tools);
#                          default: wrk if it is or can be installed, else oha
#   BENCH_STREAMS=2000     concurrent streamed replies of scenario 6
#   BENCH_BIG_MESSAGES=10000  messages in the large session of scenario 5
#   BENCH_DATABASE_URL     also run every scenario on this database (PostgreSQL,
#                          passed to the server as DATABASE_URL; use an empty one)
#   BENCH_KEEP=1           keep the work folder (logs, seed files)
#   BENCH_PROFILE=debug    use a debug build (only to check the script: its
#                          numbers mean nothing)
#   BENCH_BIN=path         measure this server binary instead of the one built
#                          (an older build, to compare two versions in one session)
set -euo pipefail

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
STREAMS=${BENCH_STREAMS:-2000}
BIG_MESSAGES=${BENCH_BIG_MESSAGES:-10000}
# The slow upstream of scenario 6.
PIECES=20
PIECE_MS=50

cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/richesreach-bench.XXXXXX")
PIDS=()

cleanup() {
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "work folder kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

log() { echo "bench: $*" >&2; }

# --- tools -------------------------------------------------------------------

# Picks the load generator: BENCH_LOADGEN (wrk or oha) if set; else wrk when
# it is installed or apt-get can install it; else oha, installed with cargo
# into target/bench-tools (a few minutes, once).
choose_loadgen() {
    LOADGEN=${BENCH_LOADGEN:-}
    OHA=$ROOT/target/bench-tools/bin/oha
    command -v oha >/dev/null && OHA=$(command -v oha)
    if [ -z "$LOADGEN" ]; then
        if command -v wrk >/dev/null || install_wrk; then LOADGEN=wrk; else LOADGEN=oha; fi
    fi
    case $LOADGEN in
    wrk) command -v wrk >/dev/null || install_wrk || { log "cannot install wrk"; exit 1; } ;;
    oha)
        if [ ! -x "$OHA" ]; then
            log "installing oha with cargo into target/bench-tools"
            cargo install oha --locked --quiet --root "$ROOT/target/bench-tools"
            OHA=$ROOT/target/bench-tools/bin/oha
        fi
        ;;
    *) log "BENCH_LOADGEN must be wrk or oha"; exit 1 ;;
    esac
    log "load generator: $LOADGEN"
}

# Debian's wrk, as root or with passwordless sudo.
install_wrk() {
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    command -v apt-get >/dev/null || return 1
    log "wrk is missing: installing Debian's wrk"
    $sudo apt-get install -y wrk >/dev/null 2>&1 ||
        { $sudo apt-get update >/dev/null 2>&1 && $sudo apt-get install -y wrk >/dev/null 2>&1; }
}

# load SECONDS BASE: one run of the load generator over BENCH_PATHS (round
# robin with wrk, at random with oha); prints the RESULT line of bench/load.lua.
load() {
    local seconds=$1 base=$2
    if [ "$LOADGEN" = wrk ]; then
        wrk -t"${LOAD_THREADS:-$THREADS}" -c"${LOAD_CONNECTIONS:-$CONNECTIONS}" \
            -d"${seconds}s" -s "$ROOT/bench/load.lua" \
            "$base${BENCH_PATHS%% *}"
        return
    fi
    local p
    for p in $BENCH_PATHS; do echo "$base$p"; done >"$WORK/urls.txt"
    local args=(-z "${seconds}s" -w -c "${LOAD_CONNECTIONS:-$CONNECTIONS}" --no-tui --output-format json
        --urls-from-file -m "$BENCH_METHOD")
    [ -z "$BENCH_TOKEN" ] || args+=(-H "Authorization: Bearer $BENCH_TOKEN")
    [ -z "$BENCH_BODY" ] || args+=(-d "$BENCH_BODY" -T application/json)
    "$OHA" "${args[@]}" "$WORK/urls.txt" | "$CLIENT" oha-result
}

build() {
    local profile=${BENCH_PROFILE:-release} flag=--release
    [ "$profile" = release ] || flag=""
    log "building the $profile server and the benchmark's examples"
    cargo build $flag --quiet --bin richesreach-chat --example mock_upstream --example bench_client
    BIN=${BENCH_BIN:-$ROOT/target/$profile/richesreach-chat}
    MOCK=$ROOT/target/$profile/examples/mock_upstream
    CLIENT=$ROOT/target/$profile/examples/bench_client
}

# --- process measurements ----------------------------------------------------

CLK_TCK=$(getconf CLK_TCK)

# utime + stime of a process, in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# Starts a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM).
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }

# Peak resident set size since the last reset, in MiB.
peak_mib() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# --- the server and the mock upstream ----------------------------------------

# start_server NAME DATABASE_URL [ENV=VALUE...]: sets SERVER_PID and BASE.
start_server() {
    local name=$1 url=$2
    shift 2
    local logfile=$WORK/$name.log
    env BIND=127.0.0.1:0 DATABASE_URL="$url" LOG_FORMAT=json RUST_LOG=info \
        JWT_SECRET=bench-secret-that-is-long-enough-for-hs256 BCRYPT_COST=4 \
        ACCESS_TOKEN_TTL=86400 RATE_LIMIT_AUTH_PER_MIN=0 RATE_LIMIT_REGISTER_PER_MIN=0 \
        RATE_LIMIT_MESSAGES_PER_MIN=0 "$@" "$BIN" serve >"$logfile" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    local port=""
    for _ in $(seq 1000); do
        port=$(grep -o '"port":[0-9]*' "$logfile" | head -1 | cut -d: -f2 || true)
        [ -n "$port" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$logfile" >&2; exit 1; }
        sleep 0.01
    done
    [ -n "$port" ] || { log "the server did not start"; cat "$logfile" >&2; exit 1; }
    BASE=http://127.0.0.1:$port
    until curl -sf "$BASE/healthz" >/dev/null; do sleep 0.01; done
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

# start_mock: sets MOCK_URL (the OpenAI base URL) and MOCK_PID.
start_mock() {
    "$MOCK" --port 0 --pieces "$PIECES" --first-ms "$PIECE_MS" --interval-ms "$PIECE_MS" \
        >"$WORK/mock.out" 2>&1 &
    MOCK_PID=$!
    PIDS+=("$MOCK_PID")
    for _ in $(seq 200); do
        MOCK_URL=$(sed -n 's/^listening on //p' "$WORK/mock.out")
        [ -n "$MOCK_URL" ] && return
        sleep 0.05
    done
    log "the mock upstream did not start"
    exit 1
}

# --- scenarios ---------------------------------------------------------------

declare -A ROW_RPS ROW_P50 ROW_P99 ROW_ERR ROW_CPU ROW_CPU_REQ ROW_RSS ROW_WAIT ROW_NOTE

# One metric's value (summed over its series) from /metrics; 0 when absent
# or when BASE is not the service (the mock).
metric() {
    { curl -sf "$1/metrics" || true; } |
        awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $NF} END {print s + 0}'
}

# "sum count" of the database pool's wait histogram.
pool_wait() { echo "$(metric "$1" db_pool_wait_seconds_sum) $(metric "$1" db_pool_wait_seconds_count)"; }

# mean_wait "SUM COUNT" "SUM COUNT": the mean wait between two readings, in µs.
mean_wait() {
    awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " "); n = y[2] - x[2];
        if (n > 0) printf "%.0f", (y[1] - x[1]) / n * 1e6; else print "—"}'
}

# field NAME "a=1 b=2": the value of NAME.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# measure KEY PID URL_BASE METHOD "PATHS" BODY TOKEN: warm-up, then a measured run.
measure() {
    local key=$1 pid=$2 base=$3
    export BENCH_METHOD=$4 BENCH_PATHS=$5 BENCH_BODY=$6 BENCH_TOKEN=$7
    load "$WARMUP" "$base" >/dev/null
    local before waited
    waited=$(pool_wait "$base")
    before=$(cpu_ticks "$pid")
    reset_peak "$pid"
    local out
    out=$(load "$DURATION" "$base")
    local after
    after=$(cpu_ticks "$pid")
    ROW_WAIT[$key]=$(mean_wait "$waited" "$(pool_wait "$base")")
    local result
    result=$(grep '^RESULT' <<<"$out") || { log "$key: no result from $LOADGEN"; echo "$out" >&2; exit 1; }
    local requests seconds p50 p99 errors
    requests=$(field requests "$result") seconds=$(field seconds "$result")
    p50=$(field p50_us "$result") p99=$(field p99_us "$result") errors=$(field errors "$result")
    ROW_RPS[$key]=$(awk -v r="$requests" -v s="$seconds" 'BEGIN {printf "%.0f", r / s}')
    ROW_P50[$key]=$(awk -v v="$p50" 'BEGIN {printf "%.2f", v / 1000}')
    ROW_P99[$key]=$(awk -v v="$p99" 'BEGIN {printf "%.2f", v / 1000}')
    ROW_ERR[$key]=$errors
    ROW_CPU[$key]=$(awk -v t=$((after - before)) -v h="$CLK_TCK" 'BEGIN {printf "%.2f", t / h}')
    ROW_CPU_REQ[$key]=$(awk -v t=$((after - before)) -v h="$CLK_TCK" -v r="$requests" \
        'BEGIN {if (r > 0) printf "%.0f", t / h / r * 1e6; else print "-"}')
    ROW_RSS[$key]=$(peak_mib "$pid")
    log "$key: ${ROW_RPS[$key]}/s p50 ${ROW_P50[$key]} ms p99 ${ROW_P99[$key]} ms errors $errors"
}


SEND='{"content":"How big should my emergency fund be?"}'

# run_backend LABEL DATABASE_URL_OR_EMPTY
run_backend() {
    local label=$1 shared_url=$2
    local run_id
    run_id=bench$(date +%s%N)
    local url

    # Offline responder: scenarios 7, 3, 4, 5 and 1.
    url=${shared_url:-$WORK/offline-$run_id/chat.db}
    start_server "offline-$label" "$url"
    local offline=$SERVER_PID
    log "[$label] seeding (offline server $BASE)"
    "$CLIENT" seed --base "$BASE" --run-id "$run_id-o" --big-messages "$BIG_MESSAGES" \
        --out "$WORK/offline.env"
    # shellcheck disable=SC1091
    source "$WORK/offline.env"
    local send_paths="" s
    for s in $SEND_SESSIONS; do send_paths+="/sessions/$s/messages "; done

    measure 7 "$offline" "$BASE" GET /healthz "" ""
    measure 3 "$offline" "$BASE" GET "/sessions/$HISTORY_SESSION/messages?order=desc&limit=50" "" "$TOKEN"
    measure 4 "$offline" "$BASE" GET "/sessions?limit=20" "" "$LIST_TOKEN"
    measure 5h "$offline" "$BASE" GET "/sessions/$BIG_SESSION/messages?order=desc&limit=50" "" "$TOKEN"
    measure 1 "$offline" "$BASE" POST "$send_paths" "$SEND" "$TOKEN"
    measure 5s "$offline" "$BASE" POST "/sessions/$BIG_SESSION/messages" "$SEND" "$TOKEN"
    measure 1one "$offline" "$BASE" POST "/sessions/${SEND_SESSIONS%% *}/messages" "$SEND" "$TOKEN"
    startup_ms "$url" "$label"

    # Provider path against the mock: scenarios 2 and 6.
    start_mock
    local mock_body='{"model":"mock-model","messages":[{"role":"user","content":"How big should my emergency fund be?"}]}'
    measure 2m "$MOCK_PID" "${MOCK_URL%/v1}" POST /v1/chat/completions "$mock_body" ""
    LOAD_CONNECTIONS=1 LOAD_THREADS=1 \
        measure 2m1 "$MOCK_PID" "${MOCK_URL%/v1}" POST /v1/chat/completions "$mock_body" ""
    url=${shared_url:-$WORK/provider-$run_id/chat.db}
    start_server "provider-$label" "$url" OPENAI_API_KEY=bench-key OPENAI_BASE_URL="$MOCK_URL" \
        OPENAI_MODEL=mock-model LLM_TIMEOUT_SECS=30
    local provider=$SERVER_PID
    log "[$label] seeding (provider server $BASE)"
    "$CLIENT" seed --base "$BASE" --run-id "$run_id-p" --big-messages 0 --history-messages 0 \
        --list-sessions 0 --stream-sessions "$STREAMS" --out "$WORK/provider.env" \
        --streams-out "$WORK/streams.tsv"
    # shellcheck disable=SC1091
    source "$WORK/provider.env"
    send_paths=""
    for s in $SEND_SESSIONS; do send_paths+="/sessions/$s/messages "; done
    measure 2 "$provider" "$BASE" POST "$send_paths" "$SEND" "$TOKEN"
    LOAD_CONNECTIONS=1 LOAD_THREADS=1 measure 21 "$provider" "$BASE" POST "$send_paths" "$SEND" "$TOKEN"

    log "[$label] scenario 6: $STREAMS concurrent streams"
    local before after line waited
    waited=$(pool_wait "$BASE")
    before=$(cpu_ticks "$provider")
    reset_peak "$provider"
    line=$("$CLIENT" streams --base "$BASE" --sessions "$WORK/streams.tsv" --pieces "$PIECES" \
        --first-ms "$PIECE_MS" --mock "$MOCK_URL" | grep '^STREAMS')
    after=$(cpu_ticks "$provider")
    ROW_WAIT[6]=$(mean_wait "$waited" "$(pool_wait "$BASE")")
    log "$line"
    local kv
    declare -A S
    for kv in ${line#STREAMS }; do S[${kv%%=*}]=${kv#*=}; done
    ROW_RPS[6]=$(awk -v c="${S[complete]}" -v e="${S[elapsed_s]}" 'BEGIN {printf "%.0f", c / e}')
    ROW_P50[6]=${S[first_p50_ms]}
    ROW_P99[6]=${S[first_p99_ms]}
    ROW_ERR[6]=$((S[count] - S[complete] + S[count] - S[stored]))
    ROW_CPU[6]=$(awk -v t=$((after - before)) -v h="$CLK_TCK" 'BEGIN {printf "%.2f", t / h}')
    ROW_CPU_REQ[6]=$(awk -v t=$((after - before)) -v h="$CLK_TCK" -v r="${S[count]}" \
        'BEGIN {printf "%.0f", t / h / r * 1e6}')
    ROW_RSS[6]=$(peak_mib "$provider")
    ROW_NOTE[6]="${S[complete]}/${S[count]} complete, ${S[stored]}/${S[count]} stored; first delta p50/p99 ${S[first_p50_ms]}/${S[first_p99_ms]} ms vs the upstream's own ${S[upstream_first_ms]} ms; whole reply p50/p99 ${S[total_p50_ms]}/${S[total_p99_ms]} ms; against the mock's own clock (${S[timed]} streams): the request reached the upstream after p50/p99 ${S[reach_p50_ms]}/${S[reach_p99_ms]} ms, and the upstream's first piece reached the client ${S[relay_p50_ms]}/${S[relay_p99_ms]} ms after it was sent"
    ROW_NOTE[fallbacks]=$(metric "$BASE" llm_fallbacks_total)
    stop_server
    kill "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true

    print_table "$label"
}

# Time from starting the server on the existing database to /healthz
# answering (ROW_NOTE[start], in ms; polled every 10 ms).
startup_ms() {
    stop_server
    local started ended
    started=$(date +%s%N)
    start_server "restart-$2" "$1"
    ended=$(date +%s%N)
    stop_server
    ROW_NOTE[start]=$(((ended - started) / 1000000))
}

# row KEY NAME [no-share]: one line of the table; "no-share" leaves the share
# of /healthz out (not a request rate of the service).
row() {
    local key=$1 name=$2 h=${ROW_RPS[7]} share="—"
    [ "${3:-}" = no-share ] ||
        share=$(awk -v r="${ROW_RPS[$key]}" -v h="$h" 'BEGIN {printf "%.1f %%", 100 * r / h}')
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "${ROW_RPS[$key]}" \
        "${ROW_P50[$key]}" "${ROW_P99[$key]}" "${ROW_ERR[$key]}" "${ROW_CPU[$key]}" \
        "${ROW_CPU_REQ[$key]}" "${ROW_RSS[$key]}" "$share" "${ROW_WAIT[$key]}"
}

print_table() {
    local big=$BIG_MESSAGES
    echo
    echo "### $1 — $(date -u +%Y-%m-%dT%H:%MZ), $LOADGEN, ${CONNECTIONS} connections, ${DURATION} s per scenario"
    echo
    echo "| scenario | req/s | p50 ms | p99 ms | errors | server CPU s | CPU µs/req | peak RSS MiB | % of /healthz | pool wait µs |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    row 1 "1 send, offline responder"
    row 2 "2 send, provider path (instant mock)"
    row 2m "2 · the mock upstream alone (its CPU and RSS)" no-share
    row 21 "2 at 1 connection (the service's own latency)" no-share
    row 2m1 "2 · the mock alone at 1 connection" no-share
    row 3 "3 history page (50 of 100)"
    row 4 "4 list sessions (20 of 100)"
    row 5s "5 send into a ${big}-message session"
    row 5h "5 history page of a ${big}-message session"
    row 1one "(1 with every connection in one session)"
    row 6 "6 ${STREAMS} concurrent streams (streams/s; first delta)" no-share
    row 7 "7 /healthz"
    echo
    local o50 o99
    o50=$(awk -v a="${ROW_P50[2]}" -v b="${ROW_P50[2m]}" 'BEGIN {printf "%.2f", a - b}')
    o99=$(awk -v a="${ROW_P99[2]}" -v b="${ROW_P99[2m]}" 'BEGIN {printf "%.2f", a - b}')
    local u50 u99
    u50=$(awk -v a="${ROW_P50[21]}" -v b="${ROW_P50[2m1]}" 'BEGIN {printf "%.2f", a - b}')
    u99=$(awk -v a="${ROW_P99[21]}" -v b="${ROW_P99[2m1]}" 'BEGIN {printf "%.2f", a - b}')
    echo "- Provider-path overhead (2 minus the mock alone): p50 ${o50} ms, p99 ${o99} ms at" \
        "${CONNECTIONS} connections (mostly waiting for a turn: the rate is the server's limit);" \
        "p50 ${u50} ms, p99 ${u99} ms at 1 connection (the service's own work);" \
        "replies the offline responder wrote instead (llm_fallbacks_total): ${ROW_NOTE[fallbacks]}."
    echo "- 6: ${ROW_NOTE[6]}; req/s column = completed streams per second of the run;" \
        "errors = streams not complete plus replies not stored complete; CPU µs per stream."
    echo "- Cold start to ready on the existing database: ${ROW_NOTE[start]} ms."
    echo "- Machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
        "Linux $(uname -r); load average before/after: ${LOAD_BEFORE} / $(cut -d' ' -f1-3 /proc/loadavg)."
}

build
choose_loadgen
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
run_backend SQLite ""
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    run_backend PostgreSQL "$BENCH_DATABASE_URL"
fi
