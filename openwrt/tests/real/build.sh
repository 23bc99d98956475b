#!/bin/bash
# openwrt/tests/real/build.sh — builds OpenWrt's own userland from the source archives in
# ${OPENWRT_SRC:-/work/shared/openwrt-src} (see its README.md and MANIFEST.tsv) for the
# real-OpenWrt test rig (openwrt/tests/real/run.sh), linked against the host's glibc:
#   libubox, ubus, uci, jsonfilter, procd (+ ujail, seccomp), opkg-lede, apk-tools 3 (meson),
#   ucode (fs uci ubus math struct log uloop io socket), rpcd (file, rpcsys, ucode plugins),
#   ustream-ssl (openssl), uhttpd (ubus, ucode, TLS), lucihttp, ucode-mod-html,
#   libnl-tiny + rpcd-mod-luci, cgi-io,
# and keeps, beside them, OpenWrt's base-files/procd/rpcd/uhttpd/... files and the LuCI tree.
#
# The result goes to ${CONNMAP_CACHE:-~/.cache/connmap}/openwrt-userland-<hash>, the hash taken
# over MANIFEST.tsv and this script: a second run finds it and does nothing. When the whole set
# is built, <dir>/READY exists and the directory's path is written to /tmp/openwrt-userland.path.
# Layout of <dir>: stage/ (DESTDIR of every build: stage/usr/{bin,sbin,lib,include,share}),
# src/openwrt (openwrt-files), src/luci (the LuCI subset), build.log.
#
# Exit status: 0 built (or cached; the path is printed), 77 the sources are missing (the
# caller reports "skip"), anything else a build error (the tail of build.log is printed).
# Needs (Debian; openwrt/tests/deps.sh installs them): cmake meson ninja-build pkg-config
# libjson-c-dev libssl-dev zlib1g-dev libcrypt-dev gcc.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

SRC=${OPENWRT_SRC:-/work/shared/openwrt-src}
CACHE=${CONNMAP_CACHE:-$HOME/.cache/connmap}
JOBS=${JOBS:-2}
SELF=$(readlink -f "$0")

if [ ! -f "$SRC/MANIFEST.tsv" ]; then
	echo "build: no OpenWrt source archives at $SRC (MANIFEST.tsv missing); set OPENWRT_SRC" >&2
	exit 77
fi
HASH=$(cat "$SRC/MANIFEST.tsv" "$SELF" | sha256sum | cut -c1-12)
OUT="$CACHE/openwrt-userland-$HASH"

publish() {
	printf '%s\n' "$OUT" > /tmp/openwrt-userland.path
	echo "$OUT"
}
if [ -f "$OUT/READY" ]; then
	publish
	exit 0
fi

mkdir -p "$CACHE"
exec 9> "$CACHE/openwrt-userland.lock"
flock 9 # one build at a time; a second caller waits and then finds READY
if [ -f "$OUT/READY" ]; then
	publish
	exit 0
fi

for t in cmake meson ninja pkg-config gcc; do
	command -v "$t" > /dev/null || { echo "build: $t missing (openwrt/tests/deps.sh installs it)" >&2; exit 1; }
done

rm -rf "$OUT"
mkdir -p "$OUT/src" "$OUT/work"
ST="$OUT/stage"
W="$OUT/work"
LOG="$OUT/build.log"
: > "$LOG"
on_exit() {
	local rc=$?
	[ $rc -eq 0 ] || { echo "build: failed (exit $rc); last lines of $LOG:" >&2; tail -40 "$LOG" >&2; }
}
trap on_exit EXIT

log() { printf 'build: %s\n' "$*" | tee -a "$LOG" >&2; }

export PKG_CONFIG_PATH="$ST/usr/lib/pkgconfig:$ST/usr/share/pkgconfig"
BASE_CFLAGS="-O2 -g0 -I$ST/usr/include -D_GNU_SOURCE"
BASE_LDFLAGS="-L$ST/usr/lib -Wl,-rpath-link,$ST/usr/lib"

