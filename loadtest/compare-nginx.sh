#!/usr/bin/env bash
# keel against nginx on cache hits, as an SRE runs it on a fresh Debian machine:
#
#   loadtest/compare-nginx.sh [--no-goal] [--rounds 5] [--duration 15s] [--rate auto|RPS]
#                             [--no-shield]
#
# Installs what is missing (nginx, libnginx-mod-http-brotli-static, wrk; as
# root or through `sudo -n`), builds keel and keel-loadtest in release mode,
# starts keel on the embedded store in a temporary directory, seeds a match
# day through the editor API with keel-loadtest's seeder (24 teams, 300
# matches with their commentary and reports, 60 previews of 600-900 words:
# about 390 pages with the listings and the archive), exports the exact
# bytes keel serves for each page (br, gzip, identity) into an nginx
# docroot, and starts nginx three times on it (brotli_static + gzip_static,
# one worker, `sendfile on` and `tcp_nopush on` as Debian ships it): with and
# without open_file_cache, and with it plus keel's caching and security
# headers (the same response size; informational). Every server runs pinned
# to CPU 0 (`taskset -c 0`, keel with `--workers 1`), the load generator on
# CPU 1; while measuring, every other task and interrupt that can leave CPU
# 0 is moved off it and put back at the end (--no-shield leaves them), and
# keel is paused (SIGSTOP) while the others are measured.
#
# Scenarios: hot (the hottest live match page) and mix (every page of the
# site, uniformly: match pages live, finished and to come, listings,
# previews, team pages), each with `wrk -t1 -c64 --latency -H
# 'Accept-Encoding: br'`; image (the 1024-pixel WebP variant, about 57 KB,
# of a 5-megapixel photo uploaded through the editor API, stored once in
# nginx's docroot as a file with a year's immutable Cache-Control) with a
# browser's 'Accept-Encoding: br, gzip'. The servers in alternation (A B C D
# A B C D) for --rounds rounds. Then keel-loadtest's open model over the mix
# against keel and the better nginx, at --rate (auto: the highest rate the
# one-core generator holds, stepped down when a full-length run falls
# behind). Prints a table of medians, each round keel against the better
# nginx of the scenario, and the
# verdict on the median of those per-round ratios: exits 1 when keel's req/s
# ratio is below 1.0 or its p99 ratio above 1.0 in any scenario (unless
# --no-goal), 2 when the comparison could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

goal=1
rounds=5
duration=15s
rate=auto
shield=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-goal) goal=0; shift ;;
    --rounds) rounds="${2:?--rounds needs a number}"; shift 2 ;;
    --duration) duration="${2:?--duration needs a time like 15s}"; shift 2 ;;
    --rate) rate="${2:?--rate needs requests per second}"; shift 2 ;;
    --no-shield) shield=0; shift ;;
    -h|--help) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$rounds" in ''|*[!0-9]*|0) echo "--rounds must be a positive integer" >&2; exit 2 ;; esac
case "$rate" in auto) ;; ''|*[!0-9]*|0) echo "--rate must be auto or a positive integer" >&2; exit 2 ;; esac

log() { echo "==> $*" >&2; }
die() { echo "error: $*" >&2; exit 2; }

# --- packages --------------------------------------------------------------
brotli_module=/usr/lib/nginx/modules/ngx_http_brotli_static_module.so
missing=()
command -v nginx >/dev/null || missing+=(nginx)
[ -f "$brotli_module" ] || missing+=(libnginx-mod-http-brotli-static)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
command -v taskset >/dev/null || missing+=(util-linux)
if [ "$(id -u)" = 0 ]; then as_root=(); else as_root=(sudo -n); fi
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq </dev/null
  "${as_root[@]}" apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs: the servers on CPU 0, the load generator on CPU 1"

