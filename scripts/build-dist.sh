#!/bin/bash
# scripts/build-dist.sh — the one command that builds every OpenWrt artifact into dist/:
# cross-compiles connmap for all five OpenWrt architectures (scripts/cross-build.sh), packages
# them as .ipk and .apk with luci-app-connmap and connmap-geodb (scripts/package.sh), and
# writes dist/SIZES.txt (binary / .ipk / .apk bytes per architecture, how each binary was
# built and linked, the version of every tool that shapes those bytes, whether the mipsel_24kc
# package meets its 400 KB goal and the round's budget, CONNMAP_BUDGET bytes, default 480,000:
# openwrt/tests/run.sh fails when the budget is exceeded).
#
# usage: scripts/build-dist.sh [ARCH...]
#   environment: as scripts/cross-build.sh and scripts/package.sh; CONNMAP_SKIP_DEPS=1 skips
#   openwrt/tests/deps.sh (the installer of zig, cargo-zigbuild, qemu, ...)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # also when started as `sh FILE`
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIST=${CONNMAP_DIST:-$REPO/dist}
CROSS=${CONNMAP_CROSS:-$REPO/build/cross}
BUDGET=${CONNMAP_BUDGET:-480000}
export CONNMAP_DIST=$DIST CONNMAP_CROSS=$CROSS CONNMAP_OUT=$CROSS

[ "${CONNMAP_SKIP_DEPS:-0}" = 1 ] || "$REPO/openwrt/tests/deps.sh" >&2
[ $# -gt 0 ] || set -- mipsel_24kc mips_24kc arm_cortex-a7_neon-vfpv4 aarch64_cortex-a53 x86_64

# geodb: the trimmed database when scripts/make-geodb.sh exists and has not run yet
if [ ! -f "${CONNMAP_GEODB_DIR:-$REPO/build/geodb}/geo.mmdb" ] && [ -x "$REPO/scripts/make-geodb.sh" ] &&
	[ "${CONNMAP_SKIP_GEODB:-0}" != 1 ]; then
	"$REPO/scripts/make-geodb.sh" >&2 || echo "build-dist: make-geodb.sh failed: connmap-geodb skipped" >&2
fi

"$REPO/scripts/cross-build.sh" "$@"
# zig and cargo-zigbuild as cross-build.sh finds them (for the versions in SIZES.txt)
PATH="${CONNMAP_CACHE:-$HOME/.cache/connmap}/zig-${ZIG_VERSION:-0.17.1}/bin:${CONNMAP_CACHE:-$HOME/.cache/connmap}/cargo-zigbuild-${ZIGBUILD_VERSION:-0.24.1}/bin:$PATH"
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
		printf 'budget: the mipsel_24kc connmap .ipk <= %s bytes: %s bytes, %s\n' "$BUDGET" "$n" \
			"$([ "$n" -le "$BUDGET" ] && echo within || echo EXCEEDED)"
	done
	# what made these bytes: the same versions give the same sizes on any machine
	echo "tools:"
	nightly=$(sed -n 's/^toolchain=//p' "$CROSS/$1/info" 2>/dev/null)
	printf '  %-15s %s\n' \
		"rustc nightly" "${nightly:-?} = $(rustc "+${nightly:-nightly}" -V 2>/dev/null || echo '?')" \
		"rustc stable" "$(rustc +stable -V 2>/dev/null || echo '?')" \
		zig "$(zig version 2>/dev/null || echo '?')" \
		cargo-zigbuild "$(cargo-zigbuild --version 2>/dev/null | sed 's/^cargo-zigbuild //' || echo '?')" \
		libpcap "$(sed -n 's/^libpcap=//p' "$CROSS/$1/info" 2>/dev/null) (Debian source package, built with zig)" \
		musl "$(sed -n 's/^musl=//p' "$CROSS/$1/info" 2>/dev/null) (sysroot libc.so; the binary links zig's musl stubs)" \
		zopfli "$(dpkg-query -W -f '${Version}' zopfli 2>/dev/null || echo 'not installed: gzip -9')" \
		gzip "$(gzip --version | head -1)" \
		tar "$(tar --version | head -1)"
} > "$DIST/SIZES.txt"
cat "$DIST/SIZES.txt"
