# Shared by the test scripts (tests/run.sh, tests/sdk/run.sh,
# tests/browser/run.sh): Node.js when missing, a temporary directory and a
# server process cleaned up on exit, and a free local port.

# Installs Debian's Node.js and npm when they are missing.
ensure_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "installing Node.js" >&2
    local sudo=""; [ "$(id -u)" != 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
  fi
}

# Sets TMP (a fresh directory) and SERVER_PID (set it once the server runs);
# on exit the server is stopped (SIGTERM, then SIGKILL after 5 s) and TMP removed.
prepare_server_tmp() {
  TMP="$(mktemp -d)"
  SERVER_PID=""
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}

# Prints a free TCP port on 127.0.0.1.
free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}
