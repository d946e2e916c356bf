#!/usr/bin/env bash
# Draw the benchmark plots (gnuplot, from Debian's gnuplot-nox) next to the
# tables in DIR:
#   DIR/pressure-series.csv (bench-pressure --series) -> pressure-series.png
#   DIR/pin.csv             (bench-pin --csv)          -> pin-size.png
#   DIR/p5.csv              (bench/perf.sh, P5)        -> p5-ratios.png
# Usage: bench/plot.sh DIR [TITLE]. A missing CSV is skipped, and said so.
set -euo pipefail
dir=${1:?usage: bench/plot.sh DIR [TITLE]}
title=${2:-}
command -v gnuplot >/dev/null || {
	echo "plot: gnuplot missing (scripts/deps.sh bench installs it)" >&2
	exit 1
}

if [ -f "$dir/pressure-series.csv" ]; then
	# The cgroup limit, from the run's own table when it is there.
	limit=$(sed -n 's/.*memory cgroup limit \([0-9]*\) MiB.*/\1/p' \
		"$dir/pressure-series.txt" 2>/dev/null | head -1)
	gnuplot <<GP
set terminal pngcairo size 900,900 font ",10"
set output "$dir/pressure-series.png"
set datafile separator ","
set key top right
set grid
set multiplot layout 3,1 title "bench-pressure over time: 48 x 4 MiB objects in a ${limit:-?} MiB memory cgroup, no swap ${title}"
f = "$dir/pressure-series.csv"
sel(m, col) = (strcol(1) eq m) ? column(col) : NaN
modes = "vcache-pin vcache-opt plain-lru plain-all"
set ylabel "group memory (MiB)"
$( [ -n "$limit" ] && echo "set arrow from graph 0, first $limit to graph 1, first $limit nohead dt 2 lc rgb 'gray40'" )
set key right center
plot for [m in modes] f using 2:(sel(m, 7)) with lines lw 2 title m
unset arrow
set key top right
set ylabel "visits per second"
plot for [m in modes] f using 2:(sel(m, 4)) with lines lw 1.5 title m
set ylabel "regenerated (MiB/s)"
set xlabel "time since the mode's process started (s)"
plot for [m in modes] f using 2:(sel(m, 6)) with lines lw 1.5 title m
unset multiplot
GP
	echo "plot: $dir/pressure-series.png"
else
	echo "plot: no $dir/pressure-series.csv, skipped"
fi

if [ -f "$dir/p5.csv" ]; then
	# Issue 8's P5 bar: throughput of each mode over the best hand-sized
	# LRU of the scenario (x1.0 = as good as the best budget picked
	# afterwards); log scale, since the ratios span two decades.
	gnuplot <<GP
set terminal pngcairo size 1100,560 font ",10"
set output "$dir/p5-ratios.png"
set datafile separator ","
set title "P5: vcache throughput / best LRU budget per scenario (48 x 4 MiB in a memory cgroup of N% of the data) ${title}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y
set yrange [0.01:20]
set ytics ("x0.01" 0.01, "x0.03" 0.03, "x0.1" 0.1, "x0.3" 0.3, "x1" 1, "x3" 3, "x10" 10)
set ylabel "visits/s over the best LRU's"
set grid ytics
set xtics rotate by -40
set key top left
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "black"
plot "$dir/p5.csv" using (\$6 > 0 ? \$6 : 0.011):xtic(1) skip 1 title "pin (default options)" lc rgb "#4477aa", \
     "" using (\$7 > 0 ? \$7 : 0.011) skip 1 title "optimistic" lc rgb "#ee6677"
GP
	echo "plot: $dir/p5-ratios.png"
else
	echo "plot: no $dir/p5.csv, skipped"
fi

if [ -f "$dir/pin.csv" ]; then
	# One data block per configuration (gnuplot "index"), so that each
	# line joins its own points; only configurations that were measured.
	tmp=$(mktemp)
	trap 'rm -f "$tmp"' EXIT
	awk -F, 'NR > 1 && $2 != "plain" { k = $2 ", idle delay " $3 " ms";
		if (!(k in seen)) { seen[k] = n++; name[seen[k]] = k }
		rows[seen[k]] = rows[seen[k]] $1 " " $4 " " $5 " " $6 "\n" }
		END { for (i = 0; i < n; i++)
			printf "# %s\n%s\n\n", name[i], rows[i] }' \
		"$dir/pin.csv" > "$tmp"
	gnuplot <<GP
set terminal pngcairo size 900,560 font ",10"
set output "$dir/pin-size.png"
set logscale xy
set grid
set key top left
set title "bench-pin: one pin (VCACHE\\\\_PIN\\\\_REGENERATE) + unpin cycle vs object size; median, bars min..max ${title}"
set xlabel "object size (KiB; chunk = page)"
set ylabel "time per cycle (ns)"
t(i) = system(sprintf("sed -n 's/^# //p' $tmp | sed -n %dp", i + 1))
plot for [i = 0:$(grep -c '^#' "$tmp") - 1] "$tmp" index i using 1:2:3:4 \
	with yerrorlines lw 2 title t(i)
GP
	echo "plot: $dir/pin-size.png"
else
	echo "plot: no $dir/pin.csv, skipped"
fi
