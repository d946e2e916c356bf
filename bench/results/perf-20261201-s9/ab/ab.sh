#!/bin/bash
# ab.sh OUT N LIMIT EXTRA... : alternate old/new bench-pressure runs
out=$1 n=$2 lim=$3; shift 3
for i in $(seq $n); do
  for b in /work/wt-old/build-perf /work/main/build-perf; do
    tag=$(basename $(dirname $b))
    $b/bench/bench-pressure --limit-mib $lim --rounds 6 --min-round-ms 250 "$@" 2>&1 | grep '^RESULT' | sed "s/^/$tag /" >> $out
  done
done
