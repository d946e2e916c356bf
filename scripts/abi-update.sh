#!/usr/bin/env bash
# Regenerate the ABI reference (abi/libvcache.so.N.abi) from a build:
#   scripts/abi-update.sh [BUILDDIR]      (default build-test)
# Run it when the ABI changed on purpose (a function added, a field
# appended to an extensible struct), review `git diff abi/` and commit it
# with the change. scripts/abi-check.sh compares against it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/abi-common.sh
abi_setup "${1:-}"
mkdir -p abi
abi_dump "$ref"
echo "abi: wrote $ref ($(grep -c '<elf-symbol ' "$ref") symbols)"
