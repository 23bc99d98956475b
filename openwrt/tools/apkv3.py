#!/usr/bin/env python3
"""openwrt/tools/apkv3.py — write and read APKv3 packages (the format of OpenWrt 25.12's apk).

apk-tools 3 is not packaged in Debian bookworm, nor in any registry this project can reach, so
this is a small stand-in for `apk mkpkg`, written from apk-tools' own format description
(doc/apk-v3.5, src/adb.c, src/apk_adb.c, src/app_mkpkg.c). It takes the same arguments that
OpenWrt's include/package-pack.mk passes to `apk mkpkg`, and lays the file out the same way:

  "ADBd" + raw deflate( file header "ADB." + schema "pckg",
                        ADB block  (the package object: info, paths, scripts),
                        DATA block per non-empty regular file: {path_idx, file_idx} + bytes )

Values are 32-bit little-endian tags (type in the high 4 bits); objects are arrays of tags whose
slot 0 is the slot count; blobs carry an 8/16/32-bit length; blocks are 8-byte aligned. The
package is unsigned (install with `apk add --allow-untrusted`).

  apkv3.py mkpkg --info KEY:VALUE... [--script TYPE:FILE...] --files DIR --output FILE
  apkv3.py dump FILE      # JSON: header, info, paths with acl/size/hash, scripts; checks data
Only the Python standard library is used.
"""
import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import zlib

# ---- format constants (apk-tools src/adb.h, src/apk_adb.h) --------------------------------
T_SPECIAL, T_INT, T_INT32, T_INT64 = 0x00000000, 0x10000000, 0x20000000, 0x30000000
T_BLOB8, T_BLOB16, T_BLOB32 = 0x80000000, 0x90000000, 0xA0000000
T_ARRAY, T_OBJECT = 0xD0000000, 0xE0000000
TYPE_MASK, VALUE_MASK = 0xF0000000, 0x0FFFFFFF
NULL = 0
FORMAT_MAGIC = 0x2E424441  # "ADB."
SCHEMA_PACKAGE = 0x676B6370  # "pckg"
BLOCK_ADB, BLOCK_SIG, BLOCK_DATA, BLOCK_EXT = 0, 1, 2, 3
BLOCK_ALIGN = 8
INSTALL_BLOCK = 4096  # installed-size rounds each file up to this

# schemas: field names in slot order (slot 1 first); kinds: s=string, i=int, o=oct, h=hexblob,
# or a nested schema name
PKGINFO = [("name", "s"), ("version", "s"), ("unique-id", "h"), ("description", "s"),
           ("arch", "s"), ("license", "s"), ("origin", "s"), ("maintainer", "s"), ("url", "s"),
           ("repo-commit", "h"), ("build-time", "i"), ("installed-size", "i"),
           ("file-size", "i"), ("priority", "i"), ("depends", "deps"), ("provides", "deps"),
           ("replaces", "deps"), ("install-if", "deps"), ("recommends", "deps"),
           ("layer", "i"), ("tags", "strs")]
DEP = [("name", "s"), ("version", "s"), ("match", "i")]
ACL = [("mode", "o"), ("user", "s"), ("group", "s"), ("xattrs", "strs")]
FILE = [("name", "s"), ("acl", "acl"), ("size", "i"), ("mtime", "i"), ("hash", "h"),
        ("target", "h")]
DIR = [("name", "s"), ("acl", "acl"), ("files", "files")]
SCRIPTS = [("trigger", "s"), ("pre-install", "s"), ("post-install", "s"),
           ("pre-deinstall", "s"), ("post-deinstall", "s"), ("pre-upgrade", "s"),
           ("post-upgrade", "s")]
PACKAGE = [("info", "pkginfo"), ("paths", "dirs"), ("scripts", "scripts"),
           ("triggers", "strs")]
OBJECTS = {"pkginfo": PKGINFO, "dep": DEP, "acl": ACL, "file": FILE, "dir": DIR,
           "scripts": SCRIPTS, "package": PACKAGE}
ARRAYS = {"deps": "dep", "files": "file", "dirs": "dir", "strs": "s"}
PI = {name: i + 1 for i, (name, _) in enumerate(PKGINFO)}

# apk version syntax check (apk_version_validate, simplified): digits{.digits}[letter]
# {_suffix[digits]}[-rN]
_SUFFIXES = ("alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p")


def version_valid(v):
    import re
    m = re.fullmatch(r"[0-9]+(\.[0-9]+)*[a-z]?((_(%s)[0-9]*)*)(~[0-9a-f]+)?(-r[0-9]+)?"
                     % "|".join(_SUFFIXES), v)
    return m is not None