# glibc 2.36 has no strlcpy (2.38 has): procd and rpcd get it from here
cat > "$W/compat-strlcpy.h" << 'EOF'
#ifndef COMPAT_STRLCPY_H
#define COMPAT_STRLCPY_H
#include <string.h>
static inline size_t strlcpy(char *d, const char *s, size_t n)
{
	size_t l = strlen(s);
	if (n) {
		size_t c = l >= n ? n - 1 : l;
		memcpy(d, s, c);
		d[c] = 0;
	}
	return l;
}
#endif
EOF
# procd includes <udebug.h> of openwrt/udebug (not among the archives): libubox's udebug plus a
# no-op udebug_ubus_init (procd then runs without a udebug service, as when udebugd is absent)
mkdir -p "$W/udebug"
cat > "$W/udebug/udebug.h" << 'EOF'
#ifndef UDEBUG_STUB_H
#define UDEBUG_STUB_H
#include <stdbool.h>
#include <libubox/udebug.h>
#include <libubus.h>
struct udebug_ubus { int unused; };
static inline void udebug_ubus_init(struct udebug_ubus *ctx, struct ubus_context *ubus, const char *service,
	void (*cb)(struct udebug_ubus *ctx, struct blob_attr *data, bool enabled))
{
	(void)ctx; (void)ubus; (void)service; (void)cb;
}
#endif
EOF

unpack() { # name -> $W/<name>/<top dir>
	mkdir -p "$W/$1"
	tar -xzf "$SRC/$1.tar.gz" -C "$W/$1"
	local d
	d=$(find "$W/$1" -mindepth 1 -maxdepth 1 -type d | head -1)
	# gcc 12 warnings must not stop the build of code written for OpenWrt's toolchains
	# (and rpcd-mod-luci's CMakeLists asks for CMake 3.31 without using anything Debian's 3.25 lacks)
	find "$d" -name CMakeLists.txt -exec sed -i -E -e 's/-Werror(=[a-z-]+)?//g' \
		-e 's/cmake_minimum_required\(VERSION [0-9.]+\)/cmake_minimum_required(VERSION 3.10)/I' {} +
	echo "$d"
}

cmake_build() { # name srcdir [extra cflags] -- cmake args...
	local name=$1 dir=$2 cflags=$3
	shift 3
	log "$name (cmake)"
	local b="$W/build-$name"
	# jsonfilter (lemon) and procd (make_syscall_h.sh) run generators by paths relative to the
	# build directory: they build in their source tree
	case $name in jsonfilter | procd) b=$dir ;; esac
	(
		cmake -S "$dir" -B "$b" -DCMAKE_BUILD_TYPE=None -DCMAKE_INSTALL_PREFIX=/usr \
			-DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_PREFIX_PATH="$ST/usr" -DCMAKE_FIND_ROOT_PATH="$ST" \
			-DCMAKE_C_FLAGS="$BASE_CFLAGS $cflags" -DCMAKE_EXE_LINKER_FLAGS="$BASE_LDFLAGS" \
			-DCMAKE_SHARED_LINKER_FLAGS="$BASE_LDFLAGS" -DCMAKE_MODULE_LINKER_FLAGS="$BASE_LDFLAGS" \
			-Wno-dev "$@"
		cmake --build "$b" -j "$JOBS"
		DESTDIR="$ST" cmake --install "$b"
	) >> "$LOG" 2>&1
}

t0=$(date +%s)
log "sources $SRC -> $OUT"

d=$(unpack libubox)
cmake_build libubox "$d" "" -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF
d=$(unpack ubus)
cmake_build ubus "$d" "" -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF
d=$(unpack uci)
cmake_build uci "$d" "" -DBUILD_LUA=OFF
d=$(unpack jsonfilter)
cmake_build jsonfilter "$d" ""
d=$(unpack procd)
# libudebug does not exist here: link libubox (which has udebug's buffer code) in its place
cmake_build procd "$d" "-I$W/udebug -include $W/compat-strlcpy.h" -DJAIL_SUPPORT=ON -DSECCOMP_SUPPORT=ON \
	-DUTRACE_SUPPORT=OFF -Dudebug="$ST/usr/lib/libubox.so" -Dudebug_include_dir="$W/udebug"
