#!/usr/bin/env bash
# Compares disq-server with Debian's redis-server using redis-benchmark, as
# issue 2 asks: both servers started in the same run, driven with
# `redis-benchmark -c 50 -n N` and a 20-byte body, several rounds interleaved.
# Reports medians, the disq/redis ratio, p50/p99 latency and each server's
# CPU time per operation (from /proc/<pid>/stat).
#
#   scripts/rb-compare.sh [rounds] [n] [-- extra disq-server flags]
#
# Workloads: ADDJOB vs LPUSH at -P 16 and -P 1; GETJOB NOHANG vs RPOP on a
# pre-filled queue/list at -P 16.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
n=${2:-1000000}
shift $(( $# >= 2 ? 2 : $# )) || true
[ "${1:-}" = "--" ] && shift
disq_flags=("$@")
body=01234567890123456789
make -s build
tmp=$(mktemp -d)
free_port() { # a port whose +10000 is free too
  while :; do p=$(( 12000 + RANDOM % 10000 )) # client 12000-21999, bus (+10000) 22000-31999: apart, and below the ephemeral ports
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/$((p+10000))) 2>/dev/null; then echo $p; return; fi
  done
}
dport=$(free_port); rport=$(free_port)
./bin/disq-server --port "$dport" --bind 127.0.0.1 --dir "$tmp" --maxmemory 4gb --admin-port 0 "${disq_flags[@]}" >"$tmp/disq.log" 2>&1 &
dpid=$!
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --maxmemory 4gb --dir "$tmp" >"$tmp/redis.log" 2>&1 &
rpid=$!
trap 'kill $dpid $rpid 2>/dev/null; wait $dpid $rpid 2>/dev/null; rm -rf "$tmp"' EXIT
for i in $(seq 50); do redis-cli -p "$dport" ping >/dev/null 2>&1 && redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done

cpu() { awk '{print $14+$15}' "/proc/$1/stat"; } # utime+stime in ticks
tck=$(getconf CLK_TCK)
# run <label> <pid> <port> <P> <command...>: prints "label rps p50 p99 cpu_us_per_op"
run() {
  local label=$1 pid=$2 port=$3 P=$4; shift 4
  local c0 c1 out
  c0=$(cpu "$pid")
  out=$(redis-benchmark -p "$port" -c 50 -n "$n" -P "$P" --csv "$@" 2>/dev/null | tail -1)
  c1=$(cpu "$pid")
  # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  echo "$out" | awk -F'","' -v l="$label" -v c=$((c1-c0)) -v n="$n" -v t="$tck" '{gsub(/"/,"",$0); split($0,f,","); printf "%s %s %s %s %.3f\n", l, f[2], f[5], f[7], c*1e6/t/n}'
}
res=$tmp/results
# pair <disq label> <redis label> <P> <disq cmd...> -- <redis cmd...>: runs both,
# disq first in odd rounds and Redis first in even rounds.
pair() {
  local dl=$1 rl=$2 P=$3; shift 3
  local dcmd=() rcmd=()
  while [ "$1" != "--" ]; do dcmd+=("$1"); shift; done; shift; rcmd=("$@")
  if (( r % 2 )); then
    run "$dl" $dpid $dport "$P" "${dcmd[@]}" >>"$res"; run "$rl" $rpid $rport "$P" "${rcmd[@]}" >>"$res"
  else
    run "$rl" $rpid $rport "$P" "${rcmd[@]}" >>"$res"; run "$dl" $dpid $dport "$P" "${dcmd[@]}" >>"$res"
  fi
}
for r in $(seq "$rounds"); do
  redis-cli -p "$dport" debug flushall >/dev/null; redis-cli -p "$rport" flushall >/dev/null
  pair addjob-P16 lpush-P16 16 addjob q $body 0 -- lpush q $body
  pair getjob-P16 rpop-P16 16 getjob nohang from q -- rpop q
  redis-cli -p "$dport" debug flushall >/dev/null; redis-cli -p "$rport" flushall >/dev/null
  pair addjob-P1 lpush-P1 1 addjob q $body 0 -- lpush q $body
  echo "round $r done" >&2
done
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
stat() { grep "^$1 " "$res" | awk -v c="$2" '{print $c}' | median; }
printf "\nredis-benchmark -c 50 -n %s, 20-byte body, %s rounds interleaved, medians (%s)\n\n" "$n" "$rounds" "$(nproc) CPUs"
printf "| workload | disq ops/s | redis ops/s | ratio | disq p50/p99 ms | redis p50/p99 ms | disq CPU us/op | redis CPU us/op |\n"
printf "|---|---|---|---|---|---|---|---|\n"
for pair in "addjob-P16 lpush-P16" "addjob-P1 lpush-P1" "getjob-P16 rpop-P16"; do
  set -- $pair
  d=$(stat "$1" 2); rr=$(stat "$2" 2)
  printf "| %s vs %s | %.0f | %.0f | %.2f | %s/%s | %s/%s | %s | %s |\n" "$1" "$2" "$d" "$rr" "$(echo "$d $rr" | awk '{print $1/$2}')" \
    "$(stat "$1" 3)" "$(stat "$1" 4)" "$(stat "$2" 3)" "$(stat "$2" 4)" "$(stat "$1" 5)" "$(stat "$2" 5)"
done
printf "\nPer run (label ops/s p50 p99 cpu_us_per_op):\n"
sort -s -k1,1 "$res"
