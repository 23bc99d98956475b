#!/bin/bash
# scripts/cross-build.sh — release binaries of connmap for OpenWrt targets, without docker.
#
# Links the way OpenWrt's own packages are linked (default, CONNMAP_LINK=dynamic): against the
# router's musl (ELF interpreter /lib/ld-musl-<arch>.so.1, NEEDED libc.so) and OpenWrt's
# libpcap1 (NEEDED libpcap.so.1). For that and for the qemu-user tests it builds a target
# sysroot per arch, $CONNMAP_CACHE/sysroot/<arch>: musl's shared libc.so (= the dynamic loader)
# from Debian's musl source package and libpcap.so.1 from Debian's libpcap source package, both
# compiled with zig as the C cross compiler. CONNMAP_LINK=static links libpcap and zig's musl
# into the binary instead (no sysroot). The daemon is built with cargo-zigbuild, nightly +
# build-std (smaller std, panic=immediate-abort), `--no-default-features` (the `demo` feature
# is host-only). Output:
#   build/cross/<openwrt-arch>/connmap      (+ build/cross/<openwrt-arch>/info: target, sizes)
#
# usage: scripts/cross-build.sh [ARCH...]     ARCH = OpenWrt package arch, default: all five
#   mipsel_24kc mips_24kc arm_cortex-a7_neon-vfpv4 aarch64_cortex-a53 x86_64
# environment:
#   CONNMAP_SRC     source tree to build (default: this repository)
#   CONNMAP_OUT     output directory (default: <repo>/build/cross)
#   CONNMAP_CACHE   toolchains, libpcap builds, cargo target dir (default ~/.cache/connmap)
#   CARGO_TARGET_DIR  (default $CONNMAP_CACHE/target)
#   CONNMAP_BUILD_STD_FEATURES  extra build-std features for the build-std targets
#                   (default: optimize_for_size when this nightly accepts it)
#   JOBS            parallel jobs (default 2)
#   CONNMAP_PANIC_MESSAGES=1  build-std targets keep panic messages (default: immediate abort,
#                   which is smaller)
#   CONNMAP_NIGHTLY the nightly toolchain of the build-std builds (default: the pinned one below)
#   CONNMAP_LINK    dynamic (default: as OpenWrt packages, Depends: libc, libpcap1) or static
#   CONNMAP_STD     build-std (default, every target) or prebuilt (stable std where rustup has
#                   it: x86_64, aarch64)
#   CONNMAP_PIE=1   dynamic MIPS binaries position-independent too (+57 KB on the mipsel
#                   package; default on MIPS: not, as OpenWrt builds for small flash; other
#                   architectures are always PIE)
#   CONNMAP_ORDER=0 link without ordering functions by name (scripts/link-ordered.sh; the
#                   ordering makes the gzipped mipsel binary 9 KB smaller)
# Prerequisites: openwrt/tests/deps.sh
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # also when started as `sh FILE`
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SRC=${CONNMAP_SRC:-$REPO}
OUT=${CONNMAP_OUT:-$REPO/build/cross}
CACHE=${CONNMAP_CACHE:-$HOME/.cache/connmap}
JOBS=${JOBS:-2}
ZIG_VERSION=${ZIG_VERSION:-0.17.1}
ZIGBUILD_VERSION=${ZIGBUILD_VERSION:-0.24.1}
LIBPCAP_VERSION=${LIBPCAP_VERSION:-1.10.3}
# the nightly of the build-std builds, pinned by date so that a fresh machine builds the same
# bytes (openwrt/tests/deps.sh installs exactly this one; dist/SIZES.txt records it)
NIGHTLY=${CONNMAP_NIGHTLY:-nightly-2026-05-20}
MUSL_VERSION=${MUSL_VERSION:-1.2.3}
LINK=${CONNMAP_LINK:-dynamic}
STD=${CONNMAP_STD:-build-std}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
export PATH="$CACHE/zig-$ZIG_VERSION/bin:$CACHE/cargo-zigbuild-$ZIGBUILD_VERSION/bin:$PATH"

