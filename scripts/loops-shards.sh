#!/usr/bin/env bash
# event-loops x shards combinations (issue 2): one disq-server per
# combination and one redis-server, started together, driven in turn with
# redis-benchmark -c 50 and a 20-byte body, several rounds:
#   P1      ADDJOB q <body> 0 at -P 1 (n/3 requests)   | Redis LPUSH q <body>
#   P16     ADDJOB q <body> 0 at -P 16                 | LPUSH q <body>
#   GET16   GETJOB NOHANG FROM q on what P16 left      | RPOP q
#   MULTIQ16 ADDJOB over 1,000 queues (-r 1000)         | LPUSH over 1,000 lists
#
#   scripts/loops-shards.sh [rounds] [n] [combos...]   (combos as loops/shards, default 1/1 1/2 2/2)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-4}; n=${2:-1000000}
shift $(( $# >= 2 ? 2 : $# )) || true
combos=("$@"); [ ${#combos[@]} -eq 0 ] && combos=(1/1 1/2 2/2)
make -s build
body=01234567890123456789
tmp=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
free_port() { while :; do p=$(( 12000 + RANDOM % 10000 )) # client 12000-21999, bus (+10000) 22000-31999: apart, and below the ephemeral ports
  if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/$((p+10000))) 2>/dev/null; then echo $p; return; fi; done; }
ports=()
for c in "${combos[@]}"; do
  p=$(free_port); mkdir -p "$tmp/$p"
  ./bin/disq-server --port $p --bind 127.0.0.1 --dir "$tmp/$p" --admin-port 0 --maxmemory 4gb \
    --event-loops "${c%/*}" --shards "${c#*/}" >"$tmp/$p.log" 2>&1 &
  pids+=($!); ports+=($p)
done
rport=$(free_port)
redis-server --port $rport --bind 127.0.0.1 --save "" --appendonly no --maxmemory 4gb --dir "$tmp" >/dev/null 2>&1 &
pids+=($!)
for p in "${ports[@]}" $rport; do
  for i in $(seq 50); do redis-cli -p $p ping >/dev/null 2>&1 && break; sleep 0.1; done
done
rb() { redis-benchmark -h 127.0.0.1 -p "$1" -c 50 -P "$2" -n "$3" --csv "${@:4}" 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"'; }
res=$tmp/res
for r in $(seq "$rounds"); do
  for i in $(seq 0 ${#combos[@]}); do
    if [ "$i" = ${#combos[@]} ]; then p=$rport; l=redis
      a=$(rb $p 1 $((n/3)) LPUSH q $body); b=$(rb $p 16 $n LPUSH q $body); g=$(rb $p 16 $n RPOP q)
      m=$(rb $p 16 $n -r 1000 LPUSH q:__rand_int__ $body); redis-cli -p $p flushall >/dev/null
    else p=${ports[$i]}; l=${combos[$i]}
      a=$(rb $p 1 $((n/3)) ADDJOB q $body 0); b=$(rb $p 16 $n ADDJOB q $body 0); g=$(rb $p 16 $n GETJOB NOHANG FROM q)
      m=$(rb $p 16 $n -r 1000 ADDJOB q:__rand_int__ $body 0); redis-cli -p $p debug flushall >/dev/null
    fi
    echo "$l $a $b $g $m" | tee -a "$res" >&2
  done
done
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
printf "\nredis-benchmark -c 50, 20-byte body, %s rounds, medians (ops/s); loops/shards\n\n" "$rounds"
printf "| server | ADDJOB -P 1 | ADDJOB -P 16 | GETJOB NOHANG -P 16 | ADDJOB -P 16, 1,000 queues |\n|---|---:|---:|---:|---:|\n"
for l in "${combos[@]}" redis; do
  printf "| %s |" "$l"
  for c in 2 3 4 5; do printf " %.0f |" "$(grep "^$l " "$res" | awk -v c=$c '{print $c}' | median)"; done
  echo
done
