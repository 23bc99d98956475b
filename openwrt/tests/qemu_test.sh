#!/bin/bash
# openwrt/tests/qemu_test.sh — runs every cross-built connmap (build/cross/<arch>/connmap) under
# qemu-user with the router's CPU model (24Kc, cortex-a7, cortex-a53) and checks that replaying
# the host tests' captures writes markers.json byte-identical to the host build's.
# Dynamically linked binaries (as OpenWrt links them) run against the target sysroot their build
# used (`sysroot=` in build/cross/<arch>/info: musl's loader + libc.so, libpcap.so.1), with
# `qemu-<arch>-static -L SYSROOT`; x86_64 too, so that the host's libraries are never used (the
# sysroot has its own etc/ld-musl-<arch>.path: a host with Debian's musl package has one too).
#
# Captures (every link type) and the test databases come from `cargo run --example fixtures --
# DIR` (or CONNMAP_FIXTURES=DIR): each capture is replayed with geo.mmdb (GeoIP2-City schema),
# replay.pcap also with flat.mmdb (DB-IP flat schema, float32), with the flags in args.txt.
# Without fixtures, only the smoke test runs (each binary starts and exits under qemu).
# Prints ok/FAIL lines and "qemu: N passed, N failed".
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # also when started as `sh FILE`
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
SRC=${CONNMAP_SRC:-$REPO}
CROSS=${CONNMAP_CROSS:-$REPO/build/cross}
HOST_BIN=${CONNMAP_HOST_BIN:-}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/connmap-qemu.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0 skip=""
ok() { echo "ok   qemu: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL qemu: $*"; fail=$((fail + 1)); }

# arch -> qemu runner and CPU model of the OpenWrt target (+ -L sysroot when dynamic)
runner() {
	local root
	root=$(sed -n 's/^sysroot=//p' "$CROSS/$1/info" 2>/dev/null)
	case "$1" in
	mipsel_24kc) echo "qemu-mipsel-static -cpu 24Kc" ;;
	mips_24kc) echo "qemu-mips-static -cpu 24Kc" ;;
	arm_cortex-a7_neon-vfpv4) echo "qemu-arm-static -cpu cortex-a7" ;;
	aarch64_cortex-a53) echo "qemu-aarch64-static -cpu cortex-a53" ;;
	x86_64) [ -z "$root" ] || echo "qemu-x86_64-static" ;;
	esac | sed "s|\$|${root:+ -L $root}|"
}

