#!/bin/bash
# openwrt/tests/real/luci_https_test.sh — luci-app-connmap in real LuCI over HTTPS, in Chromium.
#
# Runs OpenWrt's own userland, built from the source archives by openwrt/tests/real/build.sh
# (its cache directory is named in /tmp/openwrt-userland.path, complete when READY is in it):
# ubusd, procd (not PID 1: it then only serves ubus `service`, which is what runs services),
# rpcd (file, ucode and luci plugins; logins from /etc/config/rpcd against /etc/shadow), uhttpd
# with TLS (ustream-ssl, a self-signed certificate made here) serving LuCI (ucode handler,
# luci-base + luci-mod-status + the bootstrap theme) and cgi-io, in a root directory of their
# own, in a private mount namespace, inside a router network namespace:
#
#   ns C (LAN client, Chromium)       ns R (router: the root below)        ns W
#   eth0 192.168.77.10 ─── veth ─── br-lan 192.168.77.1   wan 198.18.5.1 ── eth0 198.18.5.5
#
# The packages go in as on a router: connmap (the host build; the root has the host's libraries),
# connmap-geodb (the fixtures' test database: 198.18.0.0/15 is in Lisbon) and luci-app-connmap,
# the .ipk files of scripts/package.sh, installed by the real opkg in one command, the database
# first: the output must be clean (no unknown user, no failed ubus call), the postinst creates the
# user and starts the service through the real init script, rc.common and procd (no ujail in this
# root: the --user fallback), capturing live on br-lan (lan's status comes from a few lines of
# ucode on ubus, as netifd would publish it). Then `uci commit` + reload restarts it with
# `list remote 198.18.0.0/15`, and connmap-geodb removed and installed again restarts the running
# daemon.
# luci_https_test.mjs then drives Chromium from ns C: log in over HTTPS, Status > Connection Map
# shows "running" and the map inside LuCI with the marker of the client's traffic (read through
# cgi-io from the daemon's --json-out), no request to another origin; the service stopped, the
# view says so and shows no map; the settings form saves through rpcd/uci and procd restarts the
# daemon with the new arguments; a user without the app's ACL sees no menu entry, no view, and
# cgi-io refuses it the file.
#
# Skips (exit 0, "skip ..." and "luci_https: 0 passed, 0 failed") without root, without the
# userland build, Chromium or the browser test's npm packages. Prints ok/FAIL lines and
# "luci_https: N passed, N failed". Environment: CONNMAP_BIN (default target/debug/connmap; a
# host build is fine: the root gets the host's libraries), CHROMIUM (default /usr/bin/chromium),
# KEEP=1 keeps the work directory.
# usage: luci_https_test.sh [opkg|apk]   which package manager installs (default opkg: the .ipk
#        files, as on OpenWrt 24.10; apk: the .apk files with apk-tools 3, as on 25.12)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -uo pipefail
PM=${1:-opkg}
case $PM in opkg | apk) ;; *) echo "usage: $0 [opkg|apk]" >&2; exit 2 ;; esac

REPO=$(cd "$(dirname "$0")/../../.." && pwd)
HERE=$REPO/openwrt/tests/real
BIN=${CONNMAP_BIN:-$REPO/target/debug/connmap}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
NM=$REPO/tests/browser/node_modules

