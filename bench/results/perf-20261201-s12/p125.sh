#!/bin/bash
# P5 at 125% of the data only, more runs, mode order alternated per run.
# usage: p125.sh BUILD RUNS OUT
B=${1:-build-perf}; N=${2:-8}; OUT=${3:-/tmp/p125}
mkdir -p "$OUT"
for i in $(seq 1 "$N"); do
  for sk in uniform skewed; do
    flag=; [ $sk = skewed ] && flag=--skewed
    if [ $((i % 2)) = 1 ]; then modes="--mode vcache-pin --mode vcache-opt --mode plain-lru"
    else modes="--mode plain-lru --mode vcache-opt --mode vcache-pin"; fi
    $B/bench/bench-pressure --limit-mib 240 --rounds 6 --min-round-ms 250 $flag \
      --label 125%-$sk $modes --budget-pct 100 > "$OUT/run$i-$sk.txt" 2>&1
  done
done
grep -h '^RESULT' "$OUT"/run*.txt | sed 's/ min=.*//' | sort > "$OUT/results.txt"
for sc in 125%-uniform 125%-skewed; do
  for m in vcache-pin vcache-opt lru-100; do
    v=$(grep "scenario=$sc mode=$m " "$OUT/results.txt" | sed 's/.*visits_per_s=//' | sort -n | tr '\n' ' ')
    echo "$sc $m: $v"
  done
done | tee "$OUT/summary.txt"
