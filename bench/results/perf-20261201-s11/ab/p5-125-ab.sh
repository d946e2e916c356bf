#!/bin/bash
# interleaved A/B at 125% skewed and uniform, pin+opt, plus lru-100
out=$1; n=$2
for i in $(seq $n); do
 for pat in skewed uniform; do
  ex=(); [ $pat = skewed ] && ex=(--skewed)
  for b in old new; do
   d=/work/wt-old; [ $b = new ] && d=/work/main
   $d/build-perf/bench/bench-pressure --limit-mib 240 --rounds 6 --min-round-ms 250 "${ex[@]}" --label "125%-$pat-$b" --mode vcache-pin --mode vcache-opt 2>&1 | grep RESULT
  done
  /work/main/build-perf/bench/bench-pressure --limit-mib 240 --rounds 6 --min-round-ms 250 "${ex[@]}" --label "125%-$pat" --mode plain-lru --budget-pct 100 2>&1 | grep RESULT
 done
done > $out
