#!/usr/bin/env python3
"""openwrt/tools/sstrip.py — "super strip" an ELF executable, as OpenWrt's sstrip does.

Drops everything the program loader does not use: the bytes past the end of the last segment
(non-allocated sections such as MIPS .pdr, .comment, .shstrtab) and the section header table
(e_shoff/e_shnum/e_shstrndx set to 0). The program headers and the segments' contents are not
changed, so the file runs the same. Only the Python standard library is used.

usage: sstrip.py FILE...      (in place; prints old and new size)
"""
import os
import struct
import sys


def sstrip(path):
    with open(path, "rb") as f:
        b = bytearray(f.read())
    if b[:4] != b"\x7fELF":
        raise SystemExit("%s: not an ELF file" % path)
    cls, data = b[4], b[5]
    e = "<" if data == 1 else ">"
    if cls == 1:  # ELF32
        phoff, = struct.unpack_from(e + "I", b, 28)
        phentsize, phnum = struct.unpack_from(e + "HH", b, 42)
        ehsize, = struct.unpack_from(e + "H", b, 40)
        ph_fmt, off_i, filesz_i = e + "IIIIIIII", 1, 4
        shoff_at, shnum_at = 32, 48
    elif cls == 2:  # ELF64
        phoff, = struct.unpack_from(e + "Q", b, 32)
        phentsize, phnum = struct.unpack_from(e + "HH", b, 54)
        ehsize, = struct.unpack_from(e + "H", b, 52)
        ph_fmt, off_i, filesz_i = e + "IIQQQQQQ", 2, 5
        shoff_at, shnum_at = 40, 60
    else:
        raise SystemExit("%s: unknown ELF class %d" % (path, cls))
    end = max(ehsize, phoff + phentsize * phnum)
    for i in range(phnum):
        ph = struct.unpack_from(ph_fmt, b, phoff + i * phentsize)
        end = max(end, ph[off_i] + ph[filesz_i])
    old = len(b)
    del b[end:]
    if cls == 1:
        struct.pack_into(e + "I", b, shoff_at, 0)
    else:
        struct.pack_into(e + "Q", b, shoff_at, 0)
    struct.pack_into(e + "HH", b, shnum_at, 0, 0)  # e_shnum, e_shstrndx
    struct.pack_into(e + "H", b, shnum_at - 2, 0)  # e_shentsize
    tmp = path + ".sstrip"
    with open(tmp, "wb") as f:
        f.write(b)
    os.chmod(tmp, os.stat(path).st_mode)
    os.replace(tmp, path)
    return old, len(b)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        o, n = sstrip(p)
        print("%s: %d -> %d bytes" % (p, o, n))
