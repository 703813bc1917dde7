#!/usr/bin/env bash
# Runs every fuzz target of the module for a short time ($1, default 3s).
# `go test -fuzz` takes one package and one target at a time, so discover them.
#
# Go's fuzz coordinator (go1.26 included) can fail a duration-bounded run
# with a bare "context deadline exceeded" when -fuzztime ends while a worker
# is mid-call (golang/go#75804): no failing input is written. Such a run is
# repeated once with a count budget (-fuzztime Nx has no deadline to race);
# a run that wrote a failing input, or fails otherwise, fails the target.
set -euo pipefail
fuzztime=${1:-3s}
retrycount=${FUZZ_RETRY_COUNT:-20000x}
cd "$(dirname "$0")/.."
status=0
log=/tmp/fuzz.$$.log
corpus() { { ls "$1" 2>/dev/null || true; } | wc -l; }
while IFS= read -r file; do
  dir=$(dirname "$file")
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
    echo "fuzz ./$dir $target ($fuzztime)"
    before=$(corpus "$dir/testdata/fuzz/$target")
    if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$dir" >"$log" 2>&1; then
      continue
    fi
    if grep -q '^    context deadline exceeded$' "$log" && [ "$(corpus "$dir/testdata/fuzz/$target")" = "$before" ]; then
      echo "  golang/go#75804 (deadline race, no failing input): again with -fuzztime $retrycount"
      if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$retrycount" "./$dir" >"$log" 2>&1; then
        continue
      fi
    fi
    cat "$log"
    status=1
  done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | sed 's|^\./||' | sort)
rm -f "$log"
exit $status