ALL_ARCHES="mipsel_24kc mips_24kc arm_cortex-a7_neon-vfpv4 aarch64_cortex-a53 x86_64"

log() { printf 'cross-build: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# arch -> "rust-target zig-target zig-cpu configure-host"
arch_info() {
	case "$1" in
	mipsel_24kc) echo "mipsel-unknown-linux-musl mipsel-linux-musleabi mips32r2 mipsel-linux-musl" ;;
	mips_24kc) echo "mips-unknown-linux-musl mips-linux-musleabi mips32r2 mips-linux-musl" ;;
	arm_cortex-a7_neon-vfpv4) echo "armv7-unknown-linux-musleabihf arm-linux-musleabihf generic+v7a+vfp3d16-neon arm-linux-musleabihf" ;;
	aarch64_cortex-a53) echo "aarch64-unknown-linux-musl aarch64-linux-musl - aarch64-linux-musl" ;;
	x86_64) echo "x86_64-unknown-linux-musl x86_64-linux-musl - x86_64-linux-musl" ;;
	*) return 1 ;;
	esac
}

command -v zig >/dev/null || die "zig not found (run openwrt/tests/deps.sh)"
command -v cargo-zigbuild >/dev/null || die "cargo-zigbuild not found (run openwrt/tests/deps.sh)"
case $LINK in dynamic | static) ;; *) die "CONNMAP_LINK must be dynamic or static" ;; esac
[ "$LINK" = static ] || command -v llvm-objcopy >/dev/null || die "llvm-objcopy not found (run openwrt/tests/deps.sh)"

# --- sources: Debian's source packages, fetched with a private apt state dir ---------------
fetch_libpcap() { fetch_source libpcap "$LIBPCAP_VERSION"; }

fetch_source() { # package upstream-version (Debian revision -1)
	local pkg=$1 ver=$2 dir apt_dir tmp
	dir="$CACHE/src/$pkg-$ver"
	[ -f "$dir/configure" ] && { echo "$dir"; return; }
	apt_dir="$CACHE/apt-src"
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$CACHE/src"
	echo "deb-src http://deb.debian.org/debian bookworm main" > "$apt_dir/sources.list"
	set -- -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
	log "fetching $pkg $ver source (Debian source package)"
	apt-get "$@" -o APT::Sandbox::User=root update -qq >&2
	tmp=$(mktemp -d "$CACHE/src/tmp.XXXXXX")
	(cd "$tmp" && apt-get "$@" -o APT::Sandbox::User=root source -qq --download-only "$pkg=$ver-1" >&2 &&
		dpkg-source -x --no-check "${pkg}_$ver-1.dsc" "$pkg-$ver" >/dev/null)
	rm -rf "$dir"
	mv "$tmp/$pkg-$ver" "$dir"
	rm -rf "$tmp"
	echo "$dir"
}

# zig cc wrapper per target (configure wants CC as one command)
zig_cc() {
	ztarget=$1 zcpu=$2
	w="$CACHE/zigcc/$ztarget"
	mkdir -p "$w"
	cpuflag=""
	[ "$zcpu" != - ] && cpuflag="-mcpu=$zcpu"
	for tool in cc ar ranlib; do
		case $tool in
		cc) line="exec zig cc -target $ztarget $cpuflag \"\$@\"" ;;
		*) line="exec zig $tool \"\$@\"" ;;
		esac
		printf '#!/bin/sh\n%s\n' "$line" > "$w/$tool.new"
		chmod +x "$w/$tool.new"
		mv "$w/$tool.new" "$w/$tool"
	done
	echo "$w"
}

