#!/bin/bash
# openwrt/tests/mips-system/run.sh — connmap on a real MIPS kernel. qemu-user cannot capture
# live (no TPACKET ring, no ethtool ioctls): this boots Debian's Linux 6.1 4kc-malta kernel on
# qemu's Malta board with a MIPS 24Kc CPU (the core of OpenWrt's mipsel_24kc routers), with an
# initramfs holding busybox-static:mipsel, OpenWrt's musl loader and libpcap.so.1 from the cross
# sysroot (scripts/cross-build.sh), the files of the mipsel connmap package, the test database
# and guest-tool (guest-tool.c: traffic and the clock), and runs guest.sh in it: a bridge br-lan,
# a LAN and a WAN namespace, connmap capturing live on br-lan.
#
# usage: openwrt/tests/mips-system/run.sh check [PACKAGE|BINARY]
#          live capture on the 24Kc kernel: exact counts of a ping + UDP burst in markers.json
#          (on disk and over HTTP from the LAN), the clock set to 2040 (the daemon goes on and
#          writes 2040 times), a capture replayed in 2040 identical to the host build's replay.
#          Prints ok/FAIL lines and "mips-system: N passed, N failed". ~1-2 min warm.
#        openwrt/tests/mips-system/run.sh bench [PACKAGE|BINARY]
#          guest CPU time per packet of connmap and of `tcpdump -w /dev/null` on br-lan, idle
#          and at CONNMAP_RATES packets/s (default "0 1000 10000 50000"), CONNMAP_SECONDS
#          (default 5) of guest time each, the two tools in turn at each rate, the series
#          CONNMAP_ROUNDS times (default 1), with `-icount shift=1,sleep=on` (one guest
#          instruction = 2 ns of guest time: repeatable, relative figures only; CONNMAP_ICOUNT=0:
#          without, guest time is then host time). tcpdump 4.99.3 is built here for musl against
#          the sysroot's libpcap.so.1, the library connmap uses (cached; CONNMAP_TCPDUMP=debian:
#          Debian's glibc tcpdump:mipsel instead). Prints every run and a summary table.
#          CONNMAP_TOOLS (default "connmap tcpdump"): also connmap-nonames, tcpdump-filter,
#          tcpdump-names, tcpdump-two, replay-connmap, replay-tcpdump (guest.sh says what each
#          runs), to split connmap's cost by handle, kernel filter and user space.
#          CONNMAP_REMOTES (default 256): how many remotes the traffic goes to (each one's first
#          packet is a new remote for connmap).
#   PACKAGE|BINARY: a connmap_*_mipsel_24kc.ipk, or a mipsel connmap binary (dynamically linked
#   against the sysroot's musl and libpcap.so.1); default dist/connmap_*_mipsel_24kc.ipk, else
#   build/cross/mipsel_24kc/connmap.
# environment: CONNMAP_CACHE (default ~/.cache/connmap; the guest parts are cached in
#   $CONNMAP_CACHE/mips-system), CONNMAP_SYSROOT (default: the sysroot= of
#   build/cross/mipsel_24kc/info), CONNMAP_FIXTURES (a folder made by `cargo run --example
#   fixtures`), CONNMAP_HOST_BIN (host connmap for the expected replay), CONNMAP_BURST (20000),
#   CONNMAP_STALL (bench: seconds of a silent guest console before qemu is stopped; 300, 0: off)
# needs: qemu-system-mips (qemu-system-mipsel), cpio, zig (openwrt/tests/deps.sh), network
#   access to Debian's archive the first time (apt-get download with a private state dir).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # also when started as `sh FILE`
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
MODE=${1:-check}
INPUT=${2:-}
CACHE=${CONNMAP_CACHE:-$HOME/.cache/connmap}
PARTS=$CACHE/mips-system
ZIG=${ZIG:-$(command -v zig || echo "$CACHE/zig-${ZIG_VERSION:-0.17.1}/bin/zig")}
BURST=${CONNMAP_BURST:-20000}
pass=0 fail=0
ok() { echo "ok   mips-system: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL mips-system: $*"; fail=$((fail + 1)); }
finish() {
	echo "mips-system: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
}
die() {
	bad "$*"
	finish
}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/connmap-mips.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
case $MODE in check | bench) ;; *) die "usage: run.sh check|bench [PACKAGE|BINARY]" ;; esac
command -v qemu-system-mipsel > /dev/null || die "qemu-system-mipsel not found (apt-get install qemu-system-mips; openwrt/tests/deps.sh)"
command -v cpio > /dev/null || die "cpio not found (openwrt/tests/deps.sh)"

