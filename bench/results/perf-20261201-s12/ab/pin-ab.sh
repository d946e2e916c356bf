#!/bin/sh
# Alternating builds, bench-pin hot cycle (uffd, 100 ms delay):
#   pin-ab.sh OLD_BUILD NEW_BUILD N > pin-ab.txt
# e.g. OLD_BUILD = a worktree of 2dc7321 built with -Dbuildtype=release.
old=$1 new=$2 n=${3:-3}
for i in $(seq "$n"); do
	for b in "$old" "$new"; do
		echo "== $b (round $i)"
		"$b/bench/bench-pin" --backend uffd --delay 100 --reps 5 \
			--sample-ms 200 --size 64 --size 1024 --size 16384 |
			grep -E '^## object|uffd, delay'
		"$b/bench/bench-pin" --backend uffd --delay 100 --reps 5 \
			--sample-ms 200 --chunk 64 --size 4096 |
			grep -E '^## object|uffd, delay'
	done
done
