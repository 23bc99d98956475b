#!/bin/sh
# scripts/link-ordered.sh — rustc's linker for the router builds (scripts/cross-build.sh).
#
# Links as cargo-zigbuild does, then links again with the program's functions placed in the
# order of their (demangled) names. The code and the file size do not change; what changes is
# what sits next to what: the copies of one generic function for different types, and the
# methods of one type, end up side by side, within deflate's 32 KB window of each other, so the
# package's gzip finds them. Measured on mipsel: the binary compresses 9 KB smaller (347,404 ->
# 338,398 bytes with zopfli), for no change in what runs.
#
# zig cc refuses lld's --symbol-ordering-file, so the second link runs `zig ld.lld` itself
# with the command line zig printed (`-v`) for the first. Paths in it never have spaces (the
# cargo target directory and zig's cache).
#
# Environment: CONNMAP_LINKER_VAR names the variable that holds the first linker (cargo-
# zigbuild sets CARGO_TARGET_<TRIPLE>_LINKER to its wrapper for the target).
# CONNMAP_ORDER=0: the first link only.
set -eu
var=${CONNMAP_LINKER_VAR:?link-ordered.sh: CONNMAP_LINKER_VAR is not set}
eval "first=\${$var:-}"
[ -n "$first" ] || { echo "link-ordered.sh: $var is not set" >&2; exit 1; }
if [ "${CONNMAP_ORDER:-1}" = 0 ]; then
	exec "$first" "$@"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$first" "$@" -v 2>"$tmp/log"; then
	cat "$tmp/log" >&2
	exit 1
fi
line=$(grep -m1 '^ *ld\.lld ' "$tmp/log") || {
	cat "$tmp/log" >&2
	echo "link-ordered.sh: zig printed no ld.lld command" >&2
	exit 1
}

# the functions defined in rustc's object files, sorted by demangled name (hash suffix off)
for a in "$@"; do
	case $a in *.o) llvm-nm --defined-only "$a" ;; esac
done | awk '$2 == "t" || $2 == "T" { print $3 }' | sort -u > "$tmp/mangled"
llvm-cxxfilt < "$tmp/mangled" | sed 's/::h[0-9a-f]\{16\}$//' > "$tmp/demangled"
paste "$tmp/demangled" "$tmp/mangled" | LC_ALL=C sort -t "$(printf '\t')" -k1,1 -k2,2 |
	cut -f2 > "$tmp/order"

# Identical code folding was measured here and is not used: --icf=safe folds nothing (rustc
# writes no .llvm_addrsig table), --icf=all saves 1.6 KB of the package but also merges
# identical read-only statics, which Rust promises distinct addresses.
# shellcheck disable=SC2086 # the command line as zig printed it: split on spaces
zig ld.lld ${line#*ld.lld } --symbol-ordering-file="$tmp/order" --no-warn-symbol-ordering
