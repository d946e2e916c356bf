# Sourced by abi-check.sh and abi-update.sh: where things are, how to dump.
# The reference is per soname: a new major version starts a new file.
abi_setup() {
	build=${1:-build-test}
	[ -f "$build/build.ninja" ] || {
		echo "abi: no meson build in $build (run meson setup first)" >&2
		exit 2
	}
	ninja -C "$build" >/dev/null
	so=$(readlink -f "$build/libvcache/libvcache.so")
	soname=$(objdump -p "$so" | awk '$1 == "SONAME" { print $2 }')
	ref=abi/$soname.abi
	hdrs=$(mktemp -d)
	trap 'rm -rf "$hdrs"' EXIT
	# The installed headers: the ABI is what they declare.
	cp include/vcache.h "$build/include/vcache-version.h" "$hdrs/"
}

# abi_dump OUT: the library's ABI as libabigail XML, without paths or line
# numbers so that the file changes only when the ABI does.
abi_dump() {
	abidw --headers-dir "$hdrs" --drop-private-types --no-corpus-path \
		--no-show-locs --out-file "$1" "$so"
}
