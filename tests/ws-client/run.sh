#!/usr/bin/env bash
# Subscriptions over /graphql/ws with the graphql-ws client (npm, pinned).
#
#   tests/ws-client/run.sh
#
# Starts `$ANNOGRAPH_BIN serve --demo` (default target/debug/annograph; build it
# first with `cargo build`) on a free loopback port with a fresh SQLite database,
# takes the Authorization header it prints, mints a token for a second user
# (`annograph token`, same secret), and runs client.mjs against it.
# Prints `ws-client: N passed, M failed`, and exits non-zero when a check fails.
# The server is always stopped. Needs Node.js 20+ and npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

bin="${ANNOGRAPH_BIN:-target/debug/annograph}"
[[ "$bin" = /* ]] || bin="$root/$bin"
if [[ ! -x "$bin" ]]; then
  echo "run.sh: no server binary at $bin (run \`cargo build\` or set ANNOGRAPH_BIN)" >&2
  exit 2
fi

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
  local status=$?
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ $status -ne 0 && -f "$tmp/server.out" ]]; then
    echo "---- server stdout ----" >&2
    cat "$tmp/server.out" >&2
    echo "---- server stderr (last 40 lines) ----" >&2
    tail -n 40 "$tmp/server.err" >&2
  fi
  rm -rf "$tmp"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$(node -e '
  const s = require("node:net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });
')"
base="http://127.0.0.1:$port"

: >"$tmp/server.out"
: >"$tmp/server.err"
export ANNOGRAPH_JWT_SECRET="${ANNOGRAPH_JWT_SECRET:-ws-client-test-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')}"
# Run from the temporary folder so that nothing lands in the repository.
(
  cd "$tmp"
  exec "$bin" serve --demo --listen "127.0.0.1:$port" \
    --storage-allowed-hosts 127.0.0.1 \
    --database-url "sqlite://$tmp/ws.db?mode=rwc" >"$tmp/server.out" 2>"$tmp/server.err"
) &
server_pid=$!

# The demo prints its header before it starts listening; wait for both.
header=""
for _ in $(seq 600); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "run.sh: the server exited early" >&2
    exit 1
  fi
  if [[ -z "$header" ]]; then
    header="$(sed -n 's/^[[:space:]]*Header:[[:space:]]*//p' "$tmp/server.out" | head -n 1)"
  fi
  if [[ -n "$header" ]] && curl -fsS -o /dev/null --max-time 2 "$base/healthz" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
if [[ -z "$header" ]]; then
  echo "run.sh: the server printed no Authorization header" >&2
  exit 1
fi
curl -fsS -o /dev/null --max-time 5 "$base/healthz" || {
  echo "run.sh: $base/healthz never answered" >&2
  exit 1
}

# A second user, signed with the server's secret, who sees none of the
# demo user's new datasets.
stranger="$(cd "$tmp" && "$bin" token --user ws-client-stranger@example.com)"

BASE_URL="$base" AUTH_HEADERS="$header" \
  STRANGER_AUTH_HEADERS="{\"Authorization\": \"Bearer $stranger\"}" \
  FIXTURES="$root/tests/fixtures" node "$here/client.mjs"