d=$(unpack opkg-lede)
cmake_build opkg "$d" "" -DBUILD_TESTS=OFF -DENABLE_USIGN=OFF -DSTATIC_UBOX=OFF
d=$(unpack ucode)
cmake_build ucode "$d" "" -DFS_SUPPORT=ON -DUCI_SUPPORT=ON -DUBUS_SUPPORT=ON -DMATH_SUPPORT=ON \
	-DSTRUCT_SUPPORT=ON -DLOG_SUPPORT=ON -DULOOP_SUPPORT=ON -DIO_SUPPORT=ON -DSOCKET_SUPPORT=ON \
	-DRTNL_SUPPORT=OFF -DNL80211_SUPPORT=OFF -DRESOLV_SUPPORT=OFF -DDEBUG_SUPPORT=OFF \
	-DZLIB_SUPPORT=OFF -DDIGEST_SUPPORT=OFF
d=$(unpack rpcd)
cmake_build rpcd "$d" "-include $W/compat-strlcpy.h" -DFILE_SUPPORT=ON -DRPCSYS_SUPPORT=ON \
	-DUCODE_SUPPORT=ON -DIWINFO_SUPPORT=OFF
# rpcd's plugin headers, as OpenWrt's Build/InstallDev stages them (rpcd-mod-luci includes them)
mkdir -p "$ST/usr/include/rpcd"
cp "$d"/include/rpcd/*.h "$ST/usr/include/rpcd/"
d=$(unpack ustream-ssl)
cmake_build ustream-ssl "$d" "" -DMBEDTLS=OFF -DWOLFSSL=OFF
d=$(unpack uhttpd)
cmake_build uhttpd "$d" "" -DTLS_SUPPORT=ON -DLUA_SUPPORT=OFF -DUBUS_SUPPORT=ON -DUCODE_SUPPORT=ON
d=$(unpack lucihttp)
cmake_build lucihttp "$d" "" -DBUILD_LUA=OFF -DBUILD_UCODE=ON -DBUILD_TESTS=OFF
d=$(unpack libnl-tiny)
cmake_build libnl-tiny "$d" ""
d=$(unpack cgi-io)
cmake_build cgi-io "$d" ""

# LuCI subset: ucode-mod-html and rpcd-mod-luci are built from it; its files are kept for the root
luci=$(unpack luci)
log "ucode-mod-html"
mkdir -p "$ST/usr/lib/ucode"
# shellcheck disable=SC2086
gcc $BASE_CFLAGS -fPIC -Wall -shared -o "$ST/usr/lib/ucode/html.so" \
	"$luci/contrib/package/ucode-mod-html/src/html.c" $BASE_LDFLAGS >> "$LOG" 2>&1
iw=$(unpack iwinfo)
cmake_build rpcd-mod-luci "$luci/libs/rpcd-mod-luci/src" \
	"-I$ST/usr/include/libnl-tiny -I$iw/include" -DLIBNL_LIBS=-lnl-tiny

d=$(unpack apk-tools)
log "apk-tools (meson)"
(
	cd "$d"
	unset VERSION # get-version.sh: the archive's VERSION file
	CFLAGS="$BASE_CFLAGS" LDFLAGS="$BASE_LDFLAGS" meson setup "$W/build-apk" --prefix=/usr \
		--libdir=lib -Ddocs=disabled -Dhelp=disabled -Dlua=disabled -Dpython=disabled \
		-Dtests=disabled -Durl_backend=wget -Dzstd=disabled -Dcrypto_backend=openssl \
		-Ddefault_library=static
	ninja -C "$W/build-apk" -j "$JOBS"
	DESTDIR="$ST" meson install -C "$W/build-apk"
) >> "$LOG" 2>&1

# the files OpenWrt installs beside the binaries, and the LuCI tree (for the root filesystem)
log "OpenWrt files and LuCI"
tar -xzf "$SRC/openwrt-files.tar.gz" -C "$OUT/src"
mv "$OUT/src"/openwrt* "$OUT/src/openwrt.tmp" && mv "$OUT/src/openwrt.tmp" "$OUT/src/openwrt"
mv "$luci" "$OUT/src/luci"

cp "$SRC/MANIFEST.tsv" "$OUT/MANIFEST.tsv"
rm -rf "$W"
log "done in $(($(date +%s) - t0)) s"
touch "$OUT/READY"
publish
