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

# The ELF header per class (EI_CLASS 1 = ELF32, 2 = ELF64): the size of an address/offset, where
# e_phoff and e_phentsize are (e_ehsize just before e_phentsize), a program header's layout and
# the indexes of its p_offset and p_filesz, where e_shoff is.
LAYOUT = {
    1: ("I", 28, 42, "IIIIIIII", 1, 4, 32),
    2: ("Q", 32, 54, "IIQQQQQQ", 2, 5, 40),
}


def sstrip(path):
    with open(path, "rb") as f:
        b = bytearray(f.read())
    if b[:4] != b"\x7fELF":
        raise SystemExit("%s: not an ELF file" % path)
    cls, data = b[4], b[5]
    e = "<" if data == 1 else ">"
    if cls not in LAYOUT:
        raise SystemExit("%s: unknown ELF class %d" % (path, cls))
    word, phoff_at, phent_at, ph_fmt, off_i, filesz_i, shoff_at = LAYOUT[cls]
    phoff, = struct.unpack_from(e + word, b, phoff_at)
    phentsize, phnum = struct.unpack_from(e + "HH", b, phent_at)
    ehsize, = struct.unpack_from(e + "H", b, phent_at - 2)
    ph_fmt = e + ph_fmt
    shnum_at = phent_at + 6  # e_shentsize, e_shnum, e_shstrndx follow e_phentsize, e_phnum
    end = max(ehsize, phoff + phentsize * phnum)
    for i in range(phnum):
        ph = struct.unpack_from(ph_fmt, b, phoff + i * phentsize)
        end = max(end, ph[off_i] + ph[filesz_i])
    old = len(b)
    del b[end:]
    struct.pack_into(e + word, b, shoff_at, 0)
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
