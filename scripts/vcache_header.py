# SPDX-License-Identifier: MIT
"""What include/vcache.h declares, for the checks in scripts/: its functions
(through the C preprocessor) and its error table (from the comment); and
what libvcache/vcache.sym exports."""
import re
import subprocess


def header_functions(cc, incdir, geninc, inline=False):
    """Names of the functions vcache.h declares; with inline=True also its
    static inline helpers (which are not exported)."""
    return set(header_declarations(cc, incdir, geninc, inline))


def header_declarations(cc, incdir, geninc, inline=False):
    """{name: declaration text} for the functions vcache.h declares."""
    out = subprocess.run(
        cc.split() + ['-E', '-P', '-I', incdir, '-I', geninc, '-x', 'c', '-'],
        input='#include <vcache.h>\n', capture_output=True, text=True,
        check=True).stdout
    # Drop the bodies of inline functions; a body ends a declaration.
    text, depth = [], 0
    for ch in out:
        if ch == '{':
            depth += 1
        if depth == 0:
            text.append(ch)
        if ch == '}':
            depth -= 1
            if depth == 0:
                text.append(';')
    names = {}
    for d in ''.join(text).split(';'):
        d = ' '.join(d.split())
        if d.startswith('typedef'):
            continue
        if re.search(r'\bstatic\b', d) and not inline:
            continue
        m = re.search(r'\b(vcache_\w+)\s*\(', d)
        if m and not re.search(r'\(\s*\*\s*' + m.group(1), d):
            names[m.group(1)] = d
    return names


def error_table(path):
    """{function: set of errno names} from the "Error table" comment.
    A row "f, g as h, plus ..." gives f and g the errors of h; "f[_x]"
    stands for f and f_x. Non-errno entries (<callback>) are skipped."""
    lines = open(path).read().split('\n')
    start = next(i for i, l in enumerate(lines) if 'Error table' in l)
    table, current, alias = {}, [], {}
    for line in lines[start + 2:]:
        if line.strip() == '*/':
            break
        body = line[3:] if line.startswith(' * ') else ''
        m = re.match(r'  (vcache_[\w\[\]]+(?:,\s*vcache_\w+)*)\s*(.*)', body)
        if m:
            current = []
            for name in re.split(r',\s*', m.group(1)):
                opt = re.match(r'(\w+)\[(\w+)\]$', name)
                current += ([opt.group(1), opt.group(1) + opt.group(2)]
                            if opt else [name])
            rest = m.group(2)
            for name in current:
                table.setdefault(name, set())
            ref = re.match(r'as (vcache_\w+)', rest)
            if ref:
                for name in current:
                    alias[name] = ref.group(1)
        else:
            rest = body
        if not current:
            continue
        # The errno column: right after the function names, or a
        # continuation line indented less than the cause column.
        if not m:
            indent = len(rest) - len(rest.lstrip())
            rest = rest.lstrip() if indent < 35 else ''
        e = re.match(r'-(E[A-Z0-9]+)\b', rest)
        if e:
            for name in current:
                table[name].add(e.group(1))
    for name, ref in alias.items():
        table[name] |= table.get(ref, set())
    return table


def symfile(path):
    """[(node, name, compat)] from the version script, in order."""
    out = []
    for node, body in re.findall(r'^(\w[\w.]*)\s*\{(.*?)^\}', open(path).read(),
                                 re.S | re.M):
        part = body.split('global:', 1)[-1].split('local:', 1)[0]
        for line in part.split('\n'):
            m = re.match(r'\s*(\w+)\s*;(.*)', line)
            if m:
                out.append((node, m.group(1), '# compat:' in m.group(2)))
    return out
