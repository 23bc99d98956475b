#!/bin/bash
# openwrt/tests/run.sh — the OpenWrt packaging tests, run from the repository root (after
# `cargo build`) by the project's test command:
#   ShellCheck of the router-side and build scripts, the init-script test against a procd/UCI
#   shim, LuCI file syntax, the cross builds + packages (scripts/build-dist.sh, cached in
#   ~/.cache/connmap), the mipsel package within the round's size budget, the packages read
#   back, the 32-bit binaries' imports (time64_test.sh), every architecture's binary under
#   qemu-user replaying the host tests' captures, and the mipsel package capturing live on a MIPS
#   24Kc kernel under qemu-system, also past 2038 (mips-system/run.sh check;
#   CONNMAP_SKIP_MIPS_SYSTEM=1 skips it).
# CONNMAP_SKIP_CROSS=1 skips the cross builds and qemu (the arch-independent packages are still
# built and checked). Ends with "N passed, N failed"; exit status 1 on any failure.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # also when started as `sh FILE`
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
T=$REPO/openwrt/tests
cd "$REPO" || exit 1
start=$(date +%s)
passed=0 failed=0
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/connmap-owt.XXXXXX")
trap 'rm -rf "$LOGDIR"' EXIT

note() { printf '%s\n' "$*"; }
result() { # name status
	if [ "$2" -eq 0 ]; then note "ok   $1"; passed=$((passed + 1)); else note "FAIL $1"; failed=$((failed + 1)); fi
}
# run a sub-suite that prints "...: N passed, N failed": add its counts
suite() { # name command...
	local name=$1 out p f
	shift
	out="$LOGDIR/$name.log"
	"$@" > "$out" 2>&1
	local rc=$?
	grep -E '^(ok|FAIL|skip|WARN|note) ' "$out"
	p=$(sed -nE 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/p' "$out" | tail -1)
	f=$(sed -nE 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/p' "$out" | tail -1)
	if [ -z "$p" ]; then
		note "FAIL $name: no result line (exit $rc)"
		tail -20 "$out" | sed 's/^/     /'
		failed=$((failed + 1))
		return
	fi
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		note "FAIL $name: exit $rc"
		tail -20 "$out" | sed 's/^/     /'
		f=1
	fi
	grep -E '^     ' "$out" | head -40
	passed=$((passed + p)) failed=$((failed + f))
}

# 1. shellcheck: router-side scripts (busybox ash, checked as dash where they say so) and ours
if command -v shellcheck > /dev/null; then
	for f in openwrt/connmap/files/connmap.init openwrt/tests/deps.sh openwrt/tests/init_test.sh \
		openwrt/tests/qemu_test.sh openwrt/tests/run.sh scripts/cross-build.sh scripts/package.sh \
		scripts/build-dist.sh scripts/link-ordered.sh openwrt/tools/cross-prebuild-libpcap.sh \
		scripts/release.sh scripts/fill-defaults.sh openwrt/tests/real/luci_https_test.sh \
		openwrt/tests/time64_test.sh openwrt/tests/mips-system/run.sh openwrt/tests/mips-system/guest.sh \
		openwrt/tests/real/build.sh openwrt/tests/real/rootfs.sh openwrt/tests/real/run.sh; do
		shellcheck -x "$f" > "$LOGDIR/sc.log" 2>&1
		rc=$?
		result "shellcheck $f" $rc
		[ $rc -eq 0 ] || sed 's/^/     /' "$LOGDIR/sc.log" | head -30
	done
	# the postinst-pkg/prerm-pkg scripts that go into the packages (router-side, POSIX sh)
	for mk in openwrt/connmap/Makefile openwrt/connmap-geodb/Makefile openwrt/luci-app-connmap/Makefile; do
		pkg=$(basename "$(dirname "$mk")")
		for kind in postinst prerm; do
			awk -v d="define Package/$pkg/$kind" '$0 == d {on=1; next} on && /^endef/ {exit} on {print}' "$mk" |
				sed 's/\$\$/$/g' > "$LOGDIR/$pkg.$kind"
			[ -s "$LOGDIR/$pkg.$kind" ] || continue
			shellcheck -s sh -e SC1091 "$LOGDIR/$pkg.$kind" > "$LOGDIR/sc.log" 2>&1
			rc=$?
			result "shellcheck $pkg $kind-pkg (POSIX sh)" $rc
			[ $rc -eq 0 ] || sed 's/^/     /' "$LOGDIR/sc.log" | head -30
		done
	done
else
	result "shellcheck installed (openwrt/tests/deps.sh)" 1
fi

# 2. the init script against the procd/UCI shim
suite init sh "$T/init_test.sh"

# 3. LuCI files parse
for j in openwrt/luci-app-connmap/root/usr/share/luci/menu.d/luci-app-connmap.json \
	openwrt/luci-app-connmap/root/usr/share/rpcd/acl.d/luci-app-connmap.json \
	openwrt/connmap/files/connmap.capabilities \
	openwrt/connmap/files/connmap-conntrack.capabilities; do
	python3 -m json.tool "$j" > /dev/null 2>&1
	result "valid JSON $j" $?
done
if command -v node > /dev/null; then
	for v in map config; do
		node --check "openwrt/luci-app-connmap/htdocs/luci-static/resources/view/connmap/$v.js" > "$LOGDIR/node.log" 2>&1
		result "JS syntax luci view connmap/$v.js" $?
	done
	suite luci node "$T/luci_test.mjs"
fi
# the translation template is what LuCI's i18n-scan would write from the views and JSON files
python3 openwrt/tools/i18n-scan.py openwrt/luci-app-connmap --check \
	openwrt/luci-app-connmap/po/templates/connmap.pot > "$LOGDIR/pot.log" 2>&1
result "po/templates/connmap.pot up to date ($(cat "$LOGDIR/pot.log"))" $?

# 4. connmap-geodb from a stand-in database (the real one is not needed for this test)
mkdir -p "$LOGDIR/geodb" "$LOGDIR/geodist"
printf 'stand-in database\n\xab\xcd\xefMaxMind.com' > "$LOGDIR/geodb/geo.mmdb"
echo 'stand-in licence notice' > "$LOGDIR/geodb/LICENSE.txt"
CONNMAP_PACKAGES=geodb CONNMAP_DIST="$LOGDIR/geodist" CONNMAP_GEODB_DIR="$LOGDIR/geodb" \
	scripts/package.sh > "$LOGDIR/geopkg.log" 2>&1
result "package connmap-geodb (stand-in mmdb)" $?
suite geodb python3 "$T/check_packages.py" --geodb "$LOGDIR/geodist"

# 5. cross builds, packages, qemu
if [ "${CONNMAP_SKIP_CROSS:-0}" = 1 ]; then
	note "skip cross builds, package read-back of connmap and qemu tests (CONNMAP_SKIP_CROSS=1)"
	CONNMAP_PACKAGES=luci CONNMAP_DIST="$LOGDIR/geodist" scripts/package.sh > "$LOGDIR/lucipkg.log" 2>&1
	result "package luci-app-connmap" $?
	suite lucipkg python3 "$T/check_packages.py" --luci "$LOGDIR/geodist"
else
	t0=$(date +%s)
	"$T/deps.sh" > "$LOGDIR/deps.log" 2>&1
	rc=$?
	result "deps.sh (zig, cargo-zigbuild, qemu, rust-src)" $rc
	[ $rc -eq 0 ] || tail -20 "$LOGDIR/deps.log" | sed 's/^/     /'
	# the real database is packaged when build/geodb/geo.mmdb exists; the test does not make it
	# the round's budget is 480,000 bytes, whatever the caller has set
	CONNMAP_BUDGET=480000 CONNMAP_SKIP_GEODB=1 CONNMAP_SKIP_DEPS=1 scripts/build-dist.sh > "$LOGDIR/dist.log" 2>&1
	rc=$?
	result "scripts/build-dist.sh (5 architectures, .ipk + .apk) in $(($(date +%s) - t0)) s" $rc
	if [ $rc -ne 0 ]; then
		tail -30 "$LOGDIR/dist.log" | sed 's/^/     /'
	else
		sed 's/^/     /' dist/SIZES.txt
		# the round's size budget for the mipsel package (scripts/build-dist.sh writes the line):
		# exceeding it fails the run
		budget=$(sed -n 's/^budget: //p' dist/SIZES.txt)
		case $budget in
		*", within") result "size budget: $budget" 0 ;;
		*) result "size budget: ${budget:-no budget line in dist/SIZES.txt}" 1 ;;
		esac
		suite packages python3 "$T/check_packages.py" dist
		suite time64 "$T/time64_test.sh"
		suite qemu "$T/qemu_test.sh"
		# a live capture on a real MIPS 24Kc kernel (qemu-system, Debian's 4kc-malta kernel)
		if [ "${CONNMAP_SKIP_MIPS_SYSTEM:-0}" = 1 ]; then
			note "skip mips-system: live capture on a MIPS kernel (CONNMAP_SKIP_MIPS_SYSTEM=1)"
		else
			suite mips-system "$T/mips-system/run.sh" check
		fi
		# the x86_64 packages under OpenWrt's real userland (procd, ujail, opkg, apk, ...)
		CONNMAP_CROSS="$REPO/build/cross" suite real "$T/real/run.sh"
	fi
fi

# 6. luci-app-connmap in real LuCI over HTTPS in Chromium (OpenWrt's userland from
#    openwrt/tests/real/build.sh; says "skip" when that build, Chromium or root is missing)
if [ "${CONNMAP_SKIP_BROWSER:-0}" = 1 ]; then
	note "skip luci_https: CONNMAP_SKIP_BROWSER=1"
else
	suite luci_https_opkg bash openwrt/tests/real/luci_https_test.sh opkg
	suite luci_https_apk bash openwrt/tests/real/luci_https_test.sh apk
fi

note "openwrt tests took $(($(date +%s) - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