build_libpcap() {
	rtarget=$1 ztarget=$2 zcpu=$3 chost=$4
	prefix="$CACHE/libpcap-$LIBPCAP_VERSION/$rtarget"
	[ -f "$prefix/lib/libpcap.a" ] && { echo "$prefix"; return; }
	srcdir=$(fetch_libpcap)
	w=$(zig_cc "$ztarget" "$zcpu")
	bdir="$CACHE/libpcap-$LIBPCAP_VERSION/build-$rtarget"
	rm -rf "$bdir" "$prefix"
	mkdir -p "$bdir"
	cp -a "$srcdir/." "$bdir/"
	log "building libpcap $LIBPCAP_VERSION for $rtarget"
	(
		cd "$bdir"
		# shellcheck disable=SC2030
		export ZIG_LOCAL_CACHE_DIR="$bdir/.zig-cache"
		CC="$w/cc" AR="$w/ar" RANLIB="$w/ranlib" CFLAGS="-Os -ffunction-sections -fdata-sections" \
			./configure --host="$chost" --prefix="$prefix" --disable-shared --enable-static \
			--with-pcap=linux --disable-dbus --disable-bluetooth --disable-rdma --disable-netmap \
			--disable-usb --disable-remote --without-libnl --disable-universal >configure.log 2>&1 ||
			{ tail -30 configure.log >&2; exit 1; }
		make -j"$JOBS" libpcap.a >make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
		mkdir -p "$prefix/lib" "$prefix/include"
		cp libpcap.a "$prefix/lib/"
		cp -R pcap "$prefix/include/" && cp pcap.h "$prefix/include/"
	) || die "libpcap build failed for $rtarget (logs in $bdir)"
	rm -rf "$bdir"
	echo "$prefix"
}

# --- the target sysroot of a dynamic build: musl's libc.so (the loader) and libpcap.so.1 -----
# OpenWrt installs musl as /lib/libc.so with the loader /lib/ld-musl-$(ARCH)$(SUBARCH).so.1 a
# link to it (musl's own `make install`), and libpcap as /usr/lib/libpcap.so.1 (libpcap1).
# The sysroot's own search-path file, etc/ld-musl-<arch>.path (/usr/lib, then /lib). The loader
# reads /etc/ld-musl-<arch>.path when it exists; under `qemu-<arch> -L SYSROOT` a file missing
# from the sysroot is taken from the host, and Debian's `musl` package installs
# /etc/ld-musl-x86_64.path naming its own library folders: without this file the x86_64 replay
# loaded libraries from there (exit 127, "pcap_set_snaplen: symbol not found"). libpcap.so.1
# is in /usr/lib, the first folder searched, so a host library can never be picked instead.
sysroot_path_file() { # root
	local ldso
	ldso=$(find "$1/lib" -maxdepth 1 -name 'ld-musl-*.so.1' -printf '%f\n' | head -1)
	[ -n "$ldso" ] || die "no musl loader in $1/lib"
	mkdir -p "$1/etc"
	printf '/usr/lib\n/lib\n' > "$1/etc/${ldso%.so.1}.path"
}

