#!/usr/bin/env bash
# Browser tests of the admin console and of Swagger UI (under its CSP) against a real server with a
# fresh database.
#
#   BIN=target/debug/richesreach-chat bash tests/browser/run.sh
#
# Installs Debian's Chromium when it is missing, installs playwright-core (no browser download),
# creates an admin account, starts a stand-in provider (tests/browser/mock-llm.mjs) and the server
# using it on free loopback ports, runs
# tests/browser/admin.test.mjs and tests/browser/swagger.test.mjs against it and stops the server
# again. Exits with the tests' code.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BIN="${BIN:-target/debug/richesreach-chat}"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

log() { printf '[browser-test] %s\n' "$*" >&2; }

if [ ! -x "$BIN" ]; then
  log "server binary not found at $BIN (build it first, e.g. cargo build)"
  exit 2
fi
ensure_node

# (a) Debian's Chromium: playwright-core drives it, nothing is downloaded.
if [ ! -x "$CHROMIUM" ]; then
  log "installing chromium"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# (b) playwright-core.
(
  cd tests/browser
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
)
rm -rf tests/browser/out
mkdir -p tests/browser/out

# (c) A stand-in provider, and a server on a free port using it, with a fresh database and an
# admin account.

prepare_server_tmp
MOCK_PID=""
stop_mock() {
  if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; fi
}
trap 'stop_mock; cleanup' EXIT
MOCK_PORT="$(free_port)"
node tests/browser/mock-llm.mjs "$MOCK_PORT" "$TMP/mock.ready" >"$TMP/mock.log" 2>&1 &
MOCK_PID=$!
for _ in $(seq 1 100); do [ -f "$TMP/mock.ready" ] && break; sleep 0.1; done
if [ ! -f "$TMP/mock.ready" ]; then
  log "the stand-in provider did not start; its log:"
  cat "$TMP/mock.log" >&2 || true
  exit 1
fi

PORT="$(free_port)"
BASE_URL="http://127.0.0.1:$PORT"
ADMIN_EMAIL="admin@example.com"
ADMIN_PASSWORD="admin-$(node -e "console.log(require('crypto').randomBytes(12).toString('hex'))")"

export BIND="127.0.0.1:$PORT"
export DATABASE_URL="$TMP/chat.db"
export JWT_SECRET="browser-test-secret"
export BCRYPT_COST=4
export RATE_LIMIT_AUTH_PER_MIN=0
export RATE_LIMIT_REGISTER_PER_MIN=0
export OPENAI_API_KEY="browser-test-key"
export OPENAI_BASE_URL="http://127.0.0.1:$MOCK_PORT/v1"
export OPENAI_MODEL="browser-test-model"

log "creating $ADMIN_EMAIL"
PASSWORD="$ADMIN_PASSWORD" "$BIN" create-user --email "$ADMIN_EMAIL" --name Admin --admin

log "starting the server on $BASE_URL"
"$BIN" serve >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

if ! BASE_URL="$BASE_URL" SERVER_PID="$SERVER_PID" node -e '
  const deadline = Date.now() + 30000;
  const alive = () => { try { process.kill(Number(process.env.SERVER_PID), 0); return true; } catch { return false; } };
  (async () => {
    while (Date.now() < deadline) {
      if (!alive()) { console.error("the server exited during start-up"); process.exit(1); }
      try {
        const r = await fetch(process.env.BASE_URL + "/healthz", { signal: AbortSignal.timeout(2000) });
        if (r.status === 200) process.exit(0);
      } catch {}
      await new Promise((r) => setTimeout(r, 200));
    }
    console.error("GET /healthz did not answer 200 within 30 s");
    process.exit(1);
  })();
'; then
  log "server did not become healthy; its log:"
  cat "$TMP/server.log" >&2 || true
  exit 1
fi

# (d) The test.
set +e
BASE_URL="$BASE_URL" ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" CHROMIUM="$CHROMIUM" \
  node --test --test-concurrency=1 tests/browser/admin.test.mjs tests/browser/swagger.test.mjs
STATUS=$?
set -e
if [ "$STATUS" -ne 0 ]; then
  log "tests failed (exit $STATUS); last lines of the server log:"
  tail -n 80 "$TMP/server.log" >&2 || true
  log "screenshots: tests/browser/out/"
fi
# (e) cleanup runs on exit.
exit "$STATUS"
