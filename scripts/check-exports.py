#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that four lists of libvcache's public functions are one list:

  1. the functions declared in include/vcache.h (after the preprocessor;
     static inline helpers excluded: they are compiled into the caller),
  2. the global names of the version script libvcache/vcache.sym, each in
     one node, plus entries marked "# compat:" (old versions kept for
     binaries built against older headers),
  3. the dynamic symbols libvcache.so defines: name@@NODE for each, and
     name@NODE for the compat entries,
  4. the global symbols libvcache.a defines (internal names must be local
     there too, or a static program could clash with them or call them;
     compat symbols are left out).

Usage: check-exports.py CC HEADER_DIR GENERATED_HEADER_DIR SYMFILE SO A
Exit 0 when all agree; otherwise print each difference and exit 1.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vcache_header import header_functions, symfile  # noqa: E402


def nm(args):
    out = subprocess.run(['nm'] + args, capture_output=True, text=True,
                         check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = parts[1]
    return syms


def main():
    cc, incdir, geninc, sympath, so, ar = sys.argv[1:7]
    declared = header_functions(cc, incdir, geninc)
    inline = header_functions(cc, incdir, geninc, inline=True) - declared
    entries = symfile(sympath)
    ok = True

    def fail(msg):
        nonlocal ok
        ok = False
        print('FAIL:', msg)

    # The version script: every declared function, once without a compat
    # mark, in its newest node; compat entries only for old versions.
    current = {}
    for node, name, compat in entries:
        if not compat:
            if name in current:
                fail(f'{name}: in {current[name]} and {node} without a '
                     'compat mark')
            current[name] = node
        elif name not in declared and name not in inline:
            fail(f'{name}: compat entry for a function vcache.h lacks')
    for name in sorted(set(current) - declared):
        fail(f'{name}: in vcache.sym, not declared in vcache.h')
    for name in sorted(declared - set(current)):
        fail(f'{name}: declared in vcache.h, not exported by vcache.sym')

    # The shared library: exactly name@@node for current entries and
    # name@node (or @@ if nothing newer) for compat ones, plus the nodes.
    want = {f'{n}@@{node}' for n, node in current.items()}
    for node, name, compat in entries:
        if compat:
            want.add(f'{name}@@{node}' if name not in current
                     else f'{name}@{node}')
    nodes = {node for node, _, _ in entries}
    have = {s for s, k in nm(['-D', '--defined-only', so]).items()
            if not (k == 'A' and s in nodes)}
    for sym in sorted(have - want):
        fail(f'{sym}: exported by libvcache.so, not by vcache.sym')
    for sym in sorted(want - have):
        fail(f'{sym}: in vcache.sym, not exported by libvcache.so')

    # The static archive: the declared functions and nothing else (a
    # default version, name@@node, is what a static link resolves to).
    static = {s.split('@@')[0]: s for s, k in
              nm(['-g', '--defined-only', ar]).items()
              if k not in ('U', 'w', 'v')}
    for name in sorted(set(static) - declared):
        fail(f'{static[name]}: global in libvcache.a, not declared in '
             'vcache.h')
    for name in sorted(declared - set(static)):
        fail(f'{name}: declared in vcache.h, not in libvcache.a')

    print(f'{len(declared)} public functions, {len(want) - len(current)} '
          f'compat symbols; ' +
          ('header, version script, .so and .a agree' if ok else
           'lists differ'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
