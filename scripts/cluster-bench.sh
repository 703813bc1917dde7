#!/usr/bin/env bash
# Replication benchmark (issue 5): a 3-node cluster and a lone node started
# in the same run on this machine, driven with disq-bench:
#   - ADDJOB with the default replication (3 copies) at -c 50 -P 16, as a
#     ratio to the lone node's ADDJOB (several rounds, interleaved);
#   - replicated ADDJOB latency at -c 50 -P 1 beside the lone node's;
#   - bytes on the wire per replicated job with repl-compression s2 and none
#     (INFO bus totals on the producing node);
#   - a cycle workload spread over the 3 nodes.
# The replicated rows run twice: on a cluster of nodes with their default
# GOMAXPROCS (the CPU count, i.e. 2 here; cores + event loops = 3 before
# the fifth session) and on a cluster whose nodes each run with
# GOMAXPROCS=1 ("procs 1"), the setting for three nodes that share two
# cores: six Ps on two cores spend the difference spinning in the Go
# scheduler. The lone node always runs on its defaults.
#
#   scripts/cluster-bench.sh [rounds] [n]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
n=${2:-200000}
make -s build
tmp=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { while :; do p=$(( 12000 + RANDOM % 10000 )) # client 12000-21999, bus (+10000) 22000-31999: apart, and below the ephemeral ports
  if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/$((p+10000))) 2>/dev/null; then echo $p; return; fi; done; }
start() { # name port extra...
  local name=$1 port=$2; shift 2
  mkdir -p "$tmp/$name"
  GOMAXPROCS=$procs ./bin/disq-server --port "$port" --bind 127.0.0.1 --dir "$tmp/$name" --admin-port 0 --maxmemory 4gb "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  for i in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "server $name did not start" >&2; cat "$tmp/$name.log" >&2; exit 1
}
cluster() { # comp [tag] -> sets ports c1 c2 c3
  c1=$(free_port); c2=$(free_port); c3=$(free_port)
  while [ $c2 = $c1 ]; do c2=$(free_port); done
  while [ $c3 = $c1 ] || [ $c3 = $c2 ]; do c3=$(free_port); done
  start "a$1${2:-}" $c1 --repl-compression "$1"; start "b$1${2:-}" $c2 --repl-compression "$1"; start "c$1${2:-}" $c3 --repl-compression "$1"
  redis-cli -p $c1 cluster meet 127.0.0.1 $c2 >/dev/null; redis-cli -p $c1 cluster meet 127.0.0.1 $c3 >/dev/null
  for i in $(seq 100); do
    [ "$(redis-cli -p $c1 cluster info | tr -d '\r' | awk -F: '/reachable/ {print $2}')" = 2 ] &&
    [ "$(redis-cli -p $c3 cluster info | tr -d '\r' | awk -F: '/reachable/ {print $2}')" = 2 ] && return
    sleep 0.1
  done
  echo "cluster did not converge" >&2; exit 1
}
bench() { ./bin/disq-bench "$@" --json 2>/dev/null; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
procs= # empty: the default
lone=$(free_port); start lone $lone
cluster s2
s2=($c1 $c2 $c3)
cluster none
nc=($c1 $c2 $c3)
procs=1
cluster s2 p1
p1=($c1 $c2 $c3)
procs=

res=$tmp/res
# Every run starts on empty nodes: FLUSHALL is per node, so the replicas
# are flushed too (otherwise they keep every earlier round's copies).
flush() { case $1 in lone) redis-cli -p $lone debug flushall >/dev/null ;;
  repl) for p in "${s2[@]}"; do redis-cli -p $p debug flushall >/dev/null; done ;;
  repl1) for p in "${p1[@]}"; do redis-cli -p $p debug flushall >/dev/null; done ;; esac; }
for r in $(seq "$rounds"); do
  for target in lone repl repl1; do
    port=$lone; [ $target = repl ] && port=${s2[0]}; [ $target = repl1 ] && port=${p1[0]}
    flush $target
    bench produce -p $port -c 50 -P 16 -n "$n" --addjob-timeout 5000 | field 'd["ops_per_sec"], d["latency_ms"]["p50"], d["latency_ms"]["p99"]' | sed "s/^/$target-P16 /" >>"$res"
    flush $target
    bench produce -p $port -c 50 -P 1 -n $((n/4)) --addjob-timeout 5000 | field 'd["ops_per_sec"], d["latency_ms"]["p50"], d["latency_ms"]["p99"]' | sed "s/^/$target-P1 /" >>"$res"
    flush $target
    redis-benchmark -p $port -c 50 -P 16 -n "$n" --csv addjob q 01234567890123456789 0 2>/dev/null | tail -1 |
      awk -F'","' -v t="$target" '{gsub(/"/,"",$0); split($0,f,","); print t "-rb16 " f[2] " " f[5] " " f[7]}' >>"$res"
  done
  echo "round $r done" >&2
