#!/bin/sh
# test-tabcache.sh pictures|unprivileged TABCACHE IMGCACHE
#  pictures:     --snapshot and --trace write what examples/README.md says:
#                a PNG that decodes (imgcache loads it) with the documented
#                size, and a CSV with the documented columns whose figures
#                show purged tabs (pageout pressure purges for sure).
#  unprivileged: run as user nobody (setpriv; skipped if not root): the demo
#                must still find a way to make purges (--expect-purges) and
#                say when its first switch came. 12 s: long enough for a
#                capped hog (10 s fill deadline) where "auto" picks one.
set -u
mode=$1 tabcache=$2 imgcache=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

case $mode in
pictures)
	# Without the default idle delay: tabs hidden a few ms ago must be
	# volatile for the pageout to purge them within this short run.
	VCACHE_IDLE_DELAY_MS=0 \
	"$tabcache" --tabs 12 --switches 40 --pressure pageout --quiet \
		--snapshot "$dir/tabs.png" --trace "$dir/trace.csv" \
		--trace-interval 0.05 || fail "tabcache exited $?"
	[ -f "$dir/tabs.png" ] || fail "no snapshot"
	[ ! -e "$dir/tabs.png.tmp" ] || fail "temporary file left behind"
	# 12 tabs: 6 columns x 2 rows of (6 + 128 + 10) x (96 + 10), + 10.
	size=$(od -An -tu1 -j16 -N8 "$dir/tabs.png" |
	       awk '{ print $3 * 256 + $4 "x" $7 * 256 + $8 }')
	[ "$size" = 874x222 ] || fail "snapshot is $size, not 874x222"
	"$imgcache" --views 1 --pressure none --quiet "$dir" \
		> "$dir/load.txt" || fail "the snapshot does not decode"
	head -1 "$dir/trace.csv" | grep -qx \
		't_s,switches,resident_mib,purged_mib,volatile_mib,regenerations,regen_sigbus,pin_mean_ms,pin_max_ms' ||
		fail "trace header: $(head -1 "$dir/trace.csv")"
	awk -F, 'NR > 1 && NF != 9 { bad = 1 } NR > 1 { n++ }
		NR > 1 && $4 > 0 { purged = 1 }
		END { exit bad || n < 2 || !purged }' "$dir/trace.csv" ||
		fail "trace lines: $(cat "$dir/trace.csv")"
	echo "OK: snapshot and trace"
	;;
unprivileged)
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: unprivileged: not root, cannot switch to nobody"
		exit 77
	fi
	cp "$tabcache" "$dir/tabcache"
	chmod 755 "$dir" "$dir/tabcache"
	cd "$dir" &&
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		./tabcache --seconds 12 --expect-purges > out.txt 2>&1
	rc=$?
	cat out.txt
	[ $rc = 0 ] || fail "tabcache as nobody exited $rc"
	grep -q "^first tab switch" out.txt || fail "no first-switch line"
	grep -q "^pressure: cgroup" out.txt &&
		fail "nobody could make a memory cgroup: nothing tested"
	echo "OK: unprivileged"
	;;
*)
	fail "unknown mode $mode"
	;;
esac
