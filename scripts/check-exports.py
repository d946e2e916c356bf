#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that four lists of libvcache's public functions are one list:

  1. the functions declared in include/vcache.h (after the preprocessor;
     static inline helpers excluded: they are compiled into the caller),
  2. the global names of the version script libvcache/vcache.sym,
  3. the dynamic symbols libvcache.so defines (all in version LIBVCACHE_*),
  4. the global symbols libvcache.a defines (internal names must be local
     there too, or a static program could clash with them or call them).

Usage: check-exports.py CC HEADER_DIR GENERATED_HEADER_DIR SYMFILE SO A
Exit 0 when all agree; otherwise print each difference and exit 1.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vcache_header import header_functions  # noqa: E402


def symfile_names(path):
    text = re.sub(r'#.*', '', open(path).read())
    names = set()
    for block in re.finditer(r'global:(.*?)(local:|\})', text, re.S):
        names |= {n.strip() for n in block.group(1).split(';') if n.strip()}
    return names


def nm(args):
    out = subprocess.run(['nm'] + args, capture_output=True, text=True,
                         check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = parts[1]
    return syms


def shared_names(path):
    names, bad = set(), []
    for sym, kind in nm(['-D', '--defined-only', path]).items():
        if kind == 'A' and sym.startswith('LIBVCACHE_'):
            continue  # the version node itself
        name, _, version = sym.partition('@')
        if not version.lstrip('@').startswith('LIBVCACHE_'):
            bad.append(f'{sym}: not in a LIBVCACHE_* version node')
        names.add(name)
    return names, bad


def static_names(path):
    return {s for s, k in nm(['-g', '--defined-only', path]).items()
            if k not in ('U', 'w', 'v')}


def main():
    cc, incdir, geninc, symfile, so, ar = sys.argv[1:7]
    lists = {
        'vcache.h declarations': header_functions(cc, incdir, geninc),
        'vcache.sym globals': symfile_names(symfile),
    }
    lists['libvcache.so dynamic symbols'], bad = shared_names(so)
    lists['libvcache.a global symbols'] = static_names(ar)
    ref_name = 'vcache.h declarations'
    ref = lists[ref_name]
    ok = not bad
    for msg in bad:
        print('FAIL:', msg)
    for name, got in lists.items():
        if name == ref_name:
            continue
        for sym in sorted(got - ref):
            print(f'FAIL: {sym}: in {name}, not in {ref_name}')
            ok = False
        for sym in sorted(ref - got):
            print(f'FAIL: {sym}: in {ref_name}, not in {name}')
            ok = False
    print(f'{len(ref)} public functions; ' +
          ('header, version script, .so and .a agree' if ok else
           'lists differ'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
