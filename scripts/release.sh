#!/bin/bash
# scripts/release.sh — the release tarballs the feed Makefiles (openwrt/*/Makefile) download,
# and their hashes written into those Makefiles:
#   connmap-<ver>.tar.gz        the committed tree without openwrt/ (the feed lives beside it),
#                               plus the built page www/dist and www/dist-luci (the page bundles
#                               npm packages, and a buildroot has no network while it builds);
#                               packages connmap and luci-app-connmap
#   connmap-geodb-<ver>.tar.gz  geo.mmdb + LICENSE.txt from scripts/make-geodb.sh (when built)
# Reproducible: names sorted, owner 0:0, mtimes = the commit's time, gzip -n. Upload both as
# the assets of release v<ver> at PKG_SOURCE_URL, and commit the Makefiles' new hashes.
# usage: scripts/release.sh [OUTDIR]        (default dist/release; needs a clean tree)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # also when started as `sh FILE`
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$REPO/dist/release}
OW=$REPO/openwrt
die() { printf 'release: error: %s\n' "$*" >&2; exit 1; }

cd "$REPO"
ver=$(sed -n 's/^PKG_VERSION:=//p' "$OW/connmap/connmap.mk")
[ -n "$ver" ] || die "no PKG_VERSION in $OW/connmap/connmap.mk"
[ -z "$(git status --porcelain -- . ':(exclude)openwrt')" ] || die "uncommitted changes outside openwrt/"
epoch=$(git log -1 --format=%ct)
TAR=(tar --format=gnu --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch")
work=$(mktemp -d "${TMPDIR:-/tmp}/connmap-release.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT"

sh www/build.sh > "$work/www.log" 2>&1 || { cat "$work/www.log" >&2; die "www/build.sh failed"; }
src="$work/connmap-$ver"
git archive --format=tar --prefix="connmap-$ver/" HEAD -- . ':(exclude)openwrt' | tar -x -C "$work"
cp -R www/dist www/dist-luci "$src/www/"
find "$src/www/dist" "$src/www/dist-luci" -exec touch -h -d "@$epoch" {} +
(cd "$work" && "${TAR[@]}" -cf - "connmap-$ver") | gzip -9n > "$OUT/connmap-$ver.tar.gz"
hash=$(sha256sum "$OUT/connmap-$ver.tar.gz" | cut -d' ' -f1)
sed -i "s/^PKG_HASH:=.*/PKG_HASH:=$hash/" "$OW/connmap/Makefile"
sed -i "s/^CONNMAP_HASH:=.*/CONNMAP_HASH:=$hash/" "$OW/luci-app-connmap/Makefile"
echo "$OUT/connmap-$ver.tar.gz $hash"

if [ -f build/geodb/geo.mmdb ]; then
	g="$work/connmap-geodb-$ver"
	mkdir -p "$g"
	cp build/geodb/geo.mmdb "$g/"
	[ -f build/geodb/LICENSE.txt ] || die "build/geodb/LICENSE.txt is missing (scripts/make-geodb.sh writes it)"
	cp build/geodb/LICENSE.txt "$g/"
	find "$g" -exec touch -h -d "@$epoch" {} +
	(cd "$work" && "${TAR[@]}" -cf - "connmap-geodb-$ver") | gzip -9n > "$OUT/connmap-geodb-$ver.tar.gz"
	hash=$(sha256sum "$OUT/connmap-geodb-$ver.tar.gz" | cut -d' ' -f1)
	sed -i "s/^PKG_HASH:=.*/PKG_HASH:=$hash/" "$OW/connmap-geodb/Makefile"
	echo "$OUT/connmap-geodb-$ver.tar.gz $hash"
else
	echo "release: no build/geodb/geo.mmdb (scripts/make-geodb.sh): connmap-geodb's tarball not made" >&2
fi