# --- a quiet CPU 0 ----------------------------------------------------------
# A p99 over 64 queued connections is decided by the few milliseconds the
# server's core spends on something else: here the kernel's DAMON and RCU
# threads, and the machine's own services (a broker's schedulers wake every
# few ms). So while measuring, every task but the servers', and every
# interrupt, is moved off CPU 0 (what `cset shield` does), the same for
# every server, and put back on exit. Per-CPU kernel threads (they cannot
# move) and the timer tick stay; so does the hypervisor, whose steal time is
# reported per run.
shielded=()
without_cpu0() { # cpu-list: the same list without CPU 0 ("" when only 0)
  awk -v l="$1" 'BEGIN {
    n = split(l, parts, ","); out = ""
    for (i = 1; i <= n; i++) {
      m = split(parts[i], r, "-"); lo = r[1]; hi = (m == 2) ? r[2] : r[1]
      if (lo == 0) lo = 1
      if (lo > hi) continue
      out = out (out == "" ? "" : ",") (lo == hi ? lo : lo "-" hi)
    }
    print out }'
}
# The child processes of the given ones (nginx's workers). Through cat, which
# goes on past a process that exits meanwhile, where mawk would stop.
children_of() { # pid...
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v p=" $* " 'index(p, " " $4 " ") { print $1 }'
}
shield_cpu0() {
  local status tid tgid list rest moved=0 irqs=0 irq others
  others=$(without_cpu0 "0-$(( $(nproc) - 1 ))")
  # The servers under test (and nginx's workers, their children) stay.
  local -A server=()
  for tgid in "${pids[@]}" $(children_of "${pids[@]}"); do
    server[$tgid]=1
  done
  for status in /proc/[0-9]*/task/[0-9]*/status; do
    tgid=${status#/proc/}; tgid=${tgid%%/*}
    [ -z "${server[$tgid]:-}" ] || continue
    tid=${status%/status}; tid=${tid##*/}
    list=$(awk '$1 == "Cpus_allowed_list:" { print $2 }' "$status" 2>/dev/null) || continue
    case "$list" in 0|0,*|0-*) ;; *) continue ;; esac
    # A task bound to CPU 0 alone goes to the others too (a broker binds its
    # schedulers to CPUs); per-CPU kernel threads refuse, and stay.
    rest=$(without_cpu0 "$list")
    [ -n "$rest" ] || rest=$others
    if "${as_root[@]}" taskset -pc "$rest" "$tid" >/dev/null 2>&1; then
      shielded+=("task $tid $list"); moved=$((moved + 1))
    fi
  done
  for list in /proc/irq/[0-9]*/smp_affinity_list; do
    irq=${list%/smp_affinity_list}; irq=${irq##*/}
    read -r list <"$list" 2>/dev/null || continue
    case "$list" in 0,*|0-*|0) ;; *) continue ;; esac
    rest=$(without_cpu0 "$list"); [ -n "$rest" ] || rest=$others
    if echo "$rest" | "${as_root[@]}" tee "/proc/irq/$irq/smp_affinity_list" >/dev/null 2>&1; then
      shielded+=("irq $irq $list"); irqs=$((irqs + 1))
    fi
  done
  if [ "$moved" = 0 ]; then
    echo "    warning: no task could leave CPU 0 (needs root or sudo -n): measuring unshielded, p99 is at the mercy of whatever else runs there" >&2
  else
    log "CPU 0 shielded: $moved tasks and $irqs interrupts moved to the other CPUs until the end (--no-shield to keep them)"
  fi
}
unshield() {
  local entry kind id list
  for entry in "${shielded[@]}"; do
    read -r kind id list <<<"$entry"
    if [ "$kind" = task ]; then
      "${as_root[@]}" taskset -pc "$list" "$id" >/dev/null 2>&1 || true
    else
      echo "$list" | "${as_root[@]}" tee "/proc/irq/$id/smp_affinity_list" >/dev/null 2>&1 || true
    fi
  done
  shielded=()
}
# Ticks CPU 0 spent in the hypervisor's hands (steal), from /proc/stat.
cpu0_steal() { awk '$1 == "cpu0" { print $9 }' /proc/stat; }

# --- work directory and cleanup --------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/keel-vs-nginx.XXXXXX")
# nginx's workers may run as another user: they must read the docroot.
chmod 755 "$work"
pids=()
cleanup() {
  local pid
  unshield
  for pid in "${pids[@]}"; do
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Below Linux's ephemeral range (32768-60999 by default), where the seeding's
# and wrk's own connections take their ports.
free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 12000 ))
    port_in_use "$p" || { echo "$p"; return; }
  done
}
wait_port() { # pid port
  for _ in $(seq 1 100); do
    kill -0 "$1" 2>/dev/null || return 1
    port_in_use "$2" && return 0
    sleep 0.1
  done
  return 1
}

# --- keel ------------------------------------------------------------------
log "building keel and keel-loadtest (release)"
cargo build --release --quiet -p keel -p keel-loadtest \
  --bin keel --bin keel-loadtest --bin keel-sample-photo
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
cp "$target_dir/release/keel" "$target_dir/release/keel-loadtest" \
  "$target_dir/release/keel-sample-photo" "$work/"