skip() {
	echo "skip luci_https: $*"
	echo "luci_https: 0 passed, 0 failed"
	exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (network and mount namespaces)"
U=$(cat /tmp/openwrt-userland.path 2>/dev/null || true)
{ [ -n "$U" ] && [ -f "$U/READY" ]; } || skip "no OpenWrt userland build (openwrt/tests/real/build.sh writes /tmp/openwrt-userland.path)"
[ -x "$CHROMIUM" ] || skip "no $CHROMIUM (apt-get install chromium)"
[ -x "$BIN" ] || skip "no $BIN (cargo build)"
[ -d "$NM/playwright-core" ] || skip "no $NM/playwright-core (tests/browser/run.sh installs it)"
for t in ip unshare nsenter openssl busybox node flock make cc; do
	command -v "$t" > /dev/null || skip "$t missing"
done

ST=$U/stage
LUCI=$U/src/luci
OWF=$U/src/openwrt
TAG=$$
W=$(mktemp -d "${TMPDIR:-/tmp}/connmap-luci-https.XXXXXX")
ROOT=$W/root
NS_R=cm-lr-$TAG NS_C=cm-lc-$TAG NS_W=cm-lw-$TAG
passed=0 failed=0
log() { printf '%s\n' "$*" >&2; }
fail_setup() {
	echo "FAIL luci_https: $*"
	[ -f "$W/out/start.log" ] && sed 's/^/     /' "$W/out/start.log" | tail -30
	echo "luci_https: $passed passed, $((failed + 1)) failed"
	exit 1
}

cleanup() {
	local p
	# the processes this test started are exactly those in its router namespace
	for p in $(ip netns pids "$NS_R" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	for p in $(ip netns pids "$NS_C" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	sleep 0.3
	ip netns del "$NS_R" 2>/dev/null
	ip netns del "$NS_C" 2>/dev/null
	ip netns del "$NS_W" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then log "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

# --- the root: OpenWrt's userland + LuCI + connmap ----------------------------------------------
mkdir -p "$ROOT"/{bin,sbin,lib,lib64,etc/config,etc/init.d,etc/rc.d,usr/bin,usr/sbin,usr/lib,usr/libexec,usr/share,www/cgi-bin,dev,proc,sys,tmp,out} "$W/out"
ln -s tmp "$ROOT/var"
cp -a "$ST/usr/." "$ROOT/usr/"
[ -d "$ST/sbin" ] && cp -a "$ST/sbin/." "$ROOT/sbin/"
[ -d "$ST/lib" ] && cp -a "$ST/lib/." "$ROOT/lib/"
find_bin() { find "$ROOT/usr" "$ROOT/sbin" "$ROOT/lib" -name "$1" \( -type f -o -type l \) 2>/dev/null | head -1; }
for b in ubusd procd rpcd uhttpd cgi-io uci ubus jshn jsonpath; do
	[ -n "$(find_bin "$b")" ] || fail_setup "the userland build has no $b"
done
# busybox for the shell and the tools OpenWrt's scripts use
cp "$(command -v busybox)" "$ROOT/bin/busybox"
for a in $("$ROOT/bin/busybox" --list); do
	[ -e "$ROOT/bin/$a" ] || [ -e "$ROOT/usr/bin/$a" ] || [ -e "$ROOT/sbin/$a" ] || [ -e "$ROOT/usr/sbin/$a" ] ||
		ln -s busybox "$ROOT/bin/$a"
done
ln -sf jsonpath "$ROOT/usr/bin/jsonfilter"
# where OpenWrt's scripts call them (uci.sh: /sbin/uci)
[ -e "$ROOT/sbin/uci" ] || ln -s "/$(realpath --relative-to="$ROOT" "$(find_bin uci)")" "$ROOT/sbin/uci"
[ -e "$ROOT/bin/ubus" ] || ln -s "/$(realpath --relative-to="$ROOT" "$(find_bin ubus)")" "$ROOT/bin/ubus"
# procd.sh locks with flock(1), which this busybox lacks: util-linux's
[ -e "$ROOT/bin/flock" ] || cp "$(command -v flock)" "$ROOT/usr/bin/flock"
[ -e "$ROOT/sbin/procd" ] || ln -s "../$(realpath --relative-to="$ROOT" "$(find_bin procd)")" "$ROOT/sbin/procd"
# OpenWrt's shell library (and uci.sh), rc.common, procd.sh
cp -a "$OWF/package/base-files/files/lib/." "$ROOT/lib/"
cp -a "$OWF/package/system/uci/files/." "$ROOT/"
cp "$OWF/package/base-files/files/etc/rc.common" "$ROOT/etc/rc.common"
mkdir -p "$ROOT/lib/functions"
cp "$OWF/package/system/procd/files/procd.sh" "$ROOT/lib/functions/procd.sh"
# LuCI as luci.mk lays it out: htdocs/ -> /www, ucode/ -> /usr/share/ucode/luci, root/ -> /
for m in modules/luci-base modules/luci-mod-status modules/luci-mod-system modules/luci-mod-admin-full \
	themes/luci-theme-bootstrap; do
	[ -d "$LUCI/$m" ] || continue
	[ -d "$LUCI/$m/htdocs" ] && cp -a "$LUCI/$m/htdocs/." "$ROOT/www/"
	[ -d "$LUCI/$m/ucode" ] && mkdir -p "$ROOT/usr/share/ucode/luci" && cp -a "$LUCI/$m/ucode/." "$ROOT/usr/share/ucode/luci/"
	[ -d "$LUCI/$m/root" ] && cp -a "$LUCI/$m/root/." "$ROOT/"
done
# luci-base's own ucode module (luci.core) and luci.version, built from its src/ as luci-base's
# Makefile does, when the userland build does not have them (cached beside it)
if [ ! -f "$ST/usr/lib/ucode/luci/core.so" ]; then
	XC="${CONNMAP_CACHE:-$HOME/.cache/connmap}/luci-https-extra-$(printf '%s' "$U" | sha256sum | cut -c1-12)"
	if [ ! -f "$XC/core.so" ]; then
		rm -rf "$XC" && mkdir -p "$XC" && cp -a "$LUCI/modules/luci-base/src" "$XC/src"
		make -C "$XC/src" CFLAGS="-O2 -I$ST/usr/include" FPIC=-fPIC LDFLAGS="-L$ST/usr/lib" \
			LUCI_VERSION=test LUCI_GITBRANCH=connmap-test compile > "$XC/build.log" 2>&1 ||
			fail_setup "luci-base's core.so: $(tail -5 "$XC/build.log")"
		cp "$XC/src/core.so" "$XC/src/version.uc" "$XC/"
	fi
	mkdir -p "$ROOT/usr/lib/ucode/luci"
	cp "$XC/core.so" "$ROOT/usr/lib/ucode/luci/core.so"
	[ -f "$ROOT/usr/share/ucode/luci/version.uc" ] || cp "$XC/version.uc" "$ROOT/usr/share/ucode/luci/version.uc"
fi
# rpcd's own ACL (session access/login for everyone), as OpenWrt's rpcd package installs it
mkdir -p "$ROOT/usr/share/rpcd/acl.d"
tar -xzOf "${OPENWRT_SRC:-/work/shared/openwrt-src}/rpcd.tar.gz" --wildcards '*/unauthenticated.json' \
	> "$ROOT/usr/share/rpcd/acl.d/unauthenticated.json" 2> /dev/null || fail_setup "rpcd's unauthenticated.json (OPENWRT_SRC)"
# rpcd loads its plugins from /usr/lib/rpcd
mkdir -p "$ROOT/usr/lib/rpcd"
[ -e "$ROOT/usr/lib/rpcd/luci.so" ] || [ ! -e "$ROOT/usr/lib/luci.so" ] || cp "$ROOT/usr/lib/luci.so" "$ROOT/usr/lib/rpcd/luci.so"
# procd preloads this for line-buffered service output
[ -e "$ROOT/lib/libsetlbf.so" ] || [ ! -e "$ROOT/usr/lib/libsetlbf.so" ] || ln -s /usr/lib/libsetlbf.so "$ROOT/lib/libsetlbf.so"
# ubusd and rpcd refuse ACL files others may write
chmod -R go-w "$ROOT/usr/share"
cgi=$(find_bin cgi-io)
for c in cgi-download cgi-upload cgi-exec cgi-backup; do ln -sf "/${cgi#"$ROOT"/}" "$ROOT/www/cgi-bin/$c"; done
# the host's shared libraries of every program in the root (the userland is built against them)
copy_libs() {
	local f l
	for f in "$@"; do
		LD_LIBRARY_PATH="$ST/usr/lib" ldd "$f" 2> /dev/null | awk '/=> \// {print $3} /^\s*\/lib/ {print $1}' | while read -r l; do
			case $l in "$ST"/*) continue ;; esac
			[ -e "$ROOT$l" ] || { mkdir -p "$ROOT$(dirname "$l")"; cp -L "$l" "$ROOT$l"; }
		done
	done
}
mapfile -t progs < <(find "$ROOT/usr" "$ROOT/sbin" "$ROOT/bin/busybox" -type f \( -perm -u+x -o -name '*.so*' \) 2> /dev/null)
copy_libs "${progs[@]}" "$BIN"
cp -L /lib64/ld-linux-x86-64.so.2 "$ROOT/lib64/" 2> /dev/null

# users, passwords (root: "rootpw", guest: "guestpw"), logins
printf 'root:x:0:0:root:/root:/bin/sh\nconnmap:x:201:201:connmap:/var/run/connmap:/bin/false\nguest:x:1000:1000:guest:/tmp:/bin/false\nnobody:x:65534:65534:nobody:/var:/bin/false\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\nconnmap:x:201:\nguest:x:1000:\nnogroup:x:65534:\n' > "$ROOT/etc/group"
{
	echo "root:$(openssl passwd -6 rootpw):19000:0:99999:7:::"
	echo "guest:$(openssl passwd -6 guestpw):19000:0:99999:7:::"
} > "$ROOT/etc/shadow"
chmod 0600 "$ROOT/etc/shadow"
printf 'passwd: files\ngroup: files\nshadow: files\n' > "$ROOT/etc/nsswitch.conf"
cat > "$ROOT/etc/config/rpcd" << 'EOF'
config rpcd
	option socket /var/run/ubus/ubus.sock
	option timeout 30

config login
	option username 'root'
	option password '$p$root'
	list read '*'
	list write '*'

config login
	option username 'guest'
	option password '$p$guest'
	list read 'unauthenticated'
	list read 'luci-base'
	list read 'luci-mod-status-index'
	list write 'luci-base'
EOF
# a logical interface for LuCI's network list (connmap itself is configured with the device)
printf "config interface 'loopback'\n\toption device 'lo'\n\toption proto 'static'\n\toption ipaddr '127.0.0.1'\n\nconfig interface 'lan'\n\toption device 'br-lan'\n\toption proto 'static'\n\toption ipaddr '192.168.77.1'\n\toption netmask '255.255.255.0'\n" > "$ROOT/etc/config/network"
: > "$ROOT/etc/config/system"

# the three packages, as scripts/package.sh makes them: connmap from the host build (its
# libraries are in the root), connmap-geodb with the fixtures' test database (198.18.0.0/15 is in
# Lisbon), luci-app-connmap
(cd "$REPO" && cargo run --quiet --example fixtures -- "$W/fixtures") > /dev/null 2>&1 || fail_setup "cargo run --example fixtures"
mkdir -p "$W/cross/x86_64" "$W/geodb" "$ROOT/pkgs"
cp "$BIN" "$W/cross/x86_64/connmap"
cp "$W/fixtures/geo.mmdb" "$W/geodb/geo.mmdb"
echo "connmap test database" > "$W/geodb/LICENSE.txt"
[ -d "$REPO/www/dist-luci" ] || (cd "$REPO" && sh www/build.sh > /dev/null 2>&1) || fail_setup "www/build.sh"
CONNMAP_CROSS="$W/cross" CONNMAP_GEODB_DIR="$W/geodb" CONNMAP_DIST="$ROOT/pkgs" CONNMAP_ZOPFLI=0 \
	"$REPO/scripts/package.sh" x86_64 > "$W/package.log" 2>&1 || fail_setup "scripts/package.sh: $(tail -3 "$W/package.log")"
# opkg as on a router, with the packages a firmware has as installed stand-ins
ln -sf "/$(realpath --relative-to="$ROOT" "$(find_bin opkg-cl)")" "$ROOT/bin/opkg"
printf 'dest root /\nlists_dir ext /var/opkg-lists\noption overlay_root /overlay\narch all 1\narch noarch 1\narch x86_64 10\n' > "$ROOT/etc/opkg.conf"
mkdir -p "$ROOT/usr/lib/opkg/info"
for p in libc libpcap1 luci-base; do
	printf 'Package: %s\nVersion: 1-r1\nStatus: install user installed\nArchitecture: %s\nInstalled-Time: 1700000000\n\n' \
		"$p" "$([ "$p" = luci-base ] && echo all || echo x86_64)"
done > "$ROOT/usr/lib/opkg/status"
for p in libc libpcap1 luci-base; do : > "$ROOT/usr/lib/opkg/info/$p.list"; done
# apk as on a router, the same stand-ins as empty packages (apk mkpkg of the userland build)
mkdir -p "$ROOT/etc/apk" "$ROOT/pkgs/stubs" "$W/empty"
echo x86_64 > "$ROOT/etc/apk/arch"
for p in libc libpcap1 luci-base; do
	"$ST/usr/bin/apk" mkpkg --info "name:$p" --info version:1.0-r1 --info "arch:$([ "$p" = luci-base ] && echo noarch || echo x86_64)" \
		--info "description:stand-in" --info license:MIT --files "$W/empty" --output "$ROOT/pkgs/stubs/$p-1.0-r1.apk" ||
		fail_setup "apk mkpkg $p"
done
# OpenWrt's busybox has `lock` (functions.sh's user_add/group_add take /var/lock/passwd with
# it); Debian's does not: a stand-in that takes no real lock (one installer at a time here)
cat > "$ROOT/bin/lock" << 'SH'
#!/bin/sh
# lock [-u] FILE: stand-in for OpenWrt busybox's applet (no lock is held)
[ "$1" = -u ] || : > "$1"
SH
chmod 0755 "$ROOT/bin/lock"
# netifd's ubus status of the lan interface, as network.sh reads it (netifd itself is not needed)
cat > "$ROOT/netifd-lan.uc" << 'UC'
'use strict';
import * as ubus from 'ubus';
import * as uloop from 'uloop';
uloop.init();
const conn = ubus.connect();
const lan = { interface: 'lan', up: true, pending: false, available: true, proto: 'static',
	device: 'br-lan', l3_device: 'br-lan', 'ipv4-address': [ { address: '192.168.77.1', mask: 24 } ],
	'ipv6-address': [], 'ipv6-prefix': [], 'ipv6-prefix-assignment': [], route: [], 'dns-server': [],
	'dns-search': [], data: {} };
conn.publish('network.interface', { dump: { call: () => ({ interface: [ lan ] }), args: {} } });
conn.publish('network.interface.lan', { status: { call: () => lan, args: {} } });
uloop.run();
UC

# TLS: a self-signed certificate for the router
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=router.lan \
	-keyout "$ROOT/etc/uhttpd.key" -out "$ROOT/etc/uhttpd.crt" > /dev/null 2>&1 || fail_setup "openssl req"

# what runs inside the root, in the router's namespace
cat > "$ROOT/start.sh" << 'EOF'
#!/bin/sh
# started by luci_https_test.sh in the router namespace, chrooted; logs to /out/start.log
exec >> /out/start.log 2>&1
mount -t proc proc /proc
mount -t tmpfs tmpfs /tmp
mkdir -p /tmp/run/ubus /tmp/lock /tmp/luci-sessions /tmp/etc
echo $$ > /out/start.pid
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
syslogd -n -O /out/messages &
ubusd -s /var/run/ubus/ubus.sock &
for i in 1 2 3 4 5 6 7 8 9 10; do [ -S /var/run/ubus/ubus.sock ] && break; sleep 0.2; done
procd -S &
ucode /netifd-lan.uc &
rpcd -s /var/run/ubus/ubus.sock &
sleep 1
# LuCI's and the theme's uci-defaults, once, as base-files runs them at first boot
for f in /etc/uci-defaults/*; do [ -f "$f" ] && (cd /etc/uci-defaults && . "$f") && rm -f "$f"; done
uhttpd -f -h /www -r router -x /cgi-bin -u /ubus -t 60 -T 30 -n 3 -N 100 -q \
	-p 192.168.77.1:80 -s 192.168.77.1:443 -C /etc/uhttpd.crt -K /etc/uhttpd.key \
	-o /cgi-bin/luci -O /usr/share/ucode/luci/uhttpd.uc &
sleep 1
echo started
wait
EOF
chmod 0755 "$ROOT/start.sh"

# --- the network --------------------------------------------------------------------------------
{ ip netns add "$NS_R" && ip netns add "$NS_C" && ip netns add "$NS_W"; } || fail_setup "ip netns add"
ip link add "lr$TAG" type veth peer name "lc$TAG" || fail_setup "veth"
ip link set "lc$TAG" netns "$NS_C"
ip link set "lr$TAG" netns "$NS_R"
ip link add "wr$TAG" type veth peer name "ww$TAG"
ip link set "ww$TAG" netns "$NS_W"
ip link set "wr$TAG" netns "$NS_R"
ipr() { ip -n "$NS_R" "$@"; }
ipr link set lo up
ipr link add br-lan type bridge
ipr link set "lr$TAG" master br-lan up
ipr addr add 192.168.77.1/24 dev br-lan
ipr link set br-lan up
ipr link set "wr$TAG" name wan
ipr addr add 198.18.5.1/24 dev wan
ipr link set wan up
ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
ip -n "$NS_C" link set lo up
ip -n "$NS_C" link set "lc$TAG" name eth0
ip -n "$NS_C" addr add 192.168.77.10/24 dev eth0
ip -n "$NS_C" link set eth0 up
ip -n "$NS_C" route add default via 192.168.77.1
ip -n "$NS_W" link set lo up
ip -n "$NS_W" link set "ww$TAG" name eth0
ip -n "$NS_W" addr add 198.18.5.5/24 dev eth0
ip -n "$NS_W" link set eth0 up
ip -n "$NS_W" route add default via 198.18.5.1

# --- boot the router's userland ----------------------------------------------------------------
# shellcheck disable=SC2016
ip netns exec "$NS_R" unshare -m --propagation private sh -c '
	root=$1
	mount --bind "$2" "$root/out"
	mount -t tmpfs -o mode=0755 dev "$root/dev"
	for n in null zero random urandom tty full; do : > "$root/dev/$n"; mount --bind "/dev/$n" "$root/dev/$n"; done
	exec chroot "$root" /bin/sh /start.sh' sh "$ROOT" "$W/out" > /dev/null 2>&1 &
disown
for _ in $(seq 1 100); do
	grep -q '^started' "$W/out/start.log" 2> /dev/null && break
	sleep 0.2
done
grep -q '^started' "$W/out/start.log" 2> /dev/null || fail_setup "the router's userland did not start"
SPID=$(cat "$W/out/start.pid")
# a shell command inside the router's root (its mount and network namespaces)
rexec() { nsenter -t "$SPID" -m -n -- chroot "$ROOT" /bin/sh -c "PATH=/usr/sbin:/usr/bin:/sbin:/bin; $1"; }
result() { # name status [detail]
	if [ "$2" -eq 0 ]; then
		echo "ok   luci_https ($PM): $1"
		passed=$((passed + 1))
	else
		echo "FAIL luci_https ($PM): $1"
		[ -z "${3:-}" ] || printf '%s\n' "$3" | head -20 | sed 's/^/     /'
		failed=$((failed + 1))
	fi
}
svc() { rexec "ubus call service list '{\"name\":\"connmap\"}'" 2> /dev/null; }
pid_of() { svc | sed -n 's/.*"pid": \([0-9]*\).*/\1/p' | head -1; }
wait_running() { # [text the command line must have]
	for _ in $(seq 1 60); do
		svc | grep -q '"running": true' && svc | grep -q -- "${1:-connmap}" && return 0
		sleep 0.25
	done
	return 1
}
clean_output() { ! grep -Eiq 'unknown user|unknown group|command failed|not found|error' "$1"; }

# --- install: all three in one command, the database first ------------------------------------
if [ "$PM" = opkg ]; then
	install_cmd="opkg install /pkgs/connmap-geodb_*_all.ipk /pkgs/connmap_*_x86_64.ipk /pkgs/luci-app-connmap_*_all.ipk"
	remove_geodb="opkg remove connmap-geodb"
	install_geodb="opkg install /pkgs/connmap-geodb_*_all.ipk"
else
	rexec "apk add --initdb --allow-untrusted --no-network /pkgs/stubs/*.apk" > "$W/apk0.log" 2>&1 ||
		fail_setup "apk: the stand-in packages: $(cat "$W/apk0.log")"
	install_cmd="apk add --allow-untrusted --no-network /pkgs/all/connmap-geodb-*.apk /pkgs/x86_64/connmap-*.apk /pkgs/all/luci-app-connmap-*.apk"
	remove_geodb="apk del --no-network connmap-geodb"
	install_geodb="apk add --allow-untrusted --no-network /pkgs/all/connmap-geodb-*.apk"
fi
rexec "$install_cmd" > "$W/install1.log" 2>&1
rc=$?
clean_output "$W/install1.log"
result "$PM installs connmap-geodb, connmap and luci-app-connmap in one command, output clean" $((rc | $?)) "$(cat "$W/install1.log")"
wait_running "/var/run/connmap/markers.json"
ok=1
grep -q '^connmap:' "$ROOT/etc/passwd" && [ -e "$ROOT/etc/rc.d/S95connmap" ] && svc | grep -q '"--user"' && ok=0
result "postinst: user connmap created, service enabled and running under procd (--user: no ujail here), --json-out for LuCI" \
	$ok "$(svc; ls "$ROOT/etc/rc.d")"
# the test's network: count the "WAN" benchmark range as remote, snapshots every second
rexec "uci set connmap.main.interval=1; uci add_list connmap.main.remote=198.18.0.0/15; uci commit connmap; /etc/init.d/connmap reload" > "$W/reload.log" 2>&1
wait_running 198.18.0.0/15
result "uci commit + reload: procd restarts the daemon with the new arguments" $? "$(svc; cat "$W/reload.log")"

# --- the database installed after the daemon: the running daemon is restarted to use it --------
rexec "$remove_geodb" > "$W/install2.log" 2>&1
pid1=$(pid_of)
rexec "$install_geodb" >> "$W/install2.log" 2>&1
rc=$?
sleep 1
wait_running
pid2=$(pid_of)
ok=1
[ "$rc" = 0 ] && [ -n "$pid2" ] && [ "$pid1" != "$pid2" ] && clean_output "$W/install2.log" && ok=0
result "$PM: connmap-geodb installed after connmap restarts the running daemon (pid $pid1 -> $pid2), output clean" $ok "$(cat "$W/install2.log")"

# --- the browser --------------------------------------------------------------------------------
export NODE_PATH=$NM
PM=$PM RPID=$SPID ROOTDIR=$ROOT OUT=$W/out CHROMIUM=$CHROMIUM ARTIFACTS=$REPO/tests/artifacts \
	ip netns exec "$NS_C" node "$HERE/luci_https_test.mjs" 2>&1 | tee "$W/browser.log" | grep -E '^(ok|FAIL|skip|     )'
res=$(sed -nE 's/^luci_https: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$W/browser.log" | tail -1)
if [ -z "$res" ]; then
	echo "FAIL luci_https: the browser test ended without a result"
	tail -20 "$W/browser.log" | sed 's/^/     /'
	failed=$((failed + 1))
else
	passed=$((passed + ${res% *})) failed=$((failed + ${res#* }))
fi
[ "$failed" -eq 0 ] || { echo "     router log:"; tail -25 "$W/out/messages" 2> /dev/null | sed 's/^/     /'; }
echo "luci_https: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
