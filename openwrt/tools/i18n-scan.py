#!/usr/bin/env python3
"""openwrt/tools/i18n-scan.py — writes a LuCI app's translation template (po/templates/*.pot)
the way LuCI's build/i18n-scan.pl does: every _('...') / N_(n, '...', '...') string of the
app's JavaScript views, the "title"s of its menu.d JSON and the "description"s of its acl.d
JSON, sorted by msgid, each with its "#: path:line" references (paths relative to the feed
directory, i.e. openwrt/), long strings wrapped as msgcat wraps them.

usage: i18n-scan.py APPDIR [--check POT]   (without --check: the template on stdout;
       with --check: exit 1 and say so when POT differs from what it would write)
"""
import json
import os
import re
import sys

# a JS string literal, single or double quoted, with escapes
STR = r"""('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")"""
CALL = re.compile(r"(?<![\w.$])(N?_)\(\s*(?:[^,()]+,\s*)?" + STR + r"(?:\s*,\s*" + STR + r")?")


def js_unquote(lit):
    body = lit[1:-1]
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r"}.get(n, n))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def po_escape(s):
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")


def po_string(keyword, s, width=79):
    """`keyword "..."`, or `keyword ""` followed by lines broken after spaces (msgcat style)."""
    e = po_escape(s)
    if len(keyword) + len(e) + 3 <= width and "\\n" not in e[:-2]:
        return '%s "%s"\n' % (keyword, e)
    lines, cur = [], ""
    for word in re.findall(r"[^ ]* ?|[^ ]+$", e):
        if not word:
            continue
        if cur and len(cur) + len(word) + 2 > width:
            lines.append(cur)
            cur = ""
        cur += word
    if cur:
        lines.append(cur)
    return '%s ""\n' % keyword + "".join('"%s"\n' % ln for ln in lines)


def scan(appdir):
    feed = os.path.dirname(os.path.abspath(appdir))
    found = {}  # msgid -> [refs], plural msgid -> plural

    def add(msgid, ref, plural=None):
        if msgid:
            found.setdefault(msgid, {"refs": [], "plural": plural})["refs"].append(ref)

    for base, dirs, files in os.walk(appdir):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(base, f)
            rel = os.path.relpath(path, feed)
            if f.endswith(".js") and "/htdocs/" in path:
                text = open(path, encoding="utf-8").read()
                for m in CALL.finditer(text):
                    line = text.count("\n", 0, m.start()) + 1
                    plural = js_unquote(m.group(3)) if m.group(1) == "N_" and m.group(3) else None
                    add(js_unquote(m.group(2)), "%s:%d" % (rel, line), plural)
            elif f.endswith(".json") and ("/menu.d/" in path or "/acl.d/" in path):
                key = '"title"' if "/menu.d/" in path else '"description"'
                lines = open(path, encoding="utf-8").read().split("\n")
                json.loads("\n".join(lines))  # must be valid JSON
                for i, ln in enumerate(lines, 1):
                    m = re.match(r'\s*' + key + r'\s*:\s*"((?:[^"\\]|\\.)*)"', ln)
                    if m:
                        add(json.loads('"%s"' % m.group(1)), "%s:%d" % (rel, i))
    out = ['msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8"\n']
    for msgid in sorted(found, key=lambda s: s.encode()):
        e = found[msgid]
        entry = "".join("#: %s\n" % r for r in e["refs"]) + po_string("msgid", msgid)
        if e["plural"]:
            entry += po_string("msgid_plural", e["plural"]) + 'msgstr[0] ""\nmsgstr[1] ""\n'
        else:
            entry += 'msgstr ""\n'
        out.append(entry)
    return "\n".join(out)


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    pot = scan(argv[1])
    if len(argv) >= 4 and argv[2] == "--check":
        have = open(argv[3], encoding="utf-8").read() if os.path.exists(argv[3]) else ""
        if have != pot:
            print("%s is out of date: run openwrt/tools/i18n-scan.py %s > %s" % (argv[3], argv[1], argv[3]))
            return 1
        print("%s is up to date (%d strings)" % (argv[3], pot.count("\nmsgid ") ))
        return 0
    sys.stdout.write(pot)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
