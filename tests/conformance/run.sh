#!/usr/bin/env bash
# GraphQL-over-HTTP conformance audit against a freshly started annograph.
#
#   cargo build && bash tests/conformance/run.sh
#
# ANNOGRAPH_BIN picks the server binary (default target/debug/annograph of
# this repository). Exits non-zero when a MUST or SHOULD audit fails, or when
# the server does not come up; the server is stopped on every exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${ANNOGRAPH_BIN:-target/debug/annograph}"
# A relative path is taken from the current folder, else from the repository root.
case "$bin" in
  /*) ;;
  *) if [ -x "$bin" ]; then bin="$(pwd)/$bin"; else bin="$root/$bin"; fi ;;
esac
if [ ! -x "$bin" ]; then
  echo "conformance: no server binary at $bin (run cargo build first)" >&2
  exit 1
fi

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    # Graceful shutdown first; force it after five seconds.
    for _ in $(seq 1 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free loopback port, as the kernel hands them out.
port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"

ANNOGRAPH_JWT_SECRET="conformance-audit-secret-$(date +%s)" \
ANNOGRAPH_LOG="${ANNOGRAPH_LOG:-warn}" \
  "$bin" serve --listen "127.0.0.1:$port" \
  --database-url "sqlite://$tmp/audit.db?mode=rwc" >"$tmp/server.log" 2>&1 &
server_pid=$!

healthy=""
for _ in $(seq 1 150); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    break
  fi
  if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' \
    "http://127.0.0.1:$port/healthz"; then
    healthy=yes
    break
  fi
  sleep 0.2
done
if [ -z "$healthy" ]; then
  echo "conformance: the server did not become healthy; its log:" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi

status=0
GRAPHQL_URL="http://127.0.0.1:$port/graphql" node "$here/audit.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "conformance: the server's log:" >&2
  cat "$tmp/server.log" >&2
fi
exit "$status"