keel="$work/keel"
export KEEL_DATABASE_URL="sqlite://$work/keel.db"
export KEEL_CONTENT_TYPES="$repo/content-types"
export KEEL_LOG="${KEEL_LOG:-warn}"
"$keel" migrate >/dev/null
token=$("$keel" token create --name "compare-$$" --role admin)

keel_pid=""
keel_port=""
start_keel() { # extra args (e.g. taskset prefix) in "$@"
  local try
  for try in 1 2 3 4 5; do
    keel_port=$(free_port)
    "$@" "$keel" serve --workers 1 --listen "127.0.0.1:$keel_port" >>"$work/keel.log" 2>&1 &
    keel_pid=$!
    pids+=("$keel_pid")
    # Either it listens or it exits (the port was taken meanwhile).
    wait_port "$keel_pid" "$keel_port" && break
    wait "$keel_pid" 2>/dev/null || true
    [ "$try" = 5 ] && { tail -n 40 "$work/keel.log" >&2; die "keel did not start"; }
  done
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$keel_port/readyz")" = 200 ] && return 0
    sleep 0.2
  done
  die "keel was not ready within 60 s"
}
stop_keel() {
  kill "$keel_pid"
  wait "$keel_pid" 2>/dev/null || true
}

# --- seed: a match day -----------------------------------------------------
# Unpinned while seeding: each publish renders and brotli-compresses (q11).
start_keel
log "seeding a match day through the editor API (keel-loadtest --seed)"
seed_started=$(date +%s)
"$work/keel-loadtest" --target "http://127.0.0.1:$keel_port" --token "$token" --seed \
  --seed-teams 24 --seed-matches 300 --seed-articles 60 --paths-out "$work/paths.txt" \
  >"$work/seed.log" 2>&1 || { tail -n 20 "$work/seed.log" >&2; die "seeding failed"; }
pages=$(wc -l <"$work/paths.txt")
[ "$pages" -ge 300 ] || die "the seeded site has $pages pages, expected about 390"
log "seeded $pages pages in $(( $(date +%s) - seed_started )) s"
# Each publish compressed its pages at a fast brotli quality; keel refines
# them at quality 11 in the background. Wait until that is done (the pages'
# brotli bytes stop shrinking), so both servers send what production would.
br_total() {
  sed "s|.*|url = \"http://127.0.0.1:$keel_port&\"\noutput = \"/dev/null\"|" "$work/paths.txt" >"$work/curl-sizes.cfg"
  curl -s -H 'Accept-Encoding: br' -K "$work/curl-sizes.cfg" -w '%{size_download}\n' | awk '{ t += $1 } END { print t }'
}
last=$(br_total) settled=0
for _ in $(seq 1 120); do
  sleep 3
  now=$(br_total)
  if [ "$now" = "$last" ]; then settled=$((settled + 1)); else settled=0; fi
  [ "$settled" -ge 2 ] && break
  last=$now
done
[ "$settled" -ge 2 ] || die "keel's pages were still being recompressed after 6 minutes"
log "pages refined at brotli quality 11: $now B of br in all"
# The hottest live match: the page everyone asks for at kick-off.
hot_path=$(grep -m1 '^/matches/match-' "$work/paths.txt") || die "no match page was seeded"
# A match photo, made from a formula: the same bytes, hence the same
# content-hashed paths, as benches/cache_hit.rs serves.
"$work/keel-sample-photo" "$work/photo.jpg" >/dev/null
log "uploading a $(( $(stat -c %s "$work/photo.jpg") / 1024 )) KiB photo through the editor API"
curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: image/jpeg' \
  --data-binary @"$work/photo.jpg" -o "$work/media.json" \
  "http://127.0.0.1:$keel_port/api/v1/media?name=photo.jpg&alt=Rovers%20celebrate" \
  || die "the photo upload failed"
image_path=$(jq -r '.variants[] | select(.width == 1024 and (.path | endswith(".webp"))) | .path' \
  "$work/media.json")
[ -n "$image_path" ] || die "the upload has no 1024-pixel WebP variant: $(cat "$work/media.json")"

# Restart pinned: the measured keel is a node booted on a populated store,
# warmed by its own boot warm-up (and the export below).
stop_keel
start_keel taskset -c 0

