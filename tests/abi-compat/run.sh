#!/bin/sh
# Run a program built against the 0.1 ABI with this tree's libvcache.
# Usage: run.sh CC LIBVCACHE_SO WORKDIR
# The program is linked against a stub library that has exactly the 0.1
# exports and symbol versions (vcache-0.1.sym), as if it had been built
# back then; at run time the real library is found first.
set -eu
cc=$1 newlib=$(readlink -f "$2") work=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work/stub"
sed -n 's/^[[:space:]]*\(vcache_[a-z_]*\);.*/void \1(void) { }/p' \
	"$here/vcache-0.1.sym" >"$work/stub/stub.c"
$cc -shared -fPIC -o "$work/stub/libvcache.so.1" "$work/stub/stub.c" \
	-Wl,--version-script,"$here/vcache-0.1.sym" -Wl,-soname,libvcache.so.1
ln -sf libvcache.so.1 "$work/stub/libvcache.so"
$cc -std=gnu11 -o "$work/old-program" "$here/old-program.c" \
	-L"$work/stub" -lvcache
# It asks for the 0.1 versions, like a binary from back then.
syms=$(readelf --dyn-syms -W "$work/old-program")
for s in vcache_stats_get@LIBVCACHE_1 vcache_options_init@LIBVCACHE_1; do
	case $syms in *"$s "*) ;; *)
		echo "old-program does not reference $s" >&2; exit 1 ;;
	esac
done
LD_LIBRARY_PATH=$(dirname "$newlib") "$work/old-program"
