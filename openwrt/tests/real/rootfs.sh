#!/bin/bash
# openwrt/tests/real/rootfs.sh — lays out an OpenWrt-like root filesystem for the real-userland
# rig from what build.sh built (its cache directory) and the host:
#   busybox (Debian's busybox-static, every applet linked), OpenWrt's base-files and the
#   procd/rpcd/uhttpd/uci/opkg/apk files from openwrt-files, the glibc-linked OpenWrt binaries
#   where OpenWrt installs them, their libraries (and glibc's loader), Debian's dnsmasq, LuCI
#   (luci-base, mod-status/system/admin-full, bootstrap; laid out as luci.mk does), and, for the
#   packaged musl binary, musl's loader + libpcap.so.1 from scripts/cross-build.sh's sysroot.
# usage: rootfs.sh USERLAND_DIR SYSROOT_DIR ROOT PM
#   PM: opkg (OpenWrt <= 24.10: /bin/opkg, /usr/lib/opkg) or apk (25.12: /usr/bin/apk,
#   /lib/apk/db) — the root gets only that package manager, as the releases do.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

U=$1 SYSROOT=$2 R=$3 PM=$4
S=$U/stage
OW=$U/src/openwrt/package
LUCI=$U/src/luci

mkdir -p "$R"
cd "$R"
mkdir -p bin sbin lib lib64 usr/bin usr/sbin usr/lib usr/libexec usr/share etc/config etc/init.d \
	etc/rc.d proc sys dev tmp root www/cgi-bin overlay rom lib/x86_64-linux-gnu
ln -sfn /tmp var

# busybox: every applet as a link, like OpenWrt's busybox package
install -m0755 /bin/busybox bin/busybox
/bin/busybox --list-full | while read -r a; do
	[ -e "$a" ] || ln -s /bin/busybox "$a"
done
ln -sf busybox bin/ash

# OpenWrt's files
cp -a "$OW/base-files/files/." .
cp "$OW/system/procd/files/procd.sh" lib/functions/procd.sh
cp "$OW/system/procd/files/service" sbin/service
cp "$OW/system/procd/files/reload_config" sbin/reload_config
chmod 0755 sbin/service sbin/reload_config
mkdir -p etc/hotplug.d usr/share/libubox lib/config etc/uci-defaults
cp "$OW/system/procd/files/hotplug.json" "$OW/system/procd/files/hotplug-preinit.json" etc/
cp "$OW/system/uci/files/lib/config/uci.sh" lib/config/uci.sh
cp "$S/usr/share/libubox/jshn.sh" usr/share/libubox/jshn.sh
install -m0755 "$OW/system/rpcd/files/rpcd.init" etc/init.d/rpcd
install -m0600 "$OW/system/rpcd/files/rpcd.config" etc/config/rpcd
install -m0755 "$OW/network/services/uhttpd/files/uhttpd.init" etc/init.d/uhttpd
install -m0644 "$OW/network/services/uhttpd/files/uhttpd.config" etc/config/uhttpd
# uhttpd-mod-ubus (luci-base depends on it): its uci-defaults set `ubus_prefix /ubus`, i.e.
# `uhttpd -u /ubus`. LuCI needs it for more than its JSON-RPC: the ubus plugin's init ends with
# uloop_done(), which drops the event loop the ucode handler's ubus connection (LuCI's
# dispatcher connects when uhttpd loads it; libubus's connect runs uloop_init()) was added to.
# Without it uhttpd's main process keeps polling that shared connection and reads the replies
# meant for the forked request handler: every /cgi-bin/luci request hangs.
install -m0755 "$OW/network/services/uhttpd/files/ubus.default" etc/uci-defaults/00_uhttpd_ubus
# rpcd's own ACL, as OpenWrt's rpcd package installs it: `session access` and `login` for every
# session. LuCI's views check their ACLs with it through /ubus (without it: "RPC call to
# session/access failed with error -32002: Access denied", the view never loads)
mkdir -p usr/share/rpcd/acl.d
tar -xzOf "${OPENWRT_SRC:-/work/shared/openwrt-src}/rpcd.tar.gz" --wildcards '*/unauthenticated.json' \
	> usr/share/rpcd/acl.d/unauthenticated.json