class Adb:
    """The ADB block being written: an append-only buffer of aligned, de-duplicated values."""

    def __init__(self):
        self.buf = bytearray(struct.pack("<BBHI", 0, 0, 0, 0))  # adb_hdr, root filled later
        self.seen = {}

    def raw(self, data, align):
        key = (bytes(data), align)
        if key in self.seen:
            return self.seen[key]
        pad = (-len(self.buf)) % align
        self.buf += b"\0" * pad
        off = len(self.buf)
        self.buf += data
        self.seen[key] = off
        return off

    def blob(self, b):
        if isinstance(b, str):
            b = b.encode()
        n = len(b)
        if n == 0:
            return NULL
        if n > 0xFFFF:
            return T_BLOB32 | self.raw(struct.pack("<I", n) + b, 4)
        if n > 0xFF:
            return T_BLOB16 | self.raw(struct.pack("<H", n) + b, 2)
        return T_BLOB8 | self.raw(struct.pack("<B", n) + b, 1)

    def int(self, v):
        if v < 0x10000000:
            return T_INT | v
        if v <= 0xFFFFFFFF:
            return T_INT32 | self.raw(struct.pack("<I", v), 4)
        return T_INT64 | self.raw(struct.pack("<Q", v), 8)

    def obj(self, slots):
        """slots: list of tags for slot 1..n; trailing NULLs are dropped (as adb_w_obj does).
        apk mkpkg commits arrays with adb_w_obj too, so they carry the OBJECT type."""
        slots = list(slots)
        while slots and slots[-1] == NULL:
            slots.pop()
        if not slots:
            return NULL
        vals = [len(slots) + 1] + slots
        return T_OBJECT | self.raw(struct.pack("<%dI" % len(vals), *vals), 4)

    def root(self, v):
        struct.pack_into("<I", self.buf, 4, v)


def block(btype, payload):
    raw = 4 + len(payload)
    assert raw <= 0x3FFFFFFF
    return struct.pack("<I", (btype << 30) | raw) + payload + b"\0" * ((-raw) % BLOCK_ALIGN)


def parse_dep(s):
    """[!]name[op version] -> (name, version or None, match mask or None)"""
    ops = {"<": 1, "=": 2, ">": 4, "~": 8 | 2}
    conflict = s.startswith("!")
    if conflict:
        s = s[1:]
    i = 0
    while i < len(s) and s[i] not in "<>=~":
        i += 1
    name, rest = s[:i], s[i:]
    if not rest:
        return name, None, (16 if conflict else None)
    j = 0
    mask = 0
    while j < len(rest) and rest[j] in "<>=~":
        mask |= ops[rest[j]]
        j += 1
    ver = rest[j:]
    if not version_valid(ver):
        raise SystemExit("apkv3: bad dependency version: %r" % s)
    if conflict:
        mask |= 16
    return name, ver, (None if mask == 2 else mask)


