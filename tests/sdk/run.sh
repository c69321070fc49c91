#!/usr/bin/env bash
# The TypeScript client check and the lint of the OpenAPI document, against a real server with a
# fresh database:
#   1. fetches the served /openapi.json and lints it with Redocly's `recommended` ruleset
#      (redocly.yaml; errors fail, warnings are printed);
#   2. generates tests/sdk/generated/schema.d.ts from it with openapi-typescript;
#   3. type-checks tests/sdk/flow.ts (openapi-fetch over the generated `paths`) with
#      `tsc --strict --noEmit`: a change of the document that breaks a frontend's types fails here;
#   4. runs flow.ts with tsx against the server: register, sign in, refresh, sessions, send,
#      paginate, stream, regenerate (its /stream twin), feedback, edit, search, exports, usage,
#      typed errors, account deletion — asserting on every answer.
#
#   BIN=target/debug/richesreach-chat bash tests/sdk/run.sh
#
# Builds nothing: BIN is the server binary. Installs Node.js (Debian's) when it is missing and the
# pinned npm packages with `npm ci`. Every step runs even when an earlier one fails, so one run
# reports everything; the exit code is non-zero when any step failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BIN="${BIN:-target/debug/richesreach-chat}"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
SDK="$ROOT/tests/sdk"
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
OUT="$SDK/generated"

log() { printf '[sdk] %s\n' "$*" >&2; }
timed() { # timed <label> <command...>: runs it and logs how long it took
  local label="$1" start status
  shift
  start="$(date +%s.%N)"
  set +e
  "$@"
  status=$?
  set -e
  log "$label: $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f s", e - s }')"
  return "$status"
}

[ -x "$BIN" ] || { log "server binary not found at $BIN (build it first, e.g. cargo build)"; exit 2; }

ensure_node

# No anonymous usage data from Redocly, no update or notification checks.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true REDOCLY_SUPPRESS_NOTIFICATIONS=true

# flow.ts must use the generated types as they are: a cast or an `any` would hide exactly the
# breakage this check is for. (`as const` is no cast.)
if grep -nE '\bany\b|\bas [^c]|\bas c[^o]|<[][A-Za-z_."]+>[A-Za-z_]|@ts-(ignore|expect-error|nocheck)' "$SDK/flow.ts" \
  | grep -vE '^[0-9]+: *(//|/?\*)'; then
  log "flow.ts must not use any, casts or @ts- comments (lines above)"
  exit 1
fi

timed "npm ci" bash -c 'cd "$1" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error' _ "$SDK"

# Nothing from an earlier run may stand in for what this run generates.
rm -rf "$OUT"

# A server on a free port with a fresh database; the offline responder answers (no provider key).

prepare_server_tmp
PORT="$(free_port)"
BASE_URL="http://127.0.0.1:$PORT"
log "starting the server on $BASE_URL"
env -u OPENAI_API_KEY -u OPENAI_BASE_URL \
  BIND="127.0.0.1:$PORT" DATABASE_URL="$TMP/chat.db" JWT_SECRET="sdk-check-secret-sdk-check-secret" \
  BCRYPT_COST=4 RATE_LIMIT_AUTH_PER_MIN=0 RATE_LIMIT_MESSAGES_PER_MIN=0 TOKEN_QUOTA_PER_DAY=100000 RUST_LOG=warn \
  "$BIN" serve >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

# Waits for /readyz, then saves the document (indented, so the lint's excerpts are readable).
if ! BASE_URL="$BASE_URL" SERVER_PID="$SERVER_PID" DOC="$OUT/openapi.json" node -e '
  const fs = require("fs");
  const deadline = Date.now() + 30000;
  const alive = () => { try { process.kill(Number(process.env.SERVER_PID), 0); return true; } catch { return false; } };
  (async () => {
    while (Date.now() < deadline) {
      if (!alive()) { console.error("the server exited during start-up"); process.exit(1); }
      try {
        const r = await fetch(process.env.BASE_URL + "/readyz", { signal: AbortSignal.timeout(2000) });
        if (r.status === 200) {
          const doc = await (await fetch(process.env.BASE_URL + "/openapi.json")).json();
          fs.mkdirSync(require("path").dirname(process.env.DOC), { recursive: true });
          fs.writeFileSync(process.env.DOC, JSON.stringify(doc, null, 2) + "\n");
          process.exit(0);
        }
      } catch {}
      await new Promise((r) => setTimeout(r, 200));
    }
    console.error("GET /readyz did not answer 200 within 30 s");
    process.exit(1);
  })();
'; then
  log "server did not become ready; its log:"
  cat "$TMP/server.log" >&2 || true
  exit 1
fi

FAILED=()
cd "$SDK"

log "lint of the document (redocly, recommended ruleset)"
timed "lint" npx --no-install redocly lint generated/openapi.json --config redocly.yaml \
  || FAILED+=("lint: the document has errors (see above)")

# Run in generated/, as a frontend runs it: without our redocly.yaml, which openapi-typescript would
# load from the working directory and then refuse to generate on lint errors, hiding the type check.
log "generating generated/schema.d.ts (openapi-typescript)"
timed "generate" bash -c 'cd generated && npx --no-install openapi-typescript openapi.json -o schema.d.ts' \
  || FAILED+=("generate: openapi-typescript cannot read the document (see above)")

log "type-checking flow.ts (tsc --strict)"
timed "tsc" npx --no-install tsc -p tsconfig.json --strict --noEmit \
  || FAILED+=("tsc: flow.ts does not type-check against the client generated from the document (see above)")

# Runs even when the types fail (tsx strips them), so one run says whether the server or the
# document is at fault.
log "running flow.ts against the server"
if ! timed "flow" env BASE_URL="$BASE_URL" npx --no-install tsx flow.ts; then
  FAILED+=("flow: the server's answers do not match what flow.ts expects (see above)")
  log "last lines of the server log:"
  tail -n 40 "$TMP/server.log" >&2 || true
fi

if [ "${#FAILED[@]}" -gt 0 ]; then
  log "FAILED:"
  for failure in "${FAILED[@]}"; do log "  - $failure"; done
  exit 1
fi
log "ok: lint clean of errors, client generated, flow type-checked and run"