chmod 0644 usr/share/rpcd/acl.d/unauthenticated.json
# no ledtriggers, gpios, sysfixtime on a test root; keep boot, done, sysctl? (sysctl writes the
# host's /proc/sys of the router namespace: net.* only, harmless, but not needed) -> off
rm -f etc/init.d/led etc/init.d/gpio_switch etc/init.d/sysfixtime etc/init.d/sysctl etc/init.d/umount
# device names and users of a default image: ubus, dnsmasq, ...
cat >> etc/passwd << 'EOF'
ubus:*:81:81:ubus:/var/run/ubus:/bin/false
dnsmasq:*:453:453:dnsmasq:/var:/bin/false
EOF
cat >> etc/group << 'EOF'
ubus:x:81:
dnsmasq:x:453:
EOF
chmod 0600 etc/shadow

# the OpenWrt binaries, where OpenWrt installs them
for b in procd init ubusd ujail uxc askfirst upgraded; do install -m0755 "$S/usr/sbin/$b" "sbin/$b"; done
install -m0755 "$S/usr/sbin/rpcd" sbin/rpcd
install -m0755 "$S/usr/bin/uci" sbin/uci
install -m0755 "$S/usr/bin/ubus" bin/ubus
install -m0755 "$S/usr/bin/jshn" usr/bin/jshn
install -m0755 "$S/usr/bin/jsonpath" usr/bin/jsonfilter
for b in ucode ucc utpl; do install -m0755 "$S/usr/bin/$b" "usr/bin/$b"; done
install -m0755 "$S/usr/bin/uhttpd" usr/sbin/uhttpd
install -m0755 "$S/usr/sbin/cgi-io" usr/libexec/cgi-io
for c in cgi-upload cgi-download cgi-backup cgi-exec; do ln -sf ../../usr/libexec/cgi-io "www/cgi-bin/$c"; done
case $PM in
opkg)
	install -m0755 "$S/usr/bin/opkg-cl" bin/opkg
	mkdir -p usr/lib/opkg/info etc/opkg
	cp "$OW/system/opkg/files/opkg.conf" etc/opkg.conf
	# what the image build writes for the target (include/rootfs.mk)
	printf 'arch all 1\narch noarch 1\narch x86_64 10\n' > etc/opkg/arch.conf
	: > usr/lib/opkg/status
	;;
apk)
	install -m0755 "$S/usr/bin/apk" usr/bin/apk
	mkdir -p lib/apk/db etc/apk/keys etc/apk/repositories.d
	: > etc/apk/world
	echo x86_64 > etc/apk/arch
	: > etc/apk/repositories
	;;
esac
# the libraries (OpenWrt keeps them in /lib and /usr/lib; glibc's loader finds them through
# /etc/ld.so.cache, made below), plugins and modules
cp -a "$S"/usr/lib/*.so* usr/lib/
mkdir -p usr/lib/rpcd usr/lib/ucode
cp -a "$S"/usr/lib/rpcd/*.so usr/lib/rpcd/
mv usr/lib/luci.so usr/lib/rpcd/luci.so
cp -a "$S"/usr/lib/ucode/*.so usr/lib/ucode/
mv usr/lib/libpreload-seccomp.so lib/
# procd preloads /lib/libsetlbf.so (line-buffered stdout) into services that log their output.
# Its libc must be the service's: OpenWrt has one libc, this root has two (glibc for the tools,
# musl for the package). A build without any DT_NEEDED resolves setvbuf/stdout from whichever
# libc the process already has.
rm -f usr/lib/libsetlbf.so
printf '#include <stdio.h>\nstatic void __attribute__((constructor)) lbf(void) { setvbuf(stdout, 0, _IOLBF, 0); }\n' |
	gcc -x c -O2 -fPIC -shared -nostdlib -o lib/libsetlbf.so -
# udevtrigger would write "add" into every uevent file of the host's /sys: a no-op here
printf '#!/bin/sh\nexit 0\n' > sbin/udevtrigger
# what base-files' boot calls and a container does not have
for b in kmodloader mount_root wifi; do printf '#!/bin/sh\nexit 0\n' > "sbin/$b"; done
chmod 0755 sbin/udevtrigger sbin/kmodloader sbin/mount_root sbin/wifi

# Debian's dnsmasq (the DHCP server whose lease file connmap reads)
install -m0755 /usr/sbin/dnsmasq usr/sbin/dnsmasq
# OpenWrt's busybox has `flock` (procd.sh) and its own `lock` applet (functions.sh's user_add,
# group_add): util-linux's flock and a stand-in for `lock` built on it
[ -e usr/bin/flock ] || install -m0755 "$(command -v flock)" usr/bin/flock
rm -f bin/lock
cat > bin/lock << 'EOF'
#!/bin/sh
# stand-in for OpenWrt busybox's `lock [-s|-u|-w] FILE`: holds an flock(2) on FILE from a
# background process until `lock -u FILE`
case "$1" in
-u) [ -s "$2.holder" ] && kill "$(cat "$2.holder")" 2> /dev/null; rm -f "$2.holder"; exit 0 ;;
-w) exec flock "$2" true ;;
-s) f=$2 o=-s ;;
*) f=$1 o=-x ;;
esac
touch "$f"
rm -f "$f.holder"
flock "$o" "$f" sh -c 'echo $$ > "$1.holder"; exec sleep 2147483647' sh "$f" < /dev/null > /dev/null 2>&1 &
while [ ! -s "$f.holder" ]; do sleep 0.05; done
EOF
chmod 0755 bin/lock

# glibc and the libraries of every glibc binary
ELFS=$(find bin sbin usr lib -type f \( -perm -u+x -o -name '*.so*' \) -exec sh -c 'head -c4 "$1" | grep -q ELF && echo "$1"' sh {} \;)
for e in $ELFS; do
	{ LD_LIBRARY_PATH="$R/usr/lib" ldd "$e" 2> /dev/null || true; } | awk '/=> \//{print $3} /^\s*\/lib64/{print $1}'
done | sort -u | while read -r l; do
	case $l in "$R"/*) continue ;; esac
	case $l in
	*/ld-linux-x86-64.so.2) cp -L "$l" lib64/ld-linux-x86-64.so.2 ;;
	*) cp -L "$l" "lib/x86_64-linux-gnu/$(basename "$l")" ;;
	esac
