#!/usr/bin/env bash
# The README's first command: build libvcache and run the browser-tab demo.
# Extra arguments go to tabcache (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh lib
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build examples/tabcache >/dev/null
exec build/examples/tabcache "$@"
