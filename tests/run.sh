#!/usr/bin/env bash
# Runs every test of RichesReach Chat on a fresh machine:
#   1. unit tests and the API integration tests (cargo; each test starts the
#      real server on a random port with a fresh SQLite database, and a local
#      wiremock server stands in for the OpenAI-compatible upstream);
#   2. the API integration tests again, against PostgreSQL (tests/pg.sh: a
#      throwaway cluster, installed from Debian's packages when missing, and
#      a fresh database per test);
#   3. property-based API fuzzing with schemathesis against the served OpenAPI
#      document (installs it in a venv under target/);
#   4. the TypeScript client check: a client generated from the served document
#      with openapi-typescript, a program using it type-checked with
#      `tsc --strict` and run against a real server, and a Redocly lint of the
#      document (npm packages pinned in tests/sdk/package-lock.json);
#   5. the browser tests of the admin console and Swagger UI in headless Chromium (installs
#      Debian's chromium and Node.js when they are missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[tests] %s\n' "$*" >&2; }

# shellcheck source=tests/lib.sh
source tests/lib.sh
ensure_node

log "building"
cargo build --locked --all-targets

log "unit and API tests"
cargo test --locked --all-targets

log "API tests against PostgreSQL"
bash tests/pg.sh

log "API fuzzing (schemathesis)"
BIN=target/debug/richesreach-chat bash tests/fuzz/run.sh

log "TypeScript client check and lint of the OpenAPI document"
BIN=target/debug/richesreach-chat bash tests/sdk/run.sh

log "browser tests of the admin console and Swagger UI"
BIN=target/debug/richesreach-chat bash tests/browser/run.sh