done
cp -L /lib64/ld-linux-x86-64.so.2 lib64/
# nsswitch for glibc's getpwnam (ujail binds it into jails when built with glibc)
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' > etc/nsswitch.conf
printf '/lib/x86_64-linux-gnu\n/usr/lib\n' > etc/ld.so.conf
ldconfig -r "$R" 2> /dev/null || ldconfig -r "$R"

# musl, for the package's binary: the loader, /lib/libc.so as OpenWrt has it, libpcap.so.1
install -m0755 "$SYSROOT/lib/libc.so" lib/ld-musl-x86_64.so.1
ln -sf ld-musl-x86_64.so.1 lib/libc.so
cp -L "$SYSROOT"/lib/libpcap.so.1 usr/lib/libpcap.so.1 2> /dev/null ||
	cp -L "$(find "$SYSROOT" -name 'libpcap.so.1*' | head -1)" usr/lib/libpcap.so.1

# LuCI, laid out as luci.mk does: htdocs -> /www, ucode -> /usr/share/ucode/luci, root -> /
for m in modules/luci-base modules/luci-mod-status modules/luci-mod-system modules/luci-mod-admin-full \
	themes/luci-theme-bootstrap; do
	d=$LUCI/$m
	[ ! -d "$d/htdocs" ] || cp -a "$d/htdocs/." www/
	[ ! -d "$d/ucode" ] || { mkdir -p usr/share/ucode/luci && cp -a "$d/ucode/." usr/share/ucode/luci/; }
	[ ! -d "$d/root" ] || cp -a "$d/root/." .
done
# package files are not group-writable on OpenWrt (ubusd skips ACL files that are: "wrong
# permissions"); LuCI's sources are
chmod -R go-w usr/share www
# luci-base's own ucode module (luci.core: C, with its lemon-made plural parser) and luci.version,
# made the way luci-base's src/Makefile makes them (a few seconds; from the cached source)
lb=$(mktemp -d)
cp -a "$LUCI/modules/luci-base/src/." "$lb/"
make -s -C "$lb" core.so version.uc CC=gcc FPIC=-fPIC CFLAGS="-O2 -I$S/usr/include" \
	LDFLAGS="-L$S/usr/lib" LUCI_VERSION=rig LUCI_GITBRANCH=rig > /dev/null
mkdir -p usr/lib/ucode/luci
install -m0755 "$lb/core.so" usr/lib/ucode/luci/core.so
install -m0644 "$lb/version.uc" usr/share/ucode/luci/version.uc
rm -rf "$lb"
# luci-base's postinst sets uhttpd's ucode handler (applied at boot by the uci-defaults)
cat > etc/uci-defaults/99-luci-uhttpd << 'EOF'
uci -q batch << 'EOT'
delete uhttpd.main.ucode_prefix
add_list uhttpd.main.ucode_prefix='/cgi-bin/luci=/usr/share/ucode/luci/uhttpd.uc'
delete uhttpd.main.lua_prefix
commit uhttpd
EOT
EOF
# the OpenWrt release the root mimics (package managers read nothing from it; LuCI shows it)
echo "$PM" > etc/connmap-rig-pm
find . -name '*.orig' -delete