# --- the guest's parts, Debian bookworm mipsel packages (cached) -----------------------------
# kernel (+ the bridge/veth modules), busybox-static, and tcpdump with its glibc libraries
PKGS="busybox-static tcpdump libpcap0.8 libssl3 libatomic1 libc6 libdbus-1-3 libsystemd0 libcap2
libgcrypt20 liblz4-1 liblzma5 libzstd1 libgpg-error0"
STAMP="bookworm mipsel, recipe 1"
guest_parts() {
	if [ "$(cat "$PARTS/.stamp" 2>/dev/null)" = "$STAMP" ]; then return 0; fi
	local apt=$PARTS/apt kver d
	rm -rf "$PARTS"
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$PARTS/debs"
	echo "deb http://deb.debian.org/debian bookworm main" > "$apt/sources.list"
	set -- -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o Dir::State::status=/dev/null \
		-o APT::Architecture=mipsel -o APT::Architectures::=mipsel -o APT::Sandbox::User=root
	echo "mips-system: fetching the guest's Debian mipsel packages" >&2
	apt-get "$@" update -qq >&2 || return 1
	kver=$(apt-cache "$@" depends linux-image-4kc-malta | sed -n 's/.*Depends: \(linux-image-[^ ]*-4kc-malta\)$/\1/p' | head -1)
	[ -n "$kver" ] || { echo "no linux-image-*-4kc-malta for mipsel" >&2; return 1; }
	# shellcheck disable=SC2086
	(cd "$PARTS/debs" && apt-get "$@" download -qq "$kver" $PKGS >&2) || return 1
	for d in "$PARTS"/debs/*.deb; do
		case $d in
		*/linux-image-*) dpkg-deb -x "$d" "$PARTS/kernel" ;;
		*/busybox-static_*) dpkg-deb -x "$d" "$PARTS/busybox" ;;
		*) dpkg-deb -x "$d" "$PARTS/tcpdump" ;;
		esac
	done
	rm -rf "$PARTS/tcpdump/usr/share" "$PARTS/debs" "$apt"
	mkdir -p "$PARTS/modules"
	for m in net/llc/llc net/802/stp net/bridge/bridge drivers/net/veth; do
		cp "$PARTS"/kernel/lib/modules/*/kernel/$m.ko "$PARTS/modules/" || return 1
	done
	cp "$PARTS"/kernel/boot/vmlinuz-* "$PARTS/vmlinuz" || return 1
	basename "$PARTS"/kernel/boot/vmlinuz-* > "$PARTS/kernel.version"
	rm -rf "$PARTS/kernel"
	echo "$STAMP" > "$PARTS/.stamp"
}
guest_parts || die "could not fetch the guest's packages (Debian bookworm mipsel)"

# guest-tool, static for mipsel (musl: 64-bit time_t)
if [ ! -x "$PARTS/guest-tool" ] || [ "$HERE/guest-tool.c" -nt "$PARTS/guest-tool" ]; then
	[ -x "$ZIG" ] || command -v "$ZIG" > /dev/null || die "zig not found (openwrt/tests/deps.sh)"
	ZIG_LOCAL_CACHE_DIR="$PARTS/.zig-cache" "$ZIG" cc -target mipsel-linux-musleabi -mcpu=mips32r2 \
		-static -Os -Wall -o "$PARTS/guest-tool" "$HERE/guest-tool.c" || die "guest-tool.c did not build"
fi

# tcpdump for the bench, built as connmap is: for OpenWrt's musl (the sysroot's loader) against
# the sysroot's own libpcap.so.1, so both tools capture through the same library (Debian's
# tcpdump:mipsel is glibc with Debian's libpcap0.8; CONNMAP_TCPDUMP=debian uses it instead).
# Source: Debian bookworm's tcpdump source package (apt-get source, private state dir), cached.
TCPDUMP_VERSION=4.99.3
build_tcpdump() { # sysroot -> path of the binary
	local sysroot=$1 out=$PARTS/tcpdump-musl-$TCPDUMP_VERSION b apt src
	if [ -x "$out/tcpdump" ] && [ ! "$sysroot/usr/lib/libpcap.so.1" -nt "$out/tcpdump" ] &&
		[ "$(cat "$out/recipe" 2> /dev/null)" = 2 ]; then
		echo "$out/tcpdump"
		return 0
	fi
	rm -rf "$out" && mkdir -p "$out"
	b=$out/build apt=$out/apt
	mkdir -p "$b" "$apt/lists/partial" "$apt/cache/archives/partial"
	echo "deb-src http://deb.debian.org/debian bookworm main" > "$apt/sources.list"
	set -- -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o APT::Sandbox::User=root
	echo "mips-system: fetching and building tcpdump $TCPDUMP_VERSION for mipsel (musl, the sysroot's libpcap)" >&2
	(cd "$b" && apt-get "$@" update -qq && apt-get "$@" source -qq --download-only "tcpdump=$TCPDUMP_VERSION-1" &&
		dpkg-source -x --no-check "tcpdump_$TCPDUMP_VERSION-1.dsc" src > /dev/null) >&2 || return 1
	src=$b/src
	printf '#!/bin/sh\nexec %s cc -target mipsel-linux-musleabi -mcpu=mips32r2 "$@"\n' "$ZIG" > "$b/cc"
	chmod +x "$b/cc"
	# the sysroot installs pcap.h and pcap/ only; tcpdump also includes the old <pcap-namedb.h>
	mkdir -p "$b/pc" "$b/inc"
	echo '#include <pcap/namedb.h>' > "$b/inc/pcap-namedb.h"
	printf 'Name: libpcap\nDescription: libpcap\nVersion: 1.10.3\nLibs: -L%s/usr/lib -lpcap\nCflags: -I%s/usr/include -I%s\n' \
		"$sysroot" "$sysroot" "$b/inc" > "$b/pc/libpcap.pc"
	(
		cd "$src" || exit 1
		export ZIG_LOCAL_CACHE_DIR=$b/.zig-cache PKG_CONFIG_LIBDIR=$b/pc PKG_CONFIG_PATH=
		# the sysroot's real libc.so first: zig's musl stubs do not show lld that libc's
		# optarg/optind are the ones getopt writes, and the copy relocations of a non-PIE
		# program then leave tcpdump's own copies empty (it ignored -r, -w, -i...)
		CC=$b/cc CFLAGS=-O2 LIBS="$sysroot/lib/libc.so" ./configure --host=mipsel-openwrt-linux-musl --without-crypto --without-cap-ng \
			--disable-smb --disable-local-libpcap > "$b/configure.log" 2>&1 || { tail -20 "$b/configure.log"; exit 1; }
		make -j2 tcpdump > "$b/make.log" 2>&1 || { tail -20 "$b/make.log"; exit 1; }
	) >&2 || return 1
	cp "$src/tcpdump" "$out/tcpdump"
	echo 2 > "$out/recipe"
	rm -rf "$b" "$apt"
	echo "$out/tcpdump"
}

# --- what is tested ---------------------------------------------------------------------------
if [ -z "$INPUT" ]; then
	INPUT=$(find "$REPO/dist" -maxdepth 1 -name 'connmap_*_mipsel_24kc.ipk' 2> /dev/null | head -1)
	[ -n "$INPUT" ] || INPUT=$REPO/build/cross/mipsel_24kc/connmap
fi
[ -f "$INPUT" ] || die "no package or binary: $INPUT (scripts/build-dist.sh mipsel_24kc)"
SYSROOT=${CONNMAP_SYSROOT:-$(sed -n 's/^sysroot=//p' "$REPO/build/cross/mipsel_24kc/info" 2> /dev/null)}
SYSROOT=${SYSROOT:-$CACHE/sysroot/mipsel_24kc}
{ [ -e "$SYSROOT/lib/ld-musl-mipsel-sf.so.1" ] && [ -e "$SYSROOT/usr/lib/libpcap.so.1" ]; } ||
	die "no mipsel sysroot at $SYSROOT (scripts/cross-build.sh mipsel_24kc)"

ROOT=$TMP/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,lib,usr/lib,proc,sys,dev,tmp,etc,test,modules,var/run}
case $INPUT in
*.ipk)
	(cd "$TMP" && tar -xzf "$INPUT" ./data.tar.gz && tar -xzf data.tar.gz -C "$ROOT") ||
		die "cannot unpack $INPUT"
	;;
*) cp "$INPUT" "$ROOT/usr/sbin/connmap" ;;
esac
[ -x "$ROOT/usr/sbin/connmap" ] || die "$INPUT has no usr/sbin/connmap"
ok "guest: $(cat "$PARTS/kernel.version"), busybox-static, $(basename "$INPUT") ($(wc -c < "$ROOT/usr/sbin/connmap") byte binary)"
cp -a "$SYSROOT/lib/." "$ROOT/lib/"
cp -a "$SYSROOT/usr/lib/libpcap.so"* "$ROOT/usr/lib/"
rm -rf "$ROOT/etc/ld-musl-"*.path # the guest's loader searches its default /lib:/usr/local/lib:/usr/lib
cp "$PARTS"/busybox/bin/busybox "$ROOT/bin/"
ln -s busybox "$ROOT/bin/sh"
cp "$PARTS"/modules/*.ko "$ROOT/modules/"
cp "$PARTS/guest-tool" "$HERE/guest.sh" "$ROOT/test/"
echo "$MODE" > "$ROOT/test/mode"
echo "$BURST" > "$ROOT/test/burst"
echo "${CONNMAP_RATES:-0 1000 10000 50000}" > "$ROOT/test/rates"
echo "${CONNMAP_SECONDS:-5}" > "$ROOT/test/seconds"
echo "${CONNMAP_TOOLS:-connmap tcpdump}" > "$ROOT/test/tools"
echo "${CONNMAP_REMOTES:-256}" > "$ROOT/test/remotes"
mknod -m 600 "$ROOT/dev/console" c 5 1 # the kernel opens it for init before devtmpfs is mounted
printf 'root:x:0:0:root:/:/bin/sh\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\n' > "$ROOT/etc/group"
if [ "$MODE" = bench ]; then
	if [ "${CONNMAP_TCPDUMP:-musl}" = debian ]; then
		cp -a "$PARTS/tcpdump/." "$ROOT/"
	else
		TCPDUMP=$(build_tcpdump "$SYSROOT") || die "tcpdump for mipsel did not build (zig, the sysroot's libpcap)"
		install -m0755 "$TCPDUMP" "$ROOT/usr/sbin/tcpdump"
	fi
	echo "${CONNMAP_ROUNDS:-1}" > "$ROOT/test/rounds"
fi
cat > "$ROOT/init" << 'EOF'
#!/bin/sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
sh /test/guest.sh
echo "=====GUEST EXIT====="
reboot -f
EOF
chmod +x "$ROOT/init"

# test database and the replay's capture, and what the host build makes of that capture
FIX=${CONNMAP_FIXTURES:-}
if [ -z "$FIX" ]; then
	FIX=$TMP/fixtures
	(cd "$REPO" && cargo run -q --example fixtures -- "$FIX") > "$TMP/fixtures.log" 2>&1 ||
		die "cargo run --example fixtures failed: $(tail -5 "$TMP/fixtures.log")"
fi
cp "$FIX/geo.mmdb" "$FIX/replay.pcap" "$ROOT/test/"
touch "$ROOT/test/args.txt"
[ -f "$FIX/args.txt" ] && cp "$FIX/args.txt" "$ROOT/test/"
HOST_BIN=${CONNMAP_HOST_BIN:-}
for b in "${CARGO_TARGET_DIR:-$REPO/target}/debug/connmap" "${CARGO_TARGET_DIR:-$REPO/target}/release/connmap"; do
	[ -z "$HOST_BIN" ] && [ -x "$b" ] && HOST_BIN=$b
done
if [ "$MODE" = check ]; then
	[ -n "$HOST_BIN" ] || die "no host build of connmap (cargo build)"
	read -ra args < "$ROOT/test/args.txt"
	"$HOST_BIN" -q -r "$FIX/replay.pcap" --geoip "$FIX/geo.mmdb" --json-out "$TMP/host-replay.json" "${args[@]}" \
		> "$TMP/host-replay.log" 2>&1 || die "host build replay: $(tail -3 "$TMP/host-replay.log")"
fi

(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) > "$TMP/initrd.gz" || die "cpio failed"

# --- boot ---------------------------------------------------------------------------------------
LOG=$TMP/console.log
qemu=(qemu-system-mipsel -M malta -cpu 24Kc -m 256 -nic none -vga none -display none -monitor none
	-serial "file:$LOG" -no-reboot -kernel "$PARTS/vmlinuz" -initrd "$TMP/initrd.gz"
	-append "console=ttyS0 panic=-1 ${CONNMAP_KERNEL_ARGS:-quiet} rdinit=/init"
	-rtc clock=vm) # the kernel calibrates the CPU clock against the RTC: both in guest time
# bench: -icount shift=1 (guest time counts guest instructions, 2 ns each, while the guest
# runs: CPU times do not depend on how busy the host is). sleep=on: while the guest idles, its
# clock follows the host's. With sleep=off (idle time skipped) qemu 7.2 stalled the guest at
# random points here: qemu asleep at 0 % CPU, the guest waiting for a timer whose deadline the
# clock never reached (seen in every bench run with sleep=off, during the namespaces' setup or
# a traffic phase). Not for the check: icount makes the emulation several times slower (the
# kernel alone took minutes on 2 busy cores), and the check needs exact counts, not repeatable
# times. CONNMAP_ICOUNT=0|1 overrides, CONNMAP_ICOUNT_SLEEP=off brings back sleep=off.
icount=${CONNMAP_ICOUNT:-$([ "$MODE" = bench ] && echo 1 || echo 0)}
[ "$icount" = 1 ] && qemu+=(-icount "shift=1,sleep=${CONNMAP_ICOUNT_SLEEP:-on}")
limit=${CONNMAP_MIPS_TIMEOUT:-600}
[ "$MODE" = check ] || limit=${CONNMAP_MIPS_TIMEOUT:-7200}
t0=$(date +%s)
# bench: qemu 7.2 with icount sometimes stops making progress in a 50,000/s phase (the vCPU
# thread busy, the guest's console silent, SIGTERM ignored: BENCHMARKS.md, "lead (tenth
# round)"). A console silent for CONNMAP_STALL seconds (default 300; a bench phase prints
# every few seconds) ends qemu with SIGKILL, and the phases that finished are still reported.
stall=${CONNMAP_STALL:-300}
timeout "$limit" "${qemu[@]}" < /dev/null > "$TMP/qemu.out" 2>&1 &
qpid=$!
stalled=""
if [ "$MODE" = bench ] && [ "$stall" -gt 0 ]; then
	while kill -0 "$qpid" 2> /dev/null; do
		sleep 5
		last=$(stat -c %Y "$LOG" 2> /dev/null || date +%s)
		if [ $(($(date +%s) - last)) -ge "$stall" ] && kill -0 "$qpid" 2> /dev/null; then
			stalled=1
			pkill -KILL -P "$qpid" 2> /dev/null
			kill -KILL "$qpid" 2> /dev/null
			break
		fi
	done
fi
wait "$qpid"
rc=$?
t1=$(date +%s)
if [ -n "$stalled" ]; then
	bad "the guest made no progress for $stall s (qemu's icount stall): qemu stopped; the finished phases follow. Last lines: $(tail -n 3 "$LOG")"
elif ! grep -q '=====GUEST EXIT=====' "$LOG"; then
	bad "the guest did not finish in $limit s (qemu exit $rc): $(tail -c 1500 "$LOG" "$TMP/qemu.out")"
	[ -z "${CONNMAP_KEEP_LOG:-}" ] || cp "$LOG" "$CONNMAP_KEEP_LOG"
	finish
fi
[ -n "$stalled" ] || ok "booted the MIPS 24Kc guest and ran the $MODE in $((t1 - t0)) s"
[ -z "${CONNMAP_KEEP_LOG:-}" ] || cp "$LOG" "$CONNMAP_KEEP_LOG"

# --- results --------------------------------------------------------------------------------------
python3 "$HERE/results.py" "$MODE" "$LOG" "$BURST" "$TMP/host-replay.json" > "$TMP/results" 2>&1
cat "$TMP/results"
pass=$((pass + $(grep -c '^ok ' "$TMP/results")))
fail=$((fail + $(grep -c '^FAIL ' "$TMP/results")))
finish
