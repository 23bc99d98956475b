#!/usr/bin/env bash
# What a database file really costs on a router's flash. OpenWrt installs packages into
# the overlay (rootfs_data), a compressed file system: JFFS2 on NOR flash (zlib; data
# compressed per 4 KiB page) or UBIFS on NAND (LZO by default when the kernel formats the
# volume; zstd/zlib when chosen). This makes real file system images holding only the
# file with Debian's mtd-utils and reports, in bytes:
#   raw      the file itself
#   gzip     gzip -9 of the file (≈ what the .ipk/.apk package adds to a download)
#   jffs2    mkfs.jffs2 -l (zlib + rtime, the default priority mode), 64 KiB and 128 KiB
#            eraseblocks (NOR routers), image bytes minus an empty image's
#   ubifs    mkfs.ubifs, LEBs used minus an empty image's, times the LEB size, for
#            2 KiB pages / 128 KiB eraseblocks (LEB 126976, the common SPI-NAND) and
#            4 KiB / 256 KiB (LEB 253952): lzo, and zstd. Granularity: one LEB.
# usage: geodb/flash-size.sh [--header] FILE...     (prints one markdown row per file)
# needs: mtd-utils (mkfs.jffs2, mkfs.ubifs), gzip; exits 2 when they are missing.
set -euo pipefail
if [ "${1:-}" = --header ]; then
  shift
  echo "| file | raw | gzip -9 | jffs2 zlib 64K | jffs2 zlib 128K | ubifs lzo 2K/128K | ubifs zstd 2K/128K | ubifs lzo 4K/256K | ubifs zstd 4K/256K |"
  echo "|---|---|---|---|---|---|---|---|---|"
fi
for tool in mkfs.jffs2 mkfs.ubifs gzip; do
  command -v "$tool" >/dev/null || { echo "flash-size: $tool is missing (apt-get install mtd-utils)" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/empty" "$work/root/usr/share/connmap"
size() { stat -c %s "$1"; }
jffs2() { # eraseblock
  mkfs.jffs2 -l -q -e "$1" -d "$work/root" -o "$work/j.img"
  mkfs.jffs2 -l -q -e "$1" -d "$work/empty" -o "$work/je.img"
  echo $(( $(size "$work/j.img") - $(size "$work/je.img") ))
}
ubifs() { # min-io leb compressor
  mkfs.ubifs -q -m "$1" -e "$2" -c 8192 -x "$3" -r "$work/root" -o "$work/u.img"
  mkfs.ubifs -q -m "$1" -e "$2" -c 8192 -x "$3" -r "$work/empty" -o "$work/ue.img"
  echo $(( $(size "$work/u.img") - $(size "$work/ue.img") ))
}
for f in "$@"; do
  cp "$f" "$work/root/usr/share/connmap/geo.mmdb"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(basename "$f")" "$(size "$f")" \
    "$(gzip -9c "$f" | wc -c)" "$(jffs2 64KiB)" "$(jffs2 128KiB)" \
    "$(ubifs 2048 126976 lzo)" "$(ubifs 2048 126976 zstd)" \
    "$(ubifs 4096 253952 lzo)" "$(ubifs 4096 253952 zstd)"
done
