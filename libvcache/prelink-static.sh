#!/bin/sh
# Usage: prelink-static.sh OUT.a IN.a
# Make OUT.a one relocatable object holding every member of IN.a, with the
# hidden (internal) symbols turned local. What stays global is what the
# shared library exports (default visibility); undefined references to
# libc/libpthread stay undefined for the final link.
set -eu
out=$1 in=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
case $in in /*) ;; *) in=$PWD/$in ;; esac
if [ "$(head -c 7 "$in")" = '!<thin>' ]; then
	# meson makes uninstalled archives thin: members are paths
	# relative to the archive's directory.
	dir=$(dirname "$in")
	${AR:-ar} t "$in" | while IFS= read -r m; do
		case $m in /*) echo "$m" ;; *) echo "$dir/$m" ;; esac
	done >"$tmp/members"
else
	(cd "$tmp" && ${AR:-ar} x "$in")
	ls "$tmp"/*.o >"$tmp/members"
fi
# compat.c serves binaries linked against old versions of the shared
# library only: a static link is always against the current header.
grep -v 'compat\.c\.o$' "$tmp/members" >"$tmp/keep"
mv "$tmp/keep" "$tmp/members"
# One member per line; paths come from the build tree (no newlines).
# shellcheck disable=SC2046
${LD:-ld} -r -o "$tmp/vcache.o" $(cat "$tmp/members")
${OBJCOPY:-objcopy} --localize-hidden "$tmp/vcache.o"
rm -f "$out"
${AR:-ar} rcD "$out" "$tmp/vcache.o"
