#!/usr/bin/env bash
# CPU profile of one scenario of bench/run.sh: the release server on a
# fresh SQLite database, loaded by wrk as in bench/run.sh, recorded with
# `perf record -g` for BENCH_DURATION seconds. Prints the top of the profile
# (by DSO, and by symbol, self time) and keeps perf.data in the work folder.
#
#   bench/profile.sh            (needs perf: Debian's linux-perf)
#   BENCH_SCENARIO=send|history|list|streams   (default send: scenario 1, the
#                                       offline responder; history: 3; list: 4;
#                                       streams: 6, BENCH_STREAMS of them, recorded
#                                       from their start to their end)
#   BENCH_CALLGRAPH=dwarf BENCH_FREQ=199 (callers through code built
#                                       without frame pointers; slower)
set -euo pipefail

DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
TOP=${BENCH_TOP:-40}

cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/richesreach-profile.XXXXXX")
command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --bin richesreach-chat --example bench_client --example mock_upstream
SCENARIO=${BENCH_SCENARIO:-send}
STREAMS=${BENCH_STREAMS:-2000}

PROVIDER=()
MOCK=""
if [ "$SCENARIO" = streams ]; then
    # Scenario 6: the provider is the mock's slow stream (20 pieces, 50 ms apart).
    "$ROOT/target/release/examples/mock_upstream" --port 0 --pieces 20 --first-ms 50 \
        --interval-ms 50 >"$WORK/mock.out" 2>&1 &
    MOCK=$!
    until grep -q '^listening on ' "$WORK/mock.out"; do sleep 0.05; done
    PROVIDER=(OPENAI_API_KEY=bench-key "OPENAI_BASE_URL=$(sed -n 's/^listening on //p' "$WORK/mock.out")"
        OPENAI_MODEL=mock-model LLM_TIMEOUT_SECS=30)
fi

env BIND=127.0.0.1:0 DATABASE_URL="$WORK/chat.db" LOG_FORMAT=json RUST_LOG=info "${PROVIDER[@]}" \
    JWT_SECRET=bench-secret-that-is-long-enough-for-hs256 BCRYPT_COST=4 ACCESS_TOKEN_TTL=86400 \
    RATE_LIMIT_AUTH_PER_MIN=0 RATE_LIMIT_REGISTER_PER_MIN=0 RATE_LIMIT_MESSAGES_PER_MIN=0 \
    "$ROOT/target/release/richesreach-chat" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER $MOCK 2>/dev/null; wait $SERVER 2>/dev/null; echo "work folder: $WORK" >&2' EXIT
port=""
until [ -n "$port" ]; do
    sleep 0.05
    port=$(grep -o '"port":[0-9]*' "$WORK/server.log" | head -1 | cut -d: -f2 || true)
done
BASE=http://127.0.0.1:$port
until curl -sf "$BASE/healthz" >/dev/null; do sleep 0.05; done

if [ "$SCENARIO" = streams ]; then
    "$ROOT/target/release/examples/bench_client" seed --base "$BASE" --run-id profile \
        --big-messages 0 --history-messages 0 --list-sessions 0 --stream-sessions "$STREAMS" \
        --out "$WORK/seed.env" --streams-out "$WORK/streams.tsv"
    perf record --call-graph "${BENCH_CALLGRAPH:-fp}" -F "${BENCH_FREQ:-999}" -o "$WORK/perf.data" \
        -p "$SERVER" 2>"$WORK/perf.err" &
    PERF=$!
    sleep 1
    "$ROOT/target/release/examples/bench_client" streams --base "$BASE" \
        --sessions "$WORK/streams.tsv" --pieces 20 --first-ms 50 | grep '^STREAMS' >&2
    kill -INT $PERF
    wait $PERF || true
else
    "$ROOT/target/release/examples/bench_client" seed --base "$BASE" --run-id profile \
        --big-messages 0 --out "$WORK/seed.env"
    # shellcheck disable=SC1091
    source "$WORK/seed.env"
    case $SCENARIO in
    send)
        paths=""
        for s in $SEND_SESSIONS; do paths+="/sessions/$s/messages "; done
        export BENCH_METHOD=POST BENCH_PATHS=$paths BENCH_TOKEN=$TOKEN
        export BENCH_BODY='{"content":"How big should my emergency fund be?"}'
        ;;
    history)
        paths="/sessions/$HISTORY_SESSION/messages?order=desc&limit=50"
        export BENCH_METHOD=GET BENCH_PATHS=$paths BENCH_TOKEN=$TOKEN BENCH_BODY=
        ;;
    list)
        paths="/sessions?limit=20"
        export BENCH_METHOD=GET BENCH_PATHS=$paths BENCH_TOKEN=$LIST_TOKEN BENCH_BODY=
        ;;
    *) echo "BENCH_SCENARIO: send, history, list or streams" >&2; exit 2 ;;
    esac

    first=${paths%% *}
    wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -s "$ROOT/bench/load.lua" "$BASE$first" >/dev/null
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$((DURATION + 2))s" -s "$ROOT/bench/load.lua" "$BASE$first" \
        >"$WORK/wrk.out" &
    WRK=$!
    sleep 1
    perf record --call-graph "${BENCH_CALLGRAPH:-fp}" -F "${BENCH_FREQ:-999}" -o "$WORK/perf.data" -p "$SERVER" -- sleep "$DURATION" 2>"$WORK/perf.err"
    wait $WRK
    grep '^RESULT' "$WORK/wrk.out" >&2
fi

# perf pads its columns; trim them. (`|| true`: head closes the pipe early.)
report() {
    perf report -i "$WORK/perf.data" --stdio -g none "$@" 2>/dev/null | grep '%' |
        sed 's/ *-  *- *$//; s/ *$//' | head -"$TOP" || true
}
echo "## By thread (self time)"
TOP=8 report --no-children --sort comm
echo
echo "## By DSO (self time)"
TOP=8 report --no-children --sort dso
echo
echo "## Top $TOP symbols (self time)"
report --no-children --sort symbol
echo
echo "## Top $TOP user-space symbols with their callees (children)"
report --children --sort symbol | grep -v '\[k\]'
