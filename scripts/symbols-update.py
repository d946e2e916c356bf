#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write debian/libvcache<N>.symbols from the version script.

Every symbol of libvcache/vcache.sym, with its version node, keeps the
minimal version it already has in the symbols file; a new one gets the
project version (meson.build). With --check, write nothing and exit 1 if
the file is not what this would write (run by scripts/test-ecosystem.sh).

Usage: scripts/symbols-update.py [--check]
"""
import glob
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vcache_header import symfile  # noqa: E402

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
info = json.loads(subprocess.run(
    ['meson', 'introspect', '--projectinfo', os.path.join(root, 'meson.build')],
    capture_output=True, text=True, check=True).stdout)
version = info['version']
major = version.split('.')[0]
path = os.path.join(root, 'debian', f'libvcache{major}.symbols')

old = {}
for f in glob.glob(os.path.join(root, 'debian', 'libvcache*.symbols')):
    for line in open(f):
        m = re.match(r' (\S+) (\S+)', line)
        if m:
            old[m.group(1)] = m.group(2)

entries = symfile(os.path.join(root, 'libvcache', 'vcache.sym'))
lines = [f'libvcache.so.{major} libvcache{major} #MINVER#',
         '* Build-Depends-Package: libvcache-dev']
syms = {f'{node}@{node}' for node, _, _ in entries}
syms |= {f'{name}@{node}' for node, name, _ in entries}
for sym in sorted(syms):
    lines.append(f' {sym} {old.get(sym, version)}')
new = '\n'.join(lines) + '\n'

if '--check' in sys.argv[1:]:
    cur = open(path).read() if os.path.exists(path) else ''
    if cur != new:
        print(f'FAIL: {os.path.relpath(path, root)} does not match '
              'libvcache/vcache.sym: run scripts/symbols-update.py')
        sys.exit(1)
    print(f'{os.path.relpath(path, root)}: {len(lines) - 2} symbols, '
          'matches vcache.sym')
else:
    open(path, 'w').write(new)
    print(f'wrote {os.path.relpath(path, root)} ({len(lines) - 2} symbols)')