# --- export what keel serves into an nginx docroot --------------------------
# Each page is stored at its exact path (no extension, so no try_files), and
# its encodings beside it as PATH.br and PATH.gz, as brotli_static and
# gzip_static look them up. A path that is also a directory (/, /matches
# above /matches/SLUG) is stored as DIR/index.html and reached by an exact
# location, the only pages that pay for a try_files.
docroot="$work/docroot"
mkdir -p "$docroot"
file_of() { # path: where the docroot keeps it
  if [ "$1" = / ] || grep -q "^$1/" "$work/paths.txt"; then echo "${1%/}/index.html"; else echo "$1"; fi
}
while read -r path; do echo "$path $(file_of "$path")"; done <"$work/paths.txt" >"$work/files.txt"
exact_locations=$(awk '$1 != $2 { printf "location = %s { try_files %s =404; }\n", $1, $2 }' "$work/files.txt")
export_encoding() { # accept-encoding suffix expected-content-encoding
  local config="$work/curl-$2.cfg"
  : >"$config"
  while read -r path file; do
    mkdir -p "$docroot$(dirname "$file")"
    printf 'url = "http://127.0.0.1:%s%s"\noutput = "%s%s%s"\n' \
      "$keel_port" "$path" "$docroot" "$file" "$2" >>"$config"
  done <"$work/files.txt"
  curl -s -H "Accept-Encoding: $1" -K "$config" -w '%{http_code} %header{content-encoding}\n' \
    >"$work/export-$2.txt"
  local bad
  bad=$(grep -cvx "200 $3" "$work/export-$2.txt" || true)
  [ "$bad" = 0 ] || die "$bad pages were not served as '200 $3' for Accept-Encoding: $1"
}
export_encoding identity "" ""
export_encoding br .br br
export_encoding gzip .gz gzip
chmod -R a+rX "$docroot"
du -sh --apparent-size "$docroot" | sed 's/^/    docroot: /' >&2
# Sizes by kind of page (br, as measured), so a reader knows what the mix is.
while read -r path file; do
  case "$path" in
    /matches/match-*) kind=match ;; /news/*) kind=article ;; /teams/*) kind=team ;; *) kind=listing ;;
  esac
  echo "$kind $(stat -c %s "$docroot$file.br") $(stat -c %s "$docroot$file")"
done <"$work/files.txt" | sort -k1,1 -k2,2n | awk '
  { n[$1]++; br[$1, n[$1]] = $2; id[$1] += $3 }
  END { for (k in n) printf "    %-8s %4d pages, br median %6d B (%d-%d), identity mean %6d B\n",
          k, n[k], br[k, int((n[k] + 1) / 2)], br[k, 1], br[k, n[k]], id[k] / n[k] }' >&2
printf '    hot page %s: %s B identity, %s B br, %s B gzip\n' "$hot_path" \
  "$(stat -c %s "$docroot$hot_path")" "$(stat -c %s "$docroot$hot_path.br")" \
  "$(stat -c %s "$docroot$hot_path.gz")" >&2
# The image as keel sends it to a browser: stored once, no coding.
mkdir -p "$docroot$(dirname "$image_path")"
[ "$(curl -s -H 'Accept-Encoding: br, gzip' -o "$docroot$image_path" \
  -w '%{http_code} %{content_type} %header{content-encoding}' "http://127.0.0.1:$keel_port$image_path")" \
  = "200 image/webp " ] || die "keel did not send $image_path as an uncoded image/webp"
chmod -R a+rX "$docroot"
printf '    image %s: %s B\n' "$image_path" "$(stat -c %s "$docroot$image_path")" >&2

# --- nginx -----------------------------------------------------------------
start_nginx() { # name open_file_cache-directives image-headers
  local dir="$work/$1" port
  port=$(free_port)
  mkdir -p "$dir"
  local user_line=""
  # As root, nginx's worker runs as nobody (its group differs by distribution).
  [ "$(id -u)" = 0 ] && user_line="user nobody $(id -gn nobody);"
  cat >"$dir/nginx.conf" <<EOF
load_module $brotli_module;
$user_line
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  # As Debian's nginx.conf ships it, and as its users run it.
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path $dir/tmp;
  proxy_temp_path $dir/tmp;
  fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp;
  scgi_temp_path $dir/tmp;
  types {}
  default_type "text/html; charset=utf-8";
  $2
  server {
    listen 127.0.0.1:$port;
    root $docroot;
    brotli_static on;
    gzip_static on;
    gzip_vary on;
    location = /readyz { return 200 "ok\n"; }
    $exact_locations
    # Images as an SRE serves content-hashed files: their own type, no
    # coding to look up, cached for a year. add_header here replaces the
    # server's, so the headers are given in full.
    location ^~ /media/ {
      types { image/webp webp; image/jpeg jpg; image/png png; }
      brotli_static off;
      gzip_static off;
      $3
    }
  }
}
EOF
  taskset -c 0 "$nginx_bin" -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_port "$pid" "$port" || { cat "$dir/error.log" "$dir/stdout.log" >&2; die "nginx ($1) did not start"; }
  eval "port_$1=$port pid_$1=$pid"
}
ofc="open_file_cache max=10000 inactive=60s; open_file_cache_valid 60s; open_file_cache_min_uses 1; open_file_cache_errors on;"
# Images get what anyone serving content-hashed files sends: a year,
# immutable, and nosniff.
image_headers='add_header Cache-Control "public, max-age=31536000, immutable" always;
      add_header X-Content-Type-Options nosniff always;'
start_nginx nginx_ofc "$ofc" "$image_headers"
start_nginx nginx "" "$image_headers"
# keel's caching and security headers for a path, as add_header lines.
as_add_header() { # path accept-encoding
  curl -s -D - -o /dev/null -H "Accept-Encoding: $2" "http://127.0.0.1:$keel_port$1" | tr -d '\r' \
    | { grep -iE '^(cache-control|cdn-cache-control|surrogate-control|surrogate-key|cache-tag|cache-status|x-content-type-options|content-security-policy|referrer-policy):' || true; } \
    | sed -E 's/"/\\"/g; s/^([^:]+): (.*)$/add_header \1 "\2" always;/'
}
# The third nginx sends the hot page's caching and security headers with
# every page, and the image's with the image, so its responses are as large
# as keel's: keel's header block is about three times bare nginx's, and wrk,
# near the limit of its core, parses it inside the latency it measures.
# Shown beside the others; the verdict stays against the better bare nginx.
same_headers=$(as_add_header "$hot_path" br)
same_image_headers=$(as_add_header "$image_path" "br, gzip")
[ -n "$same_headers" ] || die "keel's response to $hot_path has none of the expected caching headers"
[ -n "$same_image_headers" ] || die "keel's response to $image_path has none of the expected caching headers"
# nginx reads $ in a value as a variable and has no escape for it.
case "$same_headers$same_image_headers" in
  *'$'*) die "a header of keel's response to $hot_path or $image_path holds a \$, which nginx cannot send as is" ;;
esac
start_nginx nginx_hdr "$ofc
  $same_headers" "$same_image_headers"
port_keel=$keel_port
pid_keel=$keel_pid

# Both serve the same bytes: check one page of each scenario.
for path in / "$hot_path" $(grep -m1 '^/news/' "$work/paths.txt") $(grep -m1 '^/teams/' "$work/paths.txt") \
  $(grep -m1 '^/matches/[0-9]' "$work/paths.txt" || true) "$(tail -n 1 "$work/paths.txt")"; do
  a=$(curl -s -H 'Accept-Encoding: br' "http://127.0.0.1:$port_keel$path" | cksum)
  b=$(curl -s -H 'Accept-Encoding: br' "http://127.0.0.1:$port_nginx_ofc$path" | cksum)
  [ "$a" = "$b" ] || die "nginx and keel send different bytes for $path"
  [ "$(curl -s -o /dev/null -w '%header{content-encoding}' -H 'Accept-Encoding: br' \
    "http://127.0.0.1:$port_nginx$path")" = br ] || die "nginx did not send $path.br"
done
for server in keel nginx_ofc nginx nginx_hdr; do
  port_var="port_$server"
  [ "$(curl -s -H 'Accept-Encoding: br, gzip' -w '%{content_type} %header{content-encoding}' -o "$work/image-$server" \
    "http://127.0.0.1:${!port_var}$image_path")" = "image/webp " ] \
    || die "$server did not send $image_path as an uncoded image/webp"
  cmp -s "$work/image-$server" "$docroot$image_path" || die "$server sends other bytes for $image_path"
done

[ "$shield" = 1 ] && shield_cpu0

# --- wrk -------------------------------------------------------------------
cat >"$work/mix.lua" <<EOF
-- Uniformly random over the listed paths; requests built once per thread.
local requests = {}
function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  for path in io.lines("$work/paths.txt") do
    requests[#requests + 1] = wrk.format("GET", path, { ["Accept-Encoding"] = "br" })
  end
end
function request()
  return requests[math.random(#requests)]
end
EOF
servers=(keel nginx_ofc nginx nginx_hdr)
declare -A label=([keel]="keel (--workers 1)" [nginx_ofc]="nginx, open_file_cache on" [nginx]="nginx, open_file_cache off"
  [nginx_hdr]="nginx, ofc on, keel's headers")
for server in "${servers[@]}"; do
  port_var="port_$server"
  printf '    %-30s sends %s B of status line and headers (%s B with the image)\n' "${label[$server]}" \
    "$(curl -s -D - -o /dev/null -H 'Accept-Encoding: br' "http://127.0.0.1:${!port_var}$hot_path" | wc -c)" \
    "$(curl -s -D - -o /dev/null -H 'Accept-Encoding: br, gzip' "http://127.0.0.1:${!port_var}$image_path" | wc -c)" >&2
done

# keel's own background work (the event-log follower's poll, the
# scheduler's tick: about half a millisecond a second) runs on CPU 0 as
# well. It counts in keel's rounds; keel is stopped (SIGSTOP) during the
# others', so that it does not count in theirs. Idle nginx does nothing.
wake() { # server
  [ "$1" != keel ] || { kill -CONT "$pid_keel"; sleep 1; }
}
park() { # server
  [ "$1" != keel ] || kill -STOP "$pid_keel"
}
park keel

# wrk's latency in ms from "99%    1.23ms".
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}
# CPU time (user + system, clock ticks) of a server: the process and its
# children (nginx's worker). Per response, it is what the server costs
# whatever else the machine runs, which req/s on a shared machine is not.
server_ticks() { # pid
  local pids=("$1")
  mapfile -t -O 1 pids < <(children_of "$1")
  local p total=0 u s
  for p in "${pids[@]}"; do
    read -r u s < <(awk '{ print $14, $15 }' "/proc/$p/stat" 2>/dev/null || echo 0 0)
    total=$(( total + u + s ))
  done
  echo "$total"
}
run_wrk() { # server scenario round
  local port_var="port_$1" pid_var="pid_$1" out="$work/wrk-$1-$2-$3.txt" args=() accept=br
  case "$2" in
    hot) args=("http://127.0.0.1:${!port_var}$hot_path") ;;
    image) args=("http://127.0.0.1:${!port_var}$image_path"); accept="br, gzip" ;;
    *) args=(-s "$work/mix.lua" "http://127.0.0.1:${!port_var}/") ;;
  esac
  args=(-H "Accept-Encoding: $accept" "${args[@]}")
  wake "$1"
  taskset -c 1 wrk -t1 -c64 -d2s "${args[@]}" >/dev/null
  local ticks0 ticks1 steal0 steal1
  ticks0=$(server_ticks "${!pid_var}")
  steal0=$(cpu0_steal)
  taskset -c 1 wrk -t1 -c64 -d"$duration" --latency "${args[@]}" >"$out"
  steal1=$(cpu0_steal)
  ticks1=$(server_ticks "${!pid_var}")
  park "$1"
  local rps p99 errors requests cpu
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  requests=$(awk '/requests in/ { print $1 }' "$out")
  cpu=$(awk -v t=$(( ticks1 - ticks0 )) -v n="$requests" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
  errors=$(grep 'Non-2xx' "$out" || true)
  [ -z "$errors" ] || die "wrk got responses other than 200 from $1 ($2): $errors"
  errors=$(grep 'Socket errors' "$out" || true)
  [ -z "$errors" ] || echo "    warning: $1 ($2): $errors" >&2
  echo "$rps $p99 $cpu" >>"$work/results-$1-$2"
  printf '    round %s %-6s %-28s %10.0f req/s  p99 %6.2f ms  %6.2f us CPU/response  CPU 0 steal %s ms\n' \
    "$3" "$2" "${label[$1]}" "$rps" "$p99" "$cpu" $(( (steal1 - steal0) * 1000 / $(getconf CLK_TCK) )) >&2
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

scenarios=(hot mix image)
log "wrk: ${#servers[@]} servers x ${#scenarios[@]} scenarios x $rounds rounds of $duration, alternating"
for round in $(seq 1 "$rounds"); do
  for scenario in "${scenarios[@]}"; do
    for server in "${servers[@]}"; do
      run_wrk "$server" "$scenario" "$round"
    done
  done
done

declare -A rps p99 cpu
for scenario in "${scenarios[@]}"; do
  for server in "${servers[@]}"; do
    rps[$server-$scenario]=$(cut -d' ' -f1 "$work/results-$server-$scenario" | median)
    p99[$server-$scenario]=$(cut -d' ' -f2 "$work/results-$server-$scenario" | median)
    cpu[$server-$scenario]=$(cut -d' ' -f3 "$work/results-$server-$scenario" | median)
  done
done
# The reference is the better nginx of each scenario (more req/s).
declare -A best
for scenario in "${scenarios[@]}"; do
  best[$scenario]=$(awk -v a="${rps[nginx_ofc-$scenario]}" -v b="${rps[nginx-$scenario]}" \
    'BEGIN { print (a >= b) ? "nginx_ofc" : "nginx" }')
done

# --- keel-loadtest: open model at one rate ----------------------------------
# Both servers get the same offered rate: a latency comparison, not an
# overload test. The generator is one thread on one core, so the rate must be
# one it can hold, or the figures are the generator's. With --rate auto, it
# is the highest of a ladder at which a 3 s probe against the reference nginx
# keeps up: no errors, at least 99% of the rate achieved, and requests sent
# at most 1 ms late (p99).
open_run() { # server rate duration out
  local port_var="port_$1"
  wake "$1"
  # Exit 1 only means a goal of its own was missed (nginx has no /metrics).
  taskset -c 1 "$work/keel-loadtest" --target "http://127.0.0.1:${!port_var}" \
    --paths "$work/paths.txt" --no-prewarm --zipf-s 0 --unknown-share 0 \
    --conditional-share 0 --encodings br=1 --profile "steady=${2}rps:$3" \
    --out "$4" >"$4.log" 2>&1 || [ $? = 1 ] || { cat "$4.log" >&2; die "keel-loadtest failed against $1"; }
  park "$1"
}
# "achieved p50 p99 max errors send-lag-p99" of a run's steady phase.
open_fields() { # out
  jq -r '.phases[] | select(.name == "steady")
    | "\(.achieved_rps) \(.latency_ms.p50 // 0) \(.latency_ms.p99 // 0) \(.latency_ms.max // 0) \(.error_count) \(.send_lag_p99_ms)"' \
    "$1/report.json"
}
kept_up() { # rate achieved errors lag
  awk -v r="$1" -v a="$2" -v e="$3" -v l="$4" 'BEGIN { exit !(e == 0 && a >= 0.99 * r && l <= 1.0) }'
}
open_ref=${best[mix]}
ladder=(40000 30000 20000 15000 10000 7500 5000 2500 1000)
next_rung() { # rate: the ladder's next lower rate, or nothing
  local r
  for r in "${ladder[@]}"; do
    [ "$r" -lt "$1" ] && { echo "$r"; return; }
  done
}
auto=0
if [ "$rate" = auto ]; then
  auto=1
  log "keel-loadtest: probing the highest rate the generator holds against ${label[$open_ref]}"
  rate=""
  for try in "${ladder[@]}"; do
    open_run "$open_ref" "$try" 3s "$work/probe-$try"
    read -r achieved _ _ _ errors lag < <(open_fields "$work/probe-$try")
    printf '    %6s req/s offered: achieved %.0f, errors %s, send lag p99 %.2f ms\n' \
      "$try" "$achieved" "$errors" "$lag" >&2
    if kept_up "$try" "$achieved" "$errors" "$lag"; then rate=$try; break; fi
  done
  [ -n "$rate" ] || die "the load generator did not hold even 1000 req/s against nginx"
fi
# A 3 s probe can keep up where the full run does not. Latency compared at a
# rate the generator fell behind on is the generator's, so with --rate auto a
# run that fell behind is repeated one rung lower (at most twice).
declare -A open_line
for attempt in 1 2 3; do
  log "keel-loadtest: ${rate} req/s for $duration over the $pages pages, uniform, br"
  behind=0
  for server in keel "$open_ref"; do
    open_run "$server" "$rate" "$duration" "$work/open-$server"
    read -r achieved p50 p99o max errors lag < <(open_fields "$work/open-$server")
    open_line[$server]=$(printf '%-30s achieved %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  max %7.2f ms  errors %s  send lag p99 %.2f ms' \
      "${label[$server]}" "$achieved" "$p50" "$p99o" "$max" "$errors" "$lag")
    kept_up "$rate" "$achieved" "$errors" "$lag" || {
      behind=1
      open_line[$server]+="  (fell behind: the client or the server could not hold the rate)"
    }
    echo "    ${open_line[$server]}" >&2
  done
  lower=$(next_rung "$rate")
  [ "$auto" = 1 ] && [ "$behind" = 1 ] && [ "$attempt" -lt 3 ] && [ -n "$lower" ] || break
  log "fell behind at ${rate} req/s: again at ${lower} req/s"
  rate=$lower
done

# --- report ----------------------------------------------------------------
echo
echo "keel vs nginx on cache hits: servers on CPU 0 (one worker), wrk -t1 -c64 -d$duration on CPU 1,"
echo "Accept-Encoding: br, medians of $rounds alternating rounds; mix = $pages pages of a match day, hot = $hot_path"
echo "image = $image_path ($(stat -c %s "$docroot$image_path") B), Accept-Encoding: br, gzip"
echo
printf '| %-30s | %10s | %10s | %10s | %12s | %13s | %13s | %12s | %13s | %13s |\n' server "hot req/s" "hot p99 ms" \
  "hot CPU us" "mix req/s" "mix p99 ms" "mix CPU us" "image req/s" "image p99 ms" "image CPU us"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..32})" "-----------:" "-----------:" \
  "-----------:" "-------------:" "--------------:" "--------------:" "-------------:" "--------------:" \
  "--------------:"
for server in "${servers[@]}"; do
  printf '| %-30s | %10.0f | %10.2f | %10.2f | %12.0f | %13.2f | %13.2f | %12.0f | %13.2f | %13.2f |\n' \
    "${label[$server]}" \
    "${rps[$server-hot]}" "${p99[$server-hot]}" "${cpu[$server-hot]}" \
    "${rps[$server-mix]}" "${p99[$server-mix]}" "${cpu[$server-mix]}" \
    "${rps[$server-image]}" "${p99[$server-image]}" "${cpu[$server-image]}"
done
echo
echo "CPU us: the server's CPU time (user + system, its workers included) per response."
# The verdict pairs each round's keel run with the reference's run of the
# same round (they ran back to back), so a slow spell of the machine, which
# moves both, does not decide it: goal met when the median of the per-round
# ratios is >= 1.0 for req/s and <= 1.0 for p99. The medians above are shown
# beside it; they are not paired.
# "req/s-ratio p99-ratio": medians of keel's per-round ratios to `ref`'s,
# the rounds left in $work/paired-REF-SCENARIO.
paired() { # ref scenario
  local file="$work/paired-$1-$2"
  # One line per round: keel rps, p99, ref rps, p99.
  paste -d' ' <(cut -d' ' -f1,2 "$work/results-keel-$2") \
    <(cut -d' ' -f1,2 "$work/results-$1-$2") >"$file"
  echo "$(awk '{ print $1 / $3 }' "$file" | median) $(awk '{ print $2 / $4 }' "$file" | median)"
}
failed=0
ratio_line=""
for scenario in "${scenarios[@]}"; do
  ref=${best[$scenario]}
  read -r rps_ratio p99_ratio < <(paired "$ref" "$scenario")
  verdict=ok
  if ! awk -v r="$rps_ratio" -v p="$p99_ratio" 'BEGIN { exit !(r >= 1.0 && p <= 1.0) }'; then
    verdict=MISS; failed=1
  fi
  ratio_line+=$(printf '%s against %s: req/s %.0f vs %.0f, p99 %.2f vs %.2f ms (medians); paired per round: req/s x%.3f, p99 x%.3f [%s]' \
    "$scenario" "${label[$ref]}" "${rps[keel-$scenario]}" "${rps[$ref-$scenario]}" \
    "${p99[keel-$scenario]}" "${p99[$ref-$scenario]}" "$rps_ratio" "$p99_ratio" "$verdict")
  ratio_line+=$'\n'
  ratio_line+=$(awk '{ printf "    round %d: req/s %.0f vs %.0f (x%.3f), p99 %.2f vs %.2f ms (x%.3f)\n", NR, $1, $3, $1 / $3, $2, $4, $2 / $4 }' "$work/paired-$ref-$scenario")
  ratio_line+=$'\n'
  ratio_line+=$(awk '$1 >= $3 { r++ } $2 <= $4 { p++ } END { printf "    keel at or above in req/s in %d of %d rounds, at or below in p99 in %d of %d", r, NR, p, NR }' \
    "$work/paired-$ref-$scenario")
  ratio_line+=$'\n'
  read -r rps_ratio p99_ratio < <(paired nginx_hdr "$scenario")
  ratio_line+=$(printf '    (same response size: against %s, paired req/s x%.3f, p99 x%.3f; not part of the verdict)' \
    "${label[nginx_hdr]}" "$rps_ratio" "$p99_ratio")
  ratio_line+=$'\n'
done
echo
printf '%s' "$ratio_line"
echo
echo "Open model (keel-loadtest, ${rate} req/s offered for $duration, uniform over $pages pages, latency from the intended send time):"
for server in keel "$open_ref"; do
  echo "  ${open_line[$server]}"
done
echo

if [ "$goal" = 1 ] && [ "$failed" = 1 ]; then
  echo "goal missed: keel must reach at least nginx's req/s with a p99 no worse (--no-goal to only report)" >&2
  exit 1
fi
