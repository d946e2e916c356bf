#!/bin/sh
# Guest side of the vcache benchmarks: run inside the patched-kernel QEMU
# guest (kernel/run-tests.sh --tests extra --extra-dir THIS_DIR). Sizes are
# reduced for a TCG guest; times are emulated and the clock may tick in
# jiffies: only ratios between backends inside this one run mean anything.
cd /extra
echo "### bench: vrange syscall_nr: $(cat /sys/kernel/mm/vrange/syscall_nr 2>&1)"
./bench-pin --sample-ms 200 --reps 5 --size 4 --size 64 --size 1024 --delay 0 --delay 100 --backend none --backend uffd --backend vrange --csv /tmp/pin.csv
# The CSV goes through the console log; bench/guest.sh cuts it out and plots.
echo "### pin.csv"; cat /tmp/pin.csv; echo "### end pin.csv"
./bench-many --objects 10000 --chunks 16 --rounds 5 --backend none --backend uffd --backend vrange
./bench-regen --mib 8 --reps 5 --backend uffd --backend vrange
./bench-pressure --backend vrange --objects 24 --object-mib 4 --limit-mib 48 --rounds 2
./bench-pressure --backend uffd --objects 24 --object-mib 4 --limit-mib 48 --rounds 2 --mode vcache-pin --mode vcache-opt
# Issue 8's P2/P3, P4 and P6 (bench/perf.sh on the host), per backend.
for be in uffd vrange; do
	./bench-perf --backend $be --only P2,P4,P6t --reps 5 --sample-ms 200 --faults 20 --thread-ms 400
	./bench-scale --backend $be --only objects --reps 3 --many 2000
done
exit 0
