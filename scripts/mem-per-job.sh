#!/usr/bin/env bash
# Memory per job, as issue 2 defines it: RSS one second after loading
# 1,000,000 jobs with a 100-byte body into one queue, minus the RSS before,
# divided by the number of jobs. Runs the same load against Redis (LPUSH of
# the same body into one list) for reference.
#
#   scripts/mem-per-job.sh [n] [-- extra disq-server flags]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
shift $(( $# >= 1 ? 1 : 0 )) || true
[ "${1:-}" = "--" ] && shift
make -s build
tmp=$(mktemp -d)
body=$(head -c 100 /dev/zero | tr '\0' 'x')
rss() { awk '/VmRSS/ {print $2*1024}' "/proc/$1/status"; }
measure() { # name pid port cmd...
  local name=$1 pid=$2 port=$3; shift 3
  for i in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  local r0 r1
  r0=$(rss "$pid")
  redis-benchmark -p "$port" -c 50 -P 16 -n "$n" -q "$@" >/dev/null 2>&1
  sleep 1
  r1=$(rss "$pid")
  printf "%-6s RSS before %d MB, after %d MB: %d bytes per job\n" "$name" $((r0>>20)) $((r1>>20)) $(( (r1-r0)/n ))
}
port=$(( 20000 + RANDOM % 20000 ))
./bin/disq-server --port $port --bind 127.0.0.1 --dir "$tmp" --maxmemory 4gb --admin-port 0 "$@" >"$tmp/disq.log" 2>&1 &
dpid=$!
trap 'kill $dpid ${rpid:-} 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
measure disq $dpid $port addjob q "$body" 0
echo "       (queue length: $(redis-cli -p $port qlen q))"
kill $dpid; wait $dpid 2>/dev/null || true
rport=$((port + 1))
redis-server --port $rport --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
rpid=$!
measure redis $rpid $rport lpush q "$body"
