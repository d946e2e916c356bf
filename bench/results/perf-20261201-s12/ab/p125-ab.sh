#!/bin/bash
# P5 at 125%, pin mode vs lru-100, alternating two builds, N runs each.
# usage: p125-ab.sh OLD_BUILD NEW_BUILD N OUT
old=$1 new=$2 n=${3:-6} out=${4:-/tmp/p125ab}
mkdir -p "$out"
for i in $(seq "$n"); do
  for sk in uniform skewed; do
    flag=; [ $sk = skewed ] && flag=--skewed
    for b in old new; do
      dir=$old; [ $b = new ] && dir=$new
      "$dir/bench/bench-pressure" --limit-mib 240 --rounds 6 --min-round-ms 250 $flag \
        --label 125%-$sk --mode vcache-pin --mode plain-lru --budget-pct 100 \
        > "$out/$b-run$i-$sk.txt" 2>&1
    done
  done
done
for sk in uniform skewed; do
  for b in old new; do
    r=$(for f in "$out"/$b-run*-$sk.txt; do
      p=$(grep -h 'mode=vcache-pin ' "$f" | sed 's/.*visits_per_s=\([0-9.]*\).*/\1/')
      l=$(grep -h 'mode=lru-100 ' "$f" | sed 's/.*visits_per_s=\([0-9.]*\).*/\1/')
      u=$(grep -h 'mode=vcache-pin ' "$f" | sed 's/.*pin_us=\([0-9.]*\) check_us=\([0-9.]*\) unpin_us=\([0-9.]*\).*/\1+\3/')
      echo "$(echo "scale=3; $p / $l" | bc)($u)"
    done | sort -n | tr '\n' ' ')
    echo "125%-$sk $b: pin/lru-100 run by run (pin+unpin us): $r"
  done
done | tee "$out/summary.txt"
