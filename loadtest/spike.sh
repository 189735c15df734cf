#!/usr/bin/env bash
# The spike load test, as an SRE runs it:
#
#   loadtest/spike.sh [--quick] [--database-url postgres://...] [keel-loadtest flags]
#   loadtest/spike.sh --target http://HOST:PORT [--seed --token T] [keel-loadtest flags]
#
# Without --target it builds keel and keel-loadtest in release mode, starts
# keel on a free loopback port (embedded SQLite in a temporary directory, or
# the PostgreSQL database given with --database-url), creates an admin token,
# seeds a match-day site through the editor API, pre-warms, runs the profile,
# prints the report (also written to loadtest/out/), and stops the server.
# With --target it only builds keel-loadtest and tests that server, seeding
# nothing unless --seed is given. The exit code is keel-loadtest's: 0 when
# every goal is met, 1 when one is missed, 2 when the test could not run.
# Every other flag goes to keel-loadtest (see `keel-loadtest --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

target=""
database_url=""
seed=0
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="${2:?--target needs a URL}"; shift 2 ;;
    --target=*) target="${1#*=}"; shift ;;
    --database-url) database_url="${2:?--database-url needs a URL}"; shift 2 ;;
    --database-url=*) database_url="${1#*=}"; shift ;;
    --seed) seed=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) pass+=("$1"); shift ;;
  esac
done

target_dir="${CARGO_TARGET_DIR:-$repo/target}"
work=$(mktemp -d "${TMPDIR:-/tmp}/keel-spike.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "$target" ]; then
  echo "==> building keel-loadtest (release)"
  cargo build --release --quiet -p keel-loadtest --bin keel-loadtest
  cp "$target_dir/release/keel-loadtest" "$work/"
  seed_flag=()
  [ "$seed" = 1 ] && seed_flag=(--seed)
  db_flag=()
  [ -n "$database_url" ] && db_flag=(--database-url "$database_url")
  exec_rc=0
  "$work/keel-loadtest" --target "$target" "${seed_flag[@]}" "${db_flag[@]}" "${pass[@]}" || exec_rc=$?
  exit "$exec_rc"
fi

echo "==> building keel and keel-loadtest (release)"
cargo build --release --quiet -p keel -p keel-loadtest --bin keel --bin keel-loadtest
# Private copies: a later build in the same target directory cannot swap
# the binaries under a running test.
cp "$target_dir/release/keel" "$target_dir/release/keel-loadtest" "$work/"
keel="$work/keel"

if [ -z "$database_url" ]; then
  database_url="sqlite://$work/keel.db"
  db_flag=()
else
  db_flag=(--database-url "$database_url")
fi
export KEEL_DATABASE_URL="$database_url"
export KEEL_CONTENT_TYPES="$repo/content-types"
export KEEL_LOG="${KEEL_LOG:-warn}"

"$keel" migrate >/dev/null
token=$("$keel" token create --name "loadtest-$(date +%s)-$$" --role admin)

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started=0
for _ in $(seq 1 10); do
  port=$(( 20000 + RANDOM % 40000 ))
  port_in_use "$port" && continue
  "$keel" serve --listen "127.0.0.1:$port" >"$work/keel.log" 2>&1 &
  server_pid=$!
  # Either it listens or it exits (a port taken meanwhile): then try another.
  for _ in $(seq 1 100); do
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    if port_in_use "$port"; then started=1; break; fi
    sleep 0.1
  done
  [ "$started" = 1 ] && break
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
done
if [ "$started" != 1 ]; then
  echo "keel did not start; its log:" >&2
  cat "$work/keel.log" >&2 || true
  exit 2
fi
echo "==> keel (pid $server_pid) on http://127.0.0.1:$port, database $database_url"

rc=0
KEEL_LOADTEST_TOKEN="$token" "$work/keel-loadtest" \
  --target "http://127.0.0.1:$port" --seed "${db_flag[@]}" "${pass[@]}" || rc=$?
if [ "$rc" = 2 ]; then
  echo "keel's log (last 40 lines):" >&2
  tail -n 40 "$work/keel.log" >&2 || true
fi
exit "$rc"