arches=()
for d in "$CROSS"/*/; do
	[ -x "$d/connmap" ] && arches+=("$(basename "$d")")
done
[ ${#arches[@]} -gt 0 ] || { bad "no cross-built binaries in $CROSS"; echo "qemu: $pass passed, $fail failed"; exit 1; }

# 0. dynamic builds: the ELF interpreter is OpenWrt's musl loader, the NEEDED entries are
# libpcap.so.1 and libc.so only, and the sysroot has them (else qemu would fall back to nothing)
loader() {
	case "$1" in
	mipsel_24kc) echo /lib/ld-musl-mipsel-sf.so.1 ;;
	mips_24kc) echo /lib/ld-musl-mips-sf.so.1 ;;
	arm_cortex-a7_neon-vfpv4) echo /lib/ld-musl-armhf.so.1 ;;
	aarch64_cortex-a53) echo /lib/ld-musl-aarch64.so.1 ;;
	x86_64) echo /lib/ld-musl-x86_64.so.1 ;;
	esac
}
for a in "${arches[@]}"; do
	root=$(sed -n 's/^sysroot=//p' "$CROSS/$a/info" 2>/dev/null)
	[ -n "$root" ] || continue
	interp=$(llvm-readelf -l "$CROSS/$a/connmap" 2>&1 | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
	needed=$(llvm-readelf -d "$CROSS/$a/connmap" 2>&1 | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
	# the sysroot's own search-path file: under `qemu -L`, a file missing from the sysroot is read
	# from the host, and Debian's musl package installs /etc/ld-musl-x86_64.path (openwrt/tests/
	# deps.sh keeps it installed so that this is proven): the host's libraries must never load
	pathfile=$(loader "$a")
	pathfile="/etc/$(basename "${pathfile%.so.1}").path"
	if [ "$(head -1 "$root$pathfile" 2>/dev/null)" = /usr/lib ]; then
		ok "$a: sysroot has its own $pathfile (/usr/lib first)$([ -e "$pathfile" ] && echo ", which shadows the host's $pathfile")"
	else
		bad "$a: no $root$pathfile: the loader under qemu would read the host's $pathfile"
	fi
	if [ "$interp" = "$(loader "$a")" ] && [ "$needed" = "libc.so libpcap.so.1 " ] &&
		[ -e "$root$interp" ] && [ -e "$root/usr/lib/libpcap.so.1" ]; then
		ok "$a: dynamic, interpreter $interp, NEEDED $needed(in $root)"
	else
		bad "$a: interpreter '$interp' (want $(loader "$a")), NEEDED '$needed' (want libc.so libpcap.so.1), sysroot $root"
	fi
done

# 1. smoke: each binary starts, resolves every symbol and exits normally under emulation
for a in "${arches[@]}"; do
	# shellcheck disable=SC2046
	timeout 60 $(runner "$a") "$CROSS/$a/connmap" --help > "$TMP/$a.help" 2>&1
	rc=$?
	# 0: --help printed; 127 would be the loader failing to resolve a symbol
	if [ $rc -eq 0 ]; then ok "$a: runs (exit $rc)"; else bad "$a: exit status $rc: $(tail -3 "$TMP/$a.help")"; fi
done

# 2. replay comparison against the host build
FIX=${CONNMAP_FIXTURES:-}
if [ -z "$FIX" ] && [ -f "$SRC/examples/fixtures.rs" ]; then
	FIX="$TMP/fixtures"
	mkdir -p "$FIX"
	(cd "$SRC" && cargo run -q --example fixtures -- "$FIX") > "$TMP/fixtures.log" 2>&1 ||
		{ bad "cargo run --example fixtures failed: $(tail -5 "$TMP/fixtures.log")"; FIX=""; }
fi
if [ -z "$HOST_BIN" ]; then
	for b in "${CARGO_TARGET_DIR:-$SRC/target}/debug/connmap" "${CARGO_TARGET_DIR:-$SRC/target}/release/connmap"; do
		[ -x "$b" ] && { HOST_BIN=$b; break; }
	done
fi
runs=() # "capture db" pairs
if [ -n "$FIX" ]; then
	while IFS= read -r f; do runs+=("$f $FIX/geo.mmdb"); done < <(find "$FIX" -maxdepth 1 \( -name '*.pcap' -o -name '*.pcapng' \) | sort)
	[ -f "$FIX/flat.mmdb" ] && [ -f "$FIX/replay.pcap" ] && runs+=("$FIX/replay.pcap $FIX/flat.mmdb")
fi
args=()
[ -n "$FIX" ] && [ -f "$FIX/args.txt" ] && read -ra args < "$FIX/args.txt"
if [ ${#runs[@]} -eq 0 ] || [ -z "$HOST_BIN" ] || [ ! -f "$FIX/geo.mmdb" ]; then
	echo "skip qemu: replay comparison: needs the fixtures (examples/fixtures.rs) and a host build (have: ${#runs[@]} captures, host '${HOST_BIN}')"
	skip=1
else
	for r in "${runs[@]}"; do
		cap=${r% *} db=${r#* }
		name="$(basename "$cap")+$(basename "$db")"
		"$HOST_BIN" -q -r "$cap" --geoip "$db" --json-out "$TMP/host-$name.json" "${args[@]}" > "$TMP/host-$name.log" 2>&1 ||
			{ bad "host build on $name: $(tail -3 "$TMP/host-$name.log")"; continue; }
		for a in "${arches[@]}"; do
			out="$TMP/$a-$name.json"
			# shellcheck disable=SC2046
			timeout 300 $(runner "$a") "$CROSS/$a/connmap" -q -r "$cap" --geoip "$db" --json-out "$out" "${args[@]}" > "$TMP/$a-$name.log" 2>&1
			rc=$?
			if [ $rc -ne 0 ]; then
				bad "$a: $name: exit $rc: $(tail -3 "$TMP/$a-$name.log")"
			elif cmp -s "$TMP/host-$name.json" "$out"; then
				ok "$a: $name: markers.json identical to the host build's ($(wc -c < "$out") bytes)"
			else
				bad "$a: $name: markers.json differs from the host build's"
				diff <(python3 -m json.tool "$TMP/host-$name.json") <(python3 -m json.tool "$out") | head -20 | sed 's/^/     /'
			fi
		done
	done
fi
echo "qemu: $pass passed, $fail failed${skip:+, $skip skipped}"
[ "$fail" -eq 0 ]
