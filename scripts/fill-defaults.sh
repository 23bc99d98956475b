#!/bin/sh
# scripts/fill-defaults.sh — fills the `@name@` marks of a file with connmap's default settings
# from their one source, src/defaults.conf (the daemon reads the same table through build.rs).
# The OpenWrt packages are built with it, by the feed Makefiles (openwrt/*/Makefile, inside an
# OpenWrt SDK: POSIX sh and awk only) and by scripts/package.sh: /etc/config/connmap, the init
# script's fallbacks, the LuCI views' placeholders and defaults. A mark the table lacks is an
# error (exit status 1), so a misspelt one never ships.
# With --shell, a shell script's comment lines are left out (its first line, the #! line,
# stays): the init script's comments are for whoever reads the source, and 1.5 KB of the
# router package (docs/openwrt.md, "Size").
# usage: fill-defaults.sh TABLE [--shell] < IN > OUT
#        fill-defaults.sh TABLE -i FILE...      (in place)
set -eu
[ $# -ge 1 ] || { echo "usage: $0 TABLE [--shell] [-i FILE...]" >&2; exit 2; }
table=$1
shift
shell=0
if [ "${1:-}" = --shell ]; then
	shell=1
	shift
fi

fill() {
	awk -v table="$table" -v shell="$shell" '
	BEGIN {
		while ((rc = getline line < table) > 0) {
			sub(/^[ \t]+/, "", line)
			if (line == "" || line ~ /^#/) continue
			split(line, f, /[ \t]+/)
			v[f[1]] = f[3]
		}
		if (rc < 0) { print "fill-defaults: cannot read " table > "/dev/stderr"; exit 1 }
	}
	shell && NR > 1 && /^[ \t]*#/ { next }
	{
		s = $0
		out = ""
		while (match(s, /@[a-z_]+@/)) {
			k = substr(s, RSTART + 1, RLENGTH - 2)
			if (!(k in v)) {
				print "fill-defaults: line " NR ": " table " has no default " k > "/dev/stderr"
				bad = 1
				exit 1
			}
			out = out substr(s, 1, RSTART - 1) v[k]
			s = substr(s, RSTART + RLENGTH)
		}
		print out s
	}
	END { if (bad) exit 1 }'
}

if [ "${1:-}" = -i ]; then
	shift
	for f in "$@"; do
		fill < "$f" > "$f.filled"
		cat "$f.filled" > "$f" # keeps the file's mode
		rm -f "$f.filled"
	done
else
	fill
fi