def mkpkg(info, scripts, files_dir, output):
    adb = Adb()
    for req in ("name", "version"):
        if req not in info:
            raise SystemExit("apkv3: required info field '%s' not provided" % req)
    if not version_valid(info["version"]):
        raise SystemExit("apkv3: invalid version %r" % info["version"])
    # package info, assigned in field order like assign_fields()
    pi = [NULL] * len(PKGINFO)
    for name, kind in PKGINFO:
        if name not in info or name in ("installed-size", "file-size"):
            continue
        val = info[name]
        idx = PI[name] - 1
        if kind == "s":
            pi[idx] = adb.blob(val)
        elif kind == "i":
            pi[idx] = adb.int(int(val))
        elif kind == "h":
            pi[idx] = adb.blob(bytes.fromhex(val))
        elif kind == "deps":
            deps = {}
            for d in val.replace(",", " ").split():
                n, v, m = parse_dep(d)
                slots = [adb.blob(n), adb.blob(v) if v else NULL,
                         adb.int(m) if m else NULL]
                deps[n.encode()] = adb.obj(slots)  # sorted and unique by name
            pi[idx] = adb.obj([deps[k] for k in sorted(deps)])
        elif kind == "strs":
            pi[idx] = adb.obj([adb.blob(x) for x in val.split()])
    # files: one dir object per directory (paths sorted by name), files sorted by name
    dirs = []  # (name, tag)
    installed = 0
    datafiles = {}  # dir name -> [(file name, size, path)]

    def acl(st, mode):
        # owned by root:root, as under OpenWrt's fakeroot
        return adb.obj([adb.int(mode), adb.blob("root"), adb.blob("root")])

    def walk(rel):
        nonlocal installed
        full = os.path.join(files_dir, rel)
        entries = []
        for e in sorted(os.listdir(full), key=lambda s: s.encode()):
            p = os.path.join(full, e)
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                walk(os.path.join(rel, e) if rel else e)
                continue
            name = adb.blob(e)
            if stat.S_ISREG(st.st_mode):
                installed += (st.st_size + INSTALL_BLOCK - 1) & ~(INSTALL_BLOCK - 1)
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).digest()
                h, target = adb.blob(digest), NULL
            elif stat.S_ISLNK(st.st_mode):
                h = NULL
                target = adb.blob(struct.pack("<H", stat.S_IFLNK) + os.readlink(p).encode())
            else:
                print("apkv3: %s: special file ignored" % p, file=sys.stderr)
                continue
            mtime = adb.int(int(st.st_mtime))
            size = adb.int(st.st_size)
            a = acl(st, st.st_mode & 0o7777)
            entries.append((e.encode(), adb.obj([name, a, size, mtime, h, target]),
                            st.st_size if stat.S_ISREG(st.st_mode) else 0, p))
        st = os.lstat(full)
        dname = adb.blob(rel)
        dacl = acl(st, st.st_mode & ~stat.S_IFMT(st.st_mode))
        entries.sort(key=lambda x: x[0])
        ftag = adb.obj([x[1] for x in entries])
        dirs.append((rel.encode(), adb.obj([dname, dacl, ftag])))
        datafiles[rel.encode()] = [(x[0], x[2], x[3]) for x in entries]

    walk("")
    if not installed:
        installed = INSTALL_BLOCK
    pi[PI["installed-size"] - 1] = adb.int(installed)
    uid_off = None
    pi[PI["unique-id"] - 1] = adb.blob(b"\0" * 20)
    uid_off = (pi[PI["unique-id"] - 1] & VALUE_MASK) + 1
    info_tag = adb.obj(pi)
    dirs.sort(key=lambda x: x[0])
    paths_tag = adb.obj([t for _, t in dirs])
    sc = [NULL] * len(SCRIPTS)
    names = [n for n, _ in SCRIPTS]
    for stype, path in scripts:
        if stype not in names:
            raise SystemExit("apkv3: invalid script type: %s" % stype)
        with open(path, "rb") as f:
            sc[names.index(stype)] = adb.blob(f.read())
    scripts_tag = adb.obj(sc) if scripts else NULL
    adb.root(adb.obj([info_tag, paths_tag, scripts_tag]))
    # unique id = first 20 bytes of sha256 over the ADB block with a zero id
    uid = hashlib.sha256(bytes(adb.buf)).digest()[:20]
    adb.buf[uid_off:uid_off + 20] = uid

    out = bytearray(struct.pack("<II", FORMAT_MAGIC, SCHEMA_PACKAGE))
    out += block(BLOCK_ADB, bytes(adb.buf))
    for pidx, (dname, _) in enumerate(dirs, 1):
        for fidx, (_, size, path) in enumerate(datafiles[dname], 1):
            if size == 0:
                continue
            with open(path, "rb") as f:
                out += block(BLOCK_DATA, struct.pack("<II", pidx, fidx) + f.read())
    data = b"ADBd" + deflate(bytes(out))
    tmp = output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, output)


def deflate(raw):
    """Raw deflate: zopfli's when it is installed (~4 % smaller than zlib -9, the same format
    for any inflater; CONNMAP_ZOPFLI=0 turns it off), else zlib's at level 9."""
    zopfli = shutil.which("zopfli")
    if zopfli and os.environ.get("CONNMAP_ZOPFLI", "1") == "1":
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "adb")
            with open(src, "wb") as f:
                f.write(raw)
            return subprocess.run([zopfli, "--deflate", "--i15", "-c", src],
                                  check=True, capture_output=True).stdout
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(raw) + comp.flush()


# ---- reader ------------------------------------------------------------------------------
class Reader:
    def __init__(self, adb):
        self.b = adb

    def val(self, tag, kind):
        t, v = tag & TYPE_MASK, tag & VALUE_MASK
        if tag == NULL:
            return None
        if kind in ("s", "h"):
            if t == T_BLOB8:
                n = self.b[v]
                raw = self.b[v + 1:v + 1 + n]
            elif t == T_BLOB16:
                n = struct.unpack_from("<H", self.b, v)[0]
                raw = self.b[v + 2:v + 2 + n]
            elif t == T_BLOB32:
                n = struct.unpack_from("<I", self.b, v)[0]
                raw = self.b[v + 4:v + 4 + n]
            else:
                raise ValueError("blob expected, tag %08x" % tag)
            return raw.decode() if kind == "s" else raw.hex()
        if kind in ("i", "o"):
            if t == T_INT:
                return v
            if t == T_INT32:
                return struct.unpack_from("<I", self.b, v)[0]
            if t == T_INT64:
                return struct.unpack_from("<Q", self.b, v)[0]
            raise ValueError("int expected, tag %08x" % tag)
        if t not in (T_OBJECT, T_ARRAY):
            raise ValueError("object expected, tag %08x" % tag)
        n = struct.unpack_from("<I", self.b, v)[0]
        slots = struct.unpack_from("<%dI" % n, self.b, v)[1:]
        if kind in ARRAYS:
            return [self.val(s, ARRAYS[kind]) for s in slots]
        schema = OBJECTS[kind]
        out = {}
        for (name, k), s in zip(schema, slots):
            if s != NULL:
                out[name] = self.val(s, k)
        return out


