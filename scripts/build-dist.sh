#!/bin/bash
# scripts/build-dist.sh — the one command that builds every OpenWrt artifact into dist/:
# cross-compiles connmap for all five OpenWrt architectures (scripts/cross-build.sh), packages
# them as .ipk and .apk with luci-app-connmap and connmap-geodb (scripts/package.sh), and
# writes dist/SIZES.txt (binary / .ipk / .apk bytes per architecture, how each binary was
# built and linked, and whether the mipsel_24kc package meets its 400 KB goal).
#
# usage: scripts/build-dist.sh [ARCH...]
#   environment: as scripts/cross-build.sh and scripts/package.sh; CONNMAP_SKIP_DEPS=1 skips
#   openwrt/tests/deps.sh (the installer of zig, cargo-zigbuild, qemu, ...)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # also when started as `sh FILE`
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIST=${CONNMAP_DIST:-$REPO/dist}
CROSS=${CONNMAP_CROSS:-$REPO/build/cross}
export CONNMAP_DIST=$DIST CONNMAP_CROSS=$CROSS CONNMAP_OUT=$CROSS

[ "${CONNMAP_SKIP_DEPS:-0}" = 1 ] || "$REPO/openwrt/tests/deps.sh" >&2
[ $# -gt 0 ] || set -- mipsel_24kc mips_24kc arm_cortex-a7_neon-vfpv4 aarch64_cortex-a53 x86_64

# geodb: the trimmed database when scripts/make-geodb.sh exists and has not run yet
if [ ! -f "${CONNMAP_GEODB_DIR:-$REPO/build/geodb}/geo.mmdb" ] && [ -x "$REPO/scripts/make-geodb.sh" ] &&
	[ "${CONNMAP_SKIP_GEODB:-0}" != 1 ]; then
	"$REPO/scripts/make-geodb.sh" >&2 || echo "build-dist: make-geodb.sh failed: connmap-geodb skipped" >&2
fi

"$REPO/scripts/cross-build.sh" "$@"
rm -f "$DIST"/*.ipk "$DIST"/*/*.apk
"$REPO/scripts/package.sh" "$@" >/dev/null

{
	printf '%-26s %10s %10s %10s  %s\n' arch binary ipk apk how
	for arch in "$@"; do
		ipk=$(ls "$DIST"/connmap_*_"$arch".ipk)
		apk=$(ls "$DIST/$arch"/connmap-*.apk)
		how=$(sed -n 's/^how=//p' "$CROSS/$arch/info")
		printf '%-26s %10s %10s %10s  %s\n' "$arch" "$(wc -c < "$CROSS/$arch/connmap")" \
			"$(wc -c < "$ipk")" "$(wc -c < "$apk")" "$how"
	done
	for f in "$DIST"/*_all.ipk "$DIST"/all/*.apk; do
		[ -f "$f" ] && printf '%-26s %10s %s\n' all "$(wc -c < "$f")" "$(basename "$f")"
	done
	for ipk in "$DIST"/connmap_*_mipsel_24kc.ipk; do
		[ -f "$ipk" ] || continue
		n=$(wc -c < "$ipk")
		printf 'goal: the mipsel_24kc connmap .ipk <= 400 KB (409600 bytes): %s bytes, %s\n' "$n" \
			"$([ "$n" -le 409600 ] && echo met || echo "not met")"
	done
} > "$DIST/SIZES.txt"
cat "$DIST/SIZES.txt"