build_sysroot() { # arch zig-target zig-cpu configure-host
	local arch=$1 ztarget=$2 zcpu=$3 chost=$4
	local root="$CACHE/sysroot/$arch" stamp="musl $MUSL_VERSION, libpcap $LIBPCAP_VERSION, recipe 3"
	if [ -f "$root/.versions" ] && [ "$(cat "$root/.versions")" = "$stamp" ]; then
		sysroot_path_file "$root"
		echo "$root"
		return
	fi
	local w msrc psrc b
	w=$(zig_cc "$ztarget" "$zcpu")
	msrc=$(fetch_source musl "$MUSL_VERSION")
	psrc=$(fetch_libpcap)
	rm -rf "$root"
	mkdir -p "$root/lib" "$root/usr/lib" "$root/usr/include"
	b="$CACHE/sysroot/build-$arch"
	rm -rf "$b"
	mkdir -p "$b"
	cp -a "$msrc/." "$b/musl/"
	cp -a "$psrc/." "$b/libpcap/"
	log "building the $arch sysroot: musl $MUSL_VERSION libc.so, libpcap $LIBPCAP_VERSION libpcap.so.1"
	(
		# shellcheck disable=SC2031
		export ZIG_LOCAL_CACHE_DIR="$b/.zig-cache"
		cd "$b/musl"
		# musl links libc.so with the compiler runtime (-lgcc, zig's compiler_rt). compiler_rt
		# also defines memcpy, memset, strlen, ceil, __aeabi_read_tp, ... as weak *hidden*
		# symbols, and a hidden definition makes musl's own ones unexported. So link once, then
		# again with a copy of compiler_rt in which every symbol musl defines is made local:
		# only the helpers musl lacks (soft float, 64-bit division) stay global.
		echo 'double f(long long a, double b) { return a / 3 + b; }' > rt.c
		rt=$("$w/cc" -nostdlib -shared rt.c -o rt.so -lgcc -v 2>&1 | grep -o '[^ ]*/libcompiler_rt\.a' | head -1)
		[ -f "$rt" ] || { echo "zig's compiler_rt not found" >&2; exit 1; }
		CC="$w/cc" AR="$w/ar" RANLIB="$w/ranlib" ./configure --target="$chost" --prefix=/usr \
			--syslibdir=/lib --disable-static >configure.log 2>&1 || { tail -30 configure.log >&2; exit 1; }
		# soname libc.so: what a program linked against this file records as NEEDED (musl's
		# loader resolves "libc.so" to itself), as with zig's stub
		make -j"$JOBS" lib/libc.so LIBCC="$rt" LDFLAGS="-Wl,-soname,libc.so" >make.log 2>&1 ||
			{ tail -30 make.log >&2; exit 1; }
		find obj -name '*.lo' -exec llvm-nm -g --defined-only {} + | awk 'NF == 3 {print $3}' |
			sort -u > musl.syms
		llvm-objcopy --localize-symbols=musl.syms "$rt" "$b/librt.a"
		rm lib/libc.so
		make lib/libc.so LIBCC="$b/librt.a" LDFLAGS="-Wl,-soname,libc.so" >>make.log 2>&1 ||
			{ tail -30 make.log >&2; exit 1; }
		exported=$(llvm-nm -D --defined-only lib/libc.so)
		for sym in memcpy strlen malloc; do
			grep -qw "$sym" <<<"$exported" || { echo "libc.so does not export $sym" >&2; exit 1; }
		done
		ldso="ld-musl-$(sed -n 's/^ARCH = //p' config.mak)$(sed -n 's/^SUBARCH = //p' config.mak).so.1"
		cp lib/libc.so "$root/lib/libc.so"
		ln -s libc.so "$root/lib/$ldso"
		cd "$b/libpcap"
		# Debian's patch names it libpcap.so.0.8; OpenWrt's (and upstream's) soname is libpcap.so.1
		CC="$w/cc" AR="$w/ar" RANLIB="$w/ranlib" CFLAGS="-Os -ffunction-sections -fdata-sections" \
			./configure --host="$chost" --prefix=/usr --enable-shared --disable-static \
			--with-pcap=linux --disable-dbus --disable-bluetooth --disable-rdma --disable-netmap \
			--disable-usb --disable-remote --without-libnl --disable-universal >configure.log 2>&1 ||
			{ tail -30 configure.log >&2; exit 1; }
		make -j"$JOBS" MAJ=1 shared >make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
		cp "libpcap.so.$LIBPCAP_VERSION" "$root/usr/lib/"
		ln -s "libpcap.so.$LIBPCAP_VERSION" "$root/usr/lib/libpcap.so.1"
		ln -s libpcap.so.1 "$root/usr/lib/libpcap.so"
		cp -R pcap pcap.h "$root/usr/include/"
	) || die "sysroot build failed for $arch (logs in $b)"
	rm -rf "$b"
	sysroot_path_file "$root"
	echo "$stamp" > "$root/.versions"
	echo "$root"
}

# Does this nightly accept a build-std feature? (cached per nightly version)
build_std_features() {
	if [ -n "${CONNMAP_BUILD_STD_FEATURES+x}" ]; then echo "$CONNMAP_BUILD_STD_FEATURES"; return; fi
	echo "optimize_for_size"
}

