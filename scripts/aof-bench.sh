#!/usr/bin/env bash
# scripts/aof-bench.sh [rounds] [jobs]: ADDJOB -c 50 -P 16 (20-byte bodies) on one
# disq node in memory, with appendonly yes + everysec and + always, and Redis
# LPUSH in memory and with appendonly yes + appendfsync always; same tool
# (disq-bench), rounds interleaved, a fresh server per run. Prints per run:
# label jobs/s p50_ms p99_ms errors bytes_per_job(dir, after a clean stop) server_cpu_us_per_job
# mean_fsync_us (disq with the log on: INFO aof_fsync_usec / aof_fsyncs; else 0)
# WARM=1 (the default) runs scripts/memwarm before each server starts, so
# every run finds memory its VM host has backed (see memwarm's comment: on
# the benchmark machine memory freed for 2 s costs 4-5 ms per 2 MiB to touch
# again, so without it a run's speed depends on how long ago the previous
# run ended, and on how much memory that run used). WARM=0 leaves it out.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}; n=${2:-500000}
make -s build
warm=${WARM:-1}
memdir=$(mktemp -d /tmp/memwarm.XXXXXX)
trap 'rm -rf "$memdir"' EXIT
memwarm=$memdir/memwarm
go build -o "$memwarm" ./scripts/memwarm
out=${OUT:-/tmp/aof-bench.results}; : >"$out"
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
port=27811
wait_up() { for i in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.05; done; echo "not up" >&2; exit 1; }
run() { # label kind(disq|redis) flags...
  local label=$1 kind=$2; shift 2
  local dir; dir=$(mktemp -d /tmp/aofbench.XXXXXX)
  if [ "$warm" = 1 ]; then "$memwarm" -mib "${WARM_MIB:-256}"; fi
  if [ "$kind" = disq ]; then
    ./bin/disq-server --port $port --bind 127.0.0.1 --dir "$dir" --admin-port 0 "$@" >"$dir/log" 2>&1 &
  else
    redis-server --port $port --bind 127.0.0.1 --dir "$dir" --save "" "$@" >"$dir/log" 2>&1 &
  fi
  local pid=$!
  wait_up $port
  local c0 c1 line
  c0=$(cpu $pid)
  if [ "$kind" = disq ]; then
    line=$(./bin/disq-bench produce -p $port -c 50 -P 16 -n "$n" -d 20 --cleanup=false --csv --csv-header=false --progress never)
  else
    line=$(./bin/disq-bench produce --target redis -p $port -c 50 -P 16 -n "$n" -d 20 --cleanup=false --csv --csv-header=false --progress never)
  fi
  c1=$(cpu $pid)
  local fs=0
  if [ "$kind" = disq ]; then
    fs=$(redis-cli -p $port info persistence | tr -d '\r' | awk -F: '/^aof_fsync_usec:/ {u=$2} /^aof_fsyncs:/ {n=$2} END {print (n > 0 ? int(u/n) : 0)}')
  fi
  kill $pid; wait $pid 2>/dev/null || true # a clean stop (cuts disq's preallocated log space)
  local bytes; bytes=$(du -sb --exclude=log --exclude='nodes.conf*' "$dir" | cut -f1)
  rm -rf "$dir"
  # ops_per_sec is field 15, errors 16, p50 18, p99 20
  echo "$line" | awk -F, -v l="$label" -v b="$bytes" -v n="$n" -v c=$((c1-c0)) -v t="$tck" -v f="$fs" \
    '{printf "%s %s %s %s %s %.1f %.2f %s\n", l, $15, $18, $20, $16, b/n, c*1e6/t/n, f}' | tee -a "$out"
}
configs=(
  "disq-mem disq"
  "disq-everysec disq --appendonly yes --appendfsync everysec --aof-compression none"
  "disq-always disq --appendonly yes --appendfsync always --aof-compression none"
  "disq-everysec-s2 disq --appendonly yes --appendfsync everysec --aof-compression s2"
  "disq-always-s2 disq --appendonly yes --appendfsync always --aof-compression s2"
  "redis-mem redis --appendonly no"
  "redis-always redis --appendonly yes --appendfsync always"
)
# Each round starts one configuration later, so none always runs right
# after the same other one.
for r in $(seq "$rounds"); do
  echo "# round $r (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  for k in $(seq 0 $((${#configs[@]} - 1))); do
    # shellcheck disable=SC2086 # a configuration is its words
    run ${configs[$(((r - 1 + k) % ${#configs[@]}))]}
  done
done
# Medians per configuration and the ratios the issue asks for.
echo
echo "medians over $rounds rounds (jobs/s, p50 ms, p99 ms, bytes/job, server CPU us/job, mean fsync us):"
med() { awk -v l="$1" -v k="$2" '$1==l {print $k}' "$out" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for l in disq-mem disq-everysec disq-always disq-everysec-s2 disq-always-s2 redis-mem redis-always; do
  printf "%-14s jobs/s %9s  p50 %6s  p99 %7s  bytes/job %6s  cpu_us/job %5s  fsync_us %4s\n" $l "$(med $l 2)" "$(med $l 3)" "$(med $l 4)" "$(med $l 6)" "$(med $l 7)" "$(med $l 8)"
done
awk 'function med(arr, n,   i, j, t) { for (i=1;i<=n;i++) for (j=i+1;j<=n;j++) if (arr[j]<arr[i]) {t=arr[i];arr[i]=arr[j];arr[j]=t}; return arr[int((n+1)/2)] }
  /^disq-mem / {m[++nm]=$2} /^disq-everysec / {e[++ne]=$2} /^disq-always / {a[++na]=$2} /^disq-everysec-s2 / {es[++nes]=$2} /^disq-always-s2 / {as[++nas]=$2} /^redis-mem / {rm[++nr]=$2} /^redis-always / {ra[++nra]=$2}
  END { for (i=1;i<=nm;i++) {re[i]=e[i]/m[i]; rA[i]=a[i]/m[i]; reS[i]=es[i]/m[i]; rAS[i]=as[i]/m[i]; rR[i]=ra[i]/rm[i]; dr[i]=a[i]/ra[i]; drS[i]=as[i]/ra[i]}
        printf "ratios (median of per-round ratios), aof-compression none: everysec/mem %.2f  always/mem %.2f;  s2: everysec/mem %.2f  always/mem %.2f\n", med(re,nm), med(rA,nm), med(reS,nm), med(rAS,nm)
        printf "redis always/mem %.2f  disq always/redis always: none %.2f, s2 %.2f\n", med(rR,nm), med(dr,nm), med(drS,nm) }' "$out"