done
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
col() { grep "^$1 " "$res" | tr -d '(),' | awk -v c="$2" '{print $c}' | median; }

# Mean replication latency over every round (INFO bus: REPLJOB sent ->
# confirmation received, per copy) on each cluster's producing node.
repl_lat() { redis-cli -p $1 info bus | tr -d '\r' | sed -n 's/^bus_total:.*repl_confirms=\([0-9]*\),repl_latency_us=\([0-9]*\).*/\2 us over \1 copies/p'; }
lat_def=$(repl_lat ${s2[0]}); lat_p1=$(repl_lat ${p1[0]})

# Bytes on the wire per replicated job, S2 on and off (one run each).
wire() { # port comp
  local before after jobs=100000 body
  before=$(redis-cli -p $1 info bus | tr -d '\r' | sed -n 's/.*bus_total:.*bytes_sent=\([0-9]*\).*/\1/p')
  bench produce -p $1 -c 50 -P 16 -n $jobs -d "$3" --addjob-timeout 5000 >/dev/null
  after=$(redis-cli -p $1 info bus | tr -d '\r' | sed -n 's/.*bus_total:.*bytes_sent=\([0-9]*\).*/\1/p')
  payload=$(redis-cli -p $1 info bus | tr -d '\r' | sed -n 's/.*bus_total:.*payload_bytes_sent=\([0-9]*\).*/\1/p')
  echo "$2 $3 $(( (after-before)/jobs ))"
}
w1=$(wire ${s2[0]} s2 100); w2=$(wire ${nc[0]} none 100); w3=$(wire ${s2[0]} s2 1024); w4=$(wire ${nc[0]} none 1024)

# A cycle workload spread over the 3 nodes.
# Three runs in a row on the same cluster.
cycle() { for i in 1 2 3; do bench cycle --nodes 127.0.0.1:$1,127.0.0.1:$2,127.0.0.1:$3 -c 48 -P 16 -n "$n" --addjob-timeout 5000 |
  field 'd["ops_per_sec"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["empty_fetches"]'; done; }
cyc=$(cycle "${s2[@]}")
cyc1=$(cycle "${p1[@]}")

printf "\n3-node cluster vs a lone node, disq-bench produce -c 50, -n %s, %s rounds (medians), %s CPUs\n\n" "$n" "$rounds" "$(nproc)"
printf "| workload | lone jobs/s | replicated (3 copies) jobs/s | ratio | lone p50/p99 ms | replicated p50/p99 ms |\n|---|---|---|---|---|---|\n"
for t in repl repl1; do for P in P16 P1 rb16; do
  l=$(col lone-$P 2); rr=$(col $t-$P 2)
  name="ADDJOB -$P (disq-bench)"; [ $P = rb16 ] && name="ADDJOB -P16 (redis-benchmark, 20 B)"
  [ $t = repl1 ] && name="$name, nodes GOMAXPROCS=1"
  printf "| %s | %.0f | %.0f | %.2f | %s/%s | %s/%s |\n" "$name" "$l" "$rr" "$(echo "$rr $l" | awk '{print $1/$2}')" \
    "$(col lone-$P 3)" "$(col lone-$P 4)" "$(col $t-$P 3)" "$(col $t-$P 4)"
done; done
# The lone node's rate drifts during a run on a shared machine; the median
# of each round's own ratio (lone and replicated measured back to back) is
# the steadier figure.
for t in repl repl1; do
printf "\nMedian of the per-round ratios ($t / lone):"
for P in P16 P1 rb16; do
  printf " %s %s" "$P" "$(paste <(grep "^lone-$P " "$res" | awk '{print $2}') <(grep "^$t-$P " "$res" | awk '{print $2}') |
    awk '{print $2/$1}' | median | xargs printf "%.2f")"
done
done
echo
printf "\nPer run (label jobs/s p50 p99):\n"; sort -s -k1,1 "$res"
printf "\nMean replication latency per copy on the producing node (INFO bus repl_latency_us), all rounds: default cluster %s; GOMAXPROCS=1 cluster %s\n" "$lat_def" "$lat_p1"
printf "\nBytes on the wire per replicated job (two copies sent by the producing node):\n\n| body | repl-compression s2 | none |\n|---|---|---|\n"
printf "| 100 B | %s | %s |\n| 1 KiB | %s | %s |\n" "${w1##* }" "${w2##* }" "${w3##* }" "${w4##* }"
printf "\ncycle over the 3 nodes (--nodes, -c 48 -P 16), 3 runs: jobs/s p50_ms p99_ms empty_fetches\n%s\n" "$cyc"
printf "\nthe same on the GOMAXPROCS=1 cluster:\n%s\n" "$cyc1"