# A prebuilt std is compiled without the time64 choice below (RUST_LIBC_UNSTABLE_MUSL_V1_2_3),
# so on a 32-bit target it would import musl's time32 symbols (`clock_gettime`, `stat`... instead
# of `__clock_gettime64`, `__stat_time64`) and die on 2038-01-19: only 64-bit targets use it
# (rustup had no armv7 musl std here anyway); 32-bit ones always build std.
has_prebuilt_std() {
	case $1 in x86_64-* | aarch64-*) ;; *) return 1 ;; esac
	rustup +stable target list --installed 2>/dev/null | grep -qx "$1"
}

build_arch() {
	arch=$1
	local info rtarget ztarget zcpu chost pcap bin how feats t0 t1 size toolchain
	info=$(arch_info "$arch") || die "unknown arch $arch"
	read -r rtarget ztarget zcpu chost <<<"$info"
	local lib link_flags root=""
	if [ "$LINK" = dynamic ]; then
		root=$(build_sysroot "$arch" "$ztarget" "$zcpu" "$chost")
		lib="$root/usr/lib/libpcap.so.$LIBPCAP_VERSION"
		export LIBPCAP_LIBDIR="$root/usr/lib" LIBPCAP_VER="$LIBPCAP_VERSION"
		# zig links against its musl stubs and sets the interpreter /lib/ld-musl-<arch>.so.1
		link_flags="-C target-feature=-crt-static"
		# MIPS: a non-PIE executable unless CONNMAP_PIE=1. o32 PIC code loads every address
		# through $gp: measured on mipsel with everything of the seventh round, .ipk 565,943 ->
		# 509,109 bytes (-57 KB)
		# (docs/openwrt.md, "Position-independent?"). Libraries, stack and heap stay randomized;
		# the daemon is Rust (no hand-written parsing in unsafe code) in a ujail with
		# CAP_NET_RAW only, which is what ASLR of its own code would mitigate. It reads `environ` through a
		# copy relocation, and lld must see that __environ/_environ are aliases of it in libc
		# (or libc keeps its own, uninitialized from the program's view: SIGBUS in getenv), which
		# zig's stubs do not show: link against the sysroot's real libc.so (soname libc.so) first.
		case $rtarget in mips*)
			[ "${CONNMAP_PIE:-0}" = 1 ] ||
				link_flags="$link_flags -C relocation-model=static -C link-arg=$root/lib/libc.so"
			;;
		esac
	else
		pcap=$(build_libpcap "$rtarget" "$ztarget" "$zcpu" "$chost")
		lib="$pcap/lib/libpcap.a"
		export LIBPCAP_LIBDIR="$pcap/lib" LIBPCAP_VER="$LIBPCAP_VERSION"
		link_flags="-C target-feature=+crt-static"
	fi
	# the pcap crate's build script does not track the library, nor cargo the link mode:
	# relink when the library is newer, or the last build was linked the other way
	bin="$CARGO_TARGET_DIR/$rtarget/release/connmap"
	if [ -f "$bin" ] && [ "$lib" -nt "$bin" ]; then rm -f "$bin"; fi
	if [ -f "$bin" ] && [ "$(cat "$bin.link" 2>/dev/null)" != "$LINK $link_flags order=${CONNMAP_ORDER:-1}" ]; then rm -f "$bin"; fi
	log "building connmap for $arch ($rtarget)"
	t0=$(date +%s)
	# zig's musl is 1.2 (64-bit time_t on 32-bit targets too) and so is libpcap built with it:
	# the libc crate must use that ABI as well, or struct pcap_pkthdr (a timeval) is misread
	local abi="--cfg libc_unstable_musl_v1_2"
	# ... and so must std's own copy of the libc crate (build-std compiles the version that
	# rust-src pins, which reads the ABI from this variable, not from the cfg): without it a
	# 32-bit binary imports musl's time32 symbols (clock_gettime, stat, ...) and dies with
	# SIGTRAP after 2038-01-19 03:14:07 UTC (openwrt/tests/time64_test.sh checks the imports)
	export RUST_LIBC_UNSTABLE_MUSL_V1_2_3=1
	# the final link places functions in name order: smaller once gzipped (scripts/link-ordered.sh)
	abi="$abi -C linker=$REPO/scripts/link-ordered.sh"
	export CONNMAP_LINKER_VAR
	CONNMAP_LINKER_VAR="CARGO_TARGET_$(echo "$rtarget" | tr 'a-z-' 'A-Z_')_LINKER"
	if [ "$STD" = prebuilt ] && has_prebuilt_std "$rtarget"; then
		(cd "$SRC" && RUSTFLAGS="$abi $link_flags ${RUSTFLAGS:-}" cargo +stable zigbuild -q --release --locked -j "$JOBS" \
			-p connmap --bin connmap --no-default-features --target "$rtarget")
		how="stable, prebuilt std"
		toolchain=stable
	else
		feats=$(build_std_features)
		# size: no panic messages/backtrace code, no unwind tables (measured on mipsel: -80 KB
		# gzipped); CONNMAP_PANIC_MESSAGES=1 keeps plain panic=abort with messages
		# and no panic locations (nothing prints them without panic messages)
		# -Zfmt-debug=none: `{:?}` prints nothing and Debug code is dropped (mipsel: -8 KB binary,
		# -3.2 KB gzipped); connmap's own messages never use it (cli::quote instead; the test
		# cli::tests::no_debug_formatting_outside_tests keeps it so)
		local size_flags="-Zunstable-options -Cpanic=immediate-abort -Cforce-unwind-tables=no -Zlocation-detail=none -Zfmt-debug=none"
		[ "${CONNMAP_PANIC_MESSAGES:-0}" = 1 ] && size_flags=""
		(cd "$SRC" && RUSTFLAGS="$abi $link_flags -C link-self-contained=no $size_flags ${RUSTFLAGS:-}" \
			cargo "+$NIGHTLY" zigbuild -q --release --locked -j "$JOBS" \
			-Z build-std=std,panic_abort ${feats:+-Z build-std-features=$feats} \
			-p connmap --bin connmap --no-default-features --target "$rtarget")
		toolchain=$NIGHTLY
		how="$NIGHTLY build-std${feats:+ ($feats)}${size_flags:+, panic=immediate-abort, no unwind tables}"
	fi
	t1=$(date +%s)
	echo "$LINK $link_flags order=${CONNMAP_ORDER:-1}" > "$bin.link"
	mkdir -p "$OUT/$arch"
	cp "$bin" "$OUT/$arch/connmap.new"
	# drop what the loader never reads (MIPS .pdr, section headers), as OpenWrt's sstrip does
	python3 "$REPO/openwrt/tools/sstrip.py" "$OUT/$arch/connmap.new" >/dev/null
	mv "$OUT/$arch/connmap.new" "$OUT/$arch/connmap"
	size=$(wc -c < "$OUT/$arch/connmap")
	printf 'toolchain=%s\nmusl=%s\n' "$toolchain" "$([ "$LINK" = dynamic ] && echo "$MUSL_VERSION" || echo "zig's")" > "$OUT/$arch/info.tools"
	printf 'arch=%s\ntarget=%s\nhow=%s\nlink=%s\nlibpcap=%s %s\nsysroot=%s\nbinary_bytes=%s\nbuild_seconds=%s\n' \
		"$arch" "$rtarget" "$how, $LINK$(case $link_flags in *relocation-model=static*) echo ", non-PIE" ;; esac)" "$LINK" "$LIBPCAP_VERSION" "$([ "$LINK" = static ] && echo static || echo shared)" \
		"$root" "$size" "$((t1 - t0))" > "$OUT/$arch/info"
	cat "$OUT/$arch/info.tools" >> "$OUT/$arch/info"
	rm "$OUT/$arch/info.tools"
	log "$arch: $size bytes ($how, $((t1 - t0)) s)"
}

# shellcheck disable=SC2086
[ $# -gt 0 ] || set -- $ALL_ARCHES
for a in "$@"; do
	arch_info "$a" >/dev/null || die "unknown arch '$a' (known: $ALL_ARCHES)"
done
for a in "$@"; do
	build_arch "$a"
done
