#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check the man pages:

  - every page renders without warnings: `mandoc -T lint -W warning`,
    `groff -man -ww -z` and `man --warnings -l` print nothing;
  - .TH names the project version;
  - every function vcache.h declares has a page or a .so link in man/, the
    link's target lists it under NAME, and meson installs every file;
  - each page's ERRORS entries are exactly the errors the header's error
    table gives its functions, plus the errors common to every function
    (EINVAL for a NULL pointer; ESTALE for a freed object handle).

Usage: check-man.py VERSION CC INCDIR GENINCDIR MANDIR EXTRA_PAGE... -- \
                    INSTALLED_PAGE...
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vcache_header import header_declarations, error_table  # noqa: E402

failures = []


def fail(msg):
    failures.append(msg)
    print('FAIL:', msg)


def quiet(cmd, page, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    noise = (r.stderr + (r.stdout if cmd[0] == 'mandoc' else '')).strip()
    if r.returncode != 0 or noise:
        fail(f'{page}: {" ".join(cmd[:-1])}: status {r.returncode}: {noise}')


def lint(path):
    quiet(['mandoc', '-T', 'lint', '-W', 'warning', path], path)
    quiet(['groff', '-man', '-ww', '-z', path], path)
    env = dict(os.environ, MANWIDTH='80', MAN_DISABLE_SECCOMP='1')
    r = subprocess.run(['man', '--warnings', '-l', path], capture_output=True,
                       text=True, env=env)
    if r.returncode != 0 or r.stderr.strip() or not r.stdout.strip():
        fail(f'{path}: man --warnings -l: status {r.returncode}: '
             f'{r.stderr.strip()}')


def section(text, name):
    m = re.search(r'^\.SH ' + name + r'\n(.*?)(?=^\.SH |\Z)', text, re.M | re.S)
    return m.group(1) if m else ''


def main():
    missing = [t for t in ('mandoc', 'groff', 'man') if not shutil.which(t)]
    if missing:
        # meson: 77 = skipped. scripts/test.sh installs them.
        print(f'SKIP: man: {", ".join(missing)} not installed '
              '(scripts/deps.sh pkg)')
        return 77
    argv = sys.argv[1:]
    sep = argv.index('--')
    version, cc, incdir, geninc, mandir = argv[:5]
    extra, installed = argv[5:sep], argv[sep + 1:]
    decls = header_declarations(cc, incdir, geninc, inline=True)
    table = error_table(os.path.join(incdir, 'vcache.h'))

    files = sorted(f for f in os.listdir(mandir) if re.match(r'.*\.\d$', f))
    inst = {os.path.basename(p) for p in installed}
    for f in files:
        if f not in inst:
            fail(f'man/{f} is not installed (man/meson.build)')
    for fn in sorted(decls):
        if fn + '.3' not in files:
            fail(f'{fn}: no man page or link man/{fn}.3')

    pages = {}
    for f in files:
        path = os.path.join(mandir, f)
        text = open(path).read()
        link = re.fullmatch(r'\.so man3/(\S+)\n', text)
        if link:
            target = link.group(1)
            if target not in files or target.startswith(f):
                fail(f'{f}: links to missing page {target}')
                continue
            tname = section(open(os.path.join(mandir, target)).read(), 'NAME')
            if not re.search(r'\b' + f[:-2] + r'\b', tname):
                fail(f'{f}: {target} does not list {f[:-2]} under NAME')
            continue
        pages[f] = text
        lint(path)
        th = re.search(r'^\.TH \S+ \d \S+ "vcache ([^"]+)"', text, re.M)
        if not th or th.group(1) != version:
            fail(f'{f}: .TH does not say "vcache {version}"')
    for p in extra:
        lint(p)

    for f, text in sorted(pages.items()):
        name = section(text, 'NAME').split('\\-')[0]
        fns = [n for n in re.split(r'[,\s]+', name) if n in decls]
        want = set()
        for fn in fns:
            d = decls[fn]
            returns_error = re.match(r'(int|ssize_t)\s', d) and \
                not d.startswith('static')
            if not returns_error:
                continue
            want |= table.get(fn, set())
            if '*' in d[d.index('('):]:
                want.add('EINVAL')
            if re.search(r'\(\s*(const\s+)?vcache_object\s*\*|'
                         r',\s*vcache_object\s*\*', d):
                want.add('ESTALE')
        errors = section(text, 'ERRORS')
        have = set(re.findall(r'^\.TP\n\.B (E[A-Z0-9]+)$', errors, re.M))
        for e in sorted(want - have):
            fail(f'{f}: ERRORS lacks {e} (vcache.h gives it to '
                 f'{", ".join(fns)})')
        for e in sorted(have - want):
            fail(f'{f}: ERRORS has {e}, which vcache.h does not give '
                 f'{", ".join(fns)}')
    print(f'{len(pages)} pages, {len(files) - len(pages)} links, '
          f'{len(decls)} functions: ' +
          ('lint-free, complete, ERRORS agree with vcache.h'
           if not failures else f'{len(failures)} problems'))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