def read_apk(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:4] == b"ADBd":
        data = zlib.decompressobj(-15).decompress(raw[4:])
    elif raw[:4] == b"ADB.":
        data = raw
    else:
        raise ValueError("not an APKv3 file (magic %r)" % raw[:4])
    magic, schema = struct.unpack_from("<II", data, 0)
    if magic != FORMAT_MAGIC or schema != SCHEMA_PACKAGE:
        raise ValueError("bad header %08x %08x" % (magic, schema))
    pos, blocks = 8, []
    while pos < len(data):
        (ts,) = struct.unpack_from("<I", data, pos)
        btype, rawsize = ts >> 30, ts & 0x3FFFFFFF
        if btype == BLOCK_EXT:
            raise ValueError("extended blocks not supported")
        blocks.append((btype, data[pos + 4:pos + rawsize]))
        pos += rawsize + ((-rawsize) % BLOCK_ALIGN)
    if pos != len(data):
        raise ValueError("trailing bytes")
    return raw, blocks


def dump(path):
    raw, blocks = read_apk(path)
    problems = []
    if not blocks or blocks[0][0] != BLOCK_ADB:
        raise ValueError("first block is not ADB")
    adb = blocks[0][1]
    compat, ver, _, root = struct.unpack_from("<BBHI", adb, 0)
    pkg = Reader(adb).val(root, "package")
    # unique id check
    uid = pkg["info"].get("unique-id", "")
    uid_bytes = bytes.fromhex(uid)
    i = adb.find(b"\x14" + uid_bytes)
    zeroed = bytearray(adb)
    zeroed[i + 1:i + 21] = b"\0" * 20
    if hashlib.sha256(bytes(zeroed)).digest()[:20] != uid_bytes:
        problems.append("unique-id does not match the ADB block")
    # data blocks vs. file hashes
    paths = pkg.get("paths", [])
    seen = set()
    for btype, payload in blocks[1:]:
        if btype == BLOCK_SIG:
            continue
        if btype != BLOCK_DATA:
            problems.append("unexpected block type %d" % btype)
            continue
        pidx, fidx = struct.unpack_from("<II", payload, 0)
        content = payload[8:]
        try:
            f = paths[pidx - 1]["files"][fidx - 1]
        except (IndexError, KeyError):
            problems.append("data block for unknown file %d/%d" % (pidx, fidx))
            continue
        name = "/".join(x for x in (paths[pidx - 1].get("name", ""), f["name"]) if x)
        seen.add(name)
        if f.get("size") != len(content):
            problems.append("%s: size %s != %d" % (name, f.get("size"), len(content)))
        if f.get("hash") != hashlib.sha256(content).hexdigest():
            problems.append("%s: sha256 mismatch" % name)
    for d in paths:
        for f in d.get("files", []):
            name = "/".join(x for x in (d.get("name", ""), f["name"]) if x)
            if f.get("size") and "target" not in f and name not in seen:
                problems.append("%s: no data block" % name)
    return {"compression": raw[:4].decode(), "adb_compat_ver": compat, "adb_ver": ver,
            "blocks": [b[0] for b in blocks], "package": pkg, "problems": problems}


def main(argv):
    if len(argv) >= 2 and argv[1] == "dump":
        json.dump(dump(argv[2]), sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    if len(argv) < 2 or argv[1] != "mkpkg":
        print(__doc__, file=sys.stderr)
        return 2
    info, scripts, files_dir, output = {}, [], None, None
    args = argv[2:]
    i = 0
    while i < len(args):
        a = args[i]
        if "=" in a and a.startswith("--"):
            a, v = a.split("=", 1)
        else:
            i += 1
            v = args[i] if i < len(args) else None
        if a in ("-I", "--info"):
            k, _, val = v.partition(":")
            if k not in PI:
                raise SystemExit("apkv3: invalid info field: %s" % k)
            if k in ("installed-size", "file-size"):
                raise SystemExit("apkv3: %s is computed" % k)
            if val:
                info[k] = val
        elif a in ("-s", "--script"):
            k, _, val = v.partition(":")
            scripts.append((k, val))
        elif a in ("-F", "-f", "--files"):
            files_dir = v
        elif a in ("-o", "--output"):
            output = v
        else:
            raise SystemExit("apkv3: unknown option %s" % a)
        i += 1
    if output is None:
        output = "%s-%s.apk" % (info.get("name"), info.get("version"))
    mkpkg(info, scripts, files_dir, output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
