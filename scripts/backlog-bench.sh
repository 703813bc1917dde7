#!/usr/bin/env bash
# scripts/backlog-bench.sh MODE [rounds] [server binaries...]: stalls of a
# shard holding a large backlog, each binary in turn per round (a fresh
# server per run, on 127.0.0.1:27811, data in a temporary directory).
#
#   randdel  4,194,304 jobs in one queue, 5/8 of them deleted in random
#            order (DELJOB pipelined 100 deep) while QLEN is sent every ms;
#            then the slow log (entries over 10 ms).        N: jobs
#   restart  N jobs with RETRY 2 under appendonly, SHUTDOWN, restart on the
#            same log; QLEN every ms for 5 s while they requeue (2 s after
#            the restart, spread over the +-250 ms jitter).  N: 2000000
#   qpeek    the same with RETRY 1, then the time of QPEEK 1, QPEEK -1 and
#            JSCAN COUNT 10 QUEUE (redis-cli, its start-up included).
#   purge    N jobs in one queue, purged by the admin API while QLEN of it
#            is sent every ms.                               N: 2000000
#   tenantdel N jobs of tenant acme, the tenant deleted by the admin API
#            while QLEN of 8 default-tenant queues (on every shard) is sent
#            every ms.                                       N: 2000000
#   scrape   N jobs in one queue; 5 times GET /metrics and the tenant's
#            usage while QLEN of it is sent every ms.      N: 2000000
#
# Binaries default to ./bin/disq-server. Example, before/after a change:
#   scripts/backlog-bench.sh restart 3 /tmp/disq-old /tmp/disq-new
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?mode: randdel | restart | qpeek | purge | tenantdel | scrape}; rounds=${2:-1}; shift $(( $# >= 2 ? 2 : $# ))
bins=("$@"); [ ${#bins[@]} -gt 0 ] || bins=(./bin/disq-server)
make -s build
probe=$(mktemp -d /tmp/backlog-probe.XXXXXX)/backlog-probe
go build -o "$probe" ./scripts/backlog-probe
port=27811; aport=27812
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null || true' EXIT
wait_up() { for _ in $(seq 400); do redis-cli -p $port ping >/dev/null 2>&1 && return; sleep 0.05; done; echo "server not up" >&2; exit 1; }
start() { # bin dir flags...
  local bin=$1 dir=$2; shift 2
  "$bin" --port $port --bind 127.0.0.1 --dir "$dir" --admin-port 0 "$@" >>"$dir/log" 2>&1 &
  pid=$!
  wait_up
}
fill_ping() { # bin dir n queues [produce flags...]: fill with the admin API on, then QLEN of queues every ms for 3 s in the background
  local bin=$1 dir=$2 n=$3 qs=$4; shift 4
  start "$bin" "$dir" --admin-port $aport
  [ "$#" -eq 0 ] || curl -s -X PUT -H 'Content-Type: application/json' -d '{"password":"pw-acme-123456"}' "http://127.0.0.1:$aport/v1/tenants/acme" >/dev/null
  ./bin/disq-bench produce -p $port -c 50 -P 16 -n "$n" -d 20 --cleanup=false --progress never "$@" >/dev/null
  "$probe" -a 127.0.0.1:$port -mode ping -q "$qs" -d 3s >"$dir/ping" &
  ping_pid=$!
  sleep 0.5
}
fill_restart() { # bin dir n retry: fill, clean stop, restart
  start "$1" "$2" --appendonly yes
  ./bin/disq-bench produce -p $port -c 50 -P 16 -n "$3" -d 20 --retry "$4" --cleanup=false --progress never >/dev/null
  redis-cli -p $port shutdown >/dev/null 2>&1 || true
  wait $pid || true
  start "$1" "$2" --appendonly yes
}
for r in $(seq "$rounds"); do
  for bin in "${bins[@]}"; do
    dir=$(mktemp -d /tmp/backlog-bench.XXXXXX)
    echo -n "round $r $bin: "
    case $mode in
    randdel)
      start "$bin" "$dir"
      "$probe" -a 127.0.0.1:$port -mode randdel -n "${N:-4194304}"
      echo -n "  "; "$probe" -a 127.0.0.1:$port -mode slowlog
      ;;
    restart)
      n=${N:-2000000}
      fill_restart "$bin" "$dir" "$n" 2
      "$probe" -a 127.0.0.1:$port -mode ping -q disq-bench -want "$n" -d 5s
      ;;
    qpeek)
      n=${N:-100000}
      fill_restart "$bin" "$dir" "$n" 1
      sleep 2.5
      echo -n "qlen $(redis-cli -p $port qlen disq-bench); "
      for c in "qpeek disq-bench 1" "qpeek disq-bench -1" "jscan count 10 queue disq-bench"; do
        s=$(date +%s.%N); timeout "${T:-600}" redis-cli -p $port $c >/dev/null || echo -n "(timed out) "; e=$(date +%s.%N)
        echo -n "$c: $(echo "$e - $s" | bc) s; "
      done
      echo
      ;;
    purge)
      fill_ping "$bin" "$dir" "${N:-2000000}" disq-bench
      s=$(date +%s.%N)
      out=$(curl -s -X POST -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$aport/v1/tenants/default/queues/disq-bench/purge")
      e=$(date +%s.%N)
      wait $ping_pid
      echo "$out in $(echo "$e - $s" | bc) s; $(cat "$dir/ping")"
      ;;
    tenantdel)
      fill_ping "$bin" "$dir" "${N:-2000000}" o1,o2,o3,o4,o5,o6,o7,o8 --user acme --pass pw-acme-123456
      code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$aport/v1/tenants/acme")
      wait $ping_pid
      echo "DELETE $code; $(cat "$dir/ping"); jobs left: $(curl -s "http://127.0.0.1:$aport/metrics" | awk '/^disq_shard_jobs/ {n += $2} END {print n}')"
      ;;
    scrape)
      fill_ping "$bin" "$dir" "${N:-2000000}" disq-bench
      took=
      for _ in 1 2 3 4 5; do
        s=$(date +%s.%N)
        curl -s "http://127.0.0.1:$aport/metrics" >/dev/null
        curl -s "http://127.0.0.1:$aport/v1/tenants/default/usage" >/dev/null
        e=$(date +%s.%N)
        took="$took $(echo "$e - $s" | bc)"
        sleep 0.2
      done
      wait $ping_pid
      echo "metrics + usage (s):$took; $(cat "$dir/ping")"
      ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
    esac
    kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
    rm -rf "$dir"
  done
done
rm -rf "$(dirname "$probe")"
