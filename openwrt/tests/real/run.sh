#!/bin/bash
# openwrt/tests/real/run.sh — connmap's packages under OpenWrt's REAL userland (procd as PID 1,
# ujail, ubus, uci, rpcd, uhttpd + LuCI, opkg, apk-tools 3), built from the source archives by
# build.sh (cached) and laid out by rootfs.sh. Run as root from anywhere.
#
#  ns LAN1 (udhcpc)  ─┐                      router ns: procd (PID 1 of its own PID, mount, UTS,
#  ns LAN2 (udhcpc)  ─┴─ veth ── br-lan 192.168.1.1   IPC namespaces), dnsmasq (DHCP, Debian's),
#                                wan 198.18.5.1 ── veth ── ns WAN 198.18.5.5/.6/.7 (HTTP, DNS,
#                                                          UDP sink; `list remote 198.18.0.0/15`)
#
# The router forwards between LAN and WAN (no NAT); connmap captures br-lan. Every check prints
# "ok"/"FAIL"; the last line is "real: N passed, N failed". Without the source archives it prints
# "skip ..." and counts nothing. Traffic stays inside the namespaces made here.
# Environment: OPENWRT_SRC (archives), CONNMAP_CACHE, CONNMAP_CROSS (x86_64 build; made with
# scripts/cross-build.sh x86_64 when missing), CONNMAP_REAL_KEEP=1 (leave the rig up for a look),
# CONNMAP_REAL_LUCI=0 or CONNMAP_SKIP_BROWSER=1 (skip LuCI in Chromium: login, menu, map view,
# settings saved and applied; it needs node, chromium and tests/browser's npm packages).
# Router-side command lines are single-quoted on purpose (they expand in the router's shell);
# functions given to check/wait_for run indirectly:
# shellcheck disable=SC2016,SC2317,SC2015
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
CROSS=${CONNMAP_CROSS:-$REPO/build/cross}
W=$(mktemp -d "${TMPDIR:-/tmp}/connmap-real.XXXXXX")
N=cm$$ # namespace prefix
LAN=192.168.1
passed=0 failed=0
PID1=""
t_start=$(date +%s)

ok() { echo "ok   real: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL real: $1"; shift; [ $# -eq 0 ] || printf '     %s\n' "$@"; failed=$((failed + 1)); }
check() { # name command...: ok when the command succeeds; its output shown on failure
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$(printf '%s\n' "$out" | tail -15)"; fi
}
finish() {
	echo "real OpenWrt suite took $(($(date +%s) - t_start)) s"
	echo "real: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

# --- the router: boot, run commands inside, shut down ----------------------------------------
in_r() { # command line run by the router's shell, in all of procd's namespaces
	nsenter -t "$PID1" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root /bin/sh -c "$*"
}
boot() { # root directory
	local root=$1 _
	cat > "$W/stage1.sh" << 'EOF'
set -e
R=$1
mount --make-rprivate /
mount --bind "$R" "$R"
mount -t proc proc "$R/proc"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t tmpfs -o mode=0755,size=64m tmpfs "$R/dev"
for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
	IFS=: read -r n ma mi << E
$d
E
	mknod -m 0666 "$R/dev/$n" c "$ma" "$mi"
done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777,size=128m tmpfs "$R/tmp"
mkdir -p "$R/.oldroot"
cd "$R"
pivot_root . .oldroot
exec /bin/busybox sh -c 'umount -l /.oldroot; rmdir /.oldroot; exec env -i container=lxc PATH=/usr/sbin:/usr/bin:/sbin:/bin /sbin/init'
EOF
	ip netns exec "$N-r" unshare --pid --mount --uts --ipc --fork sh "$W/stage1.sh" "$root" \
		> "$W/console.log" 2>&1 &
	local ush=$!
	for _ in $(seq 1 50); do
		PID1=$(awk '{print $1}' "/proc/$ush/task/$ush/children" 2> /dev/null)
		[ -n "$PID1" ] && break
		sleep 0.1
	done
	# booted when rcS has run (procd's state "running") and ubus answers
	for _ in $(seq 1 120); do
		in_r 'ubus call system board >/dev/null 2>&1 && [ -e /tmp/.boot-done ]' 2> /dev/null && return 0
		sleep 0.5
	done
	echo "router did not finish booting; console:" >&2
	tail -20 "$W/console.log" >&2
	return 1
}
shutdown_router() {
	[ -n "$PID1" ] || return 0
	kill -KILL "$PID1" 2> /dev/null # PID 1 of its namespace: everything in it dies with it
	for _ in $(seq 1 50); do [ -d "/proc/$PID1" ] || break; sleep 0.1; done
	PID1=""
}
cleanup() {
	[ "${CONNMAP_REAL_KEEP:-0}" = 1 ] && { echo "note kept: $W, namespaces $N-*, router PID $PID1"; return; }
	shutdown_router
	local p
	[ -f "$W/wan.pids" ] && while read -r p; do kill "$p" 2> /dev/null; done < "$W/wan.pids"
	for n in r lan1 lan2 wan; do ip netns del "$N-$n" 2> /dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- 0. the userland ---------------------------------------------------------------------------
U=$("$HERE/build.sh" 2> "$W/build.err")
rc=$?
if [ $rc -eq 77 ]; then
	echo "skip real OpenWrt userland: $(tail -1 "$W/build.err")"
	echo "real: 0 passed, 0 failed"
	exit 0
elif [ $rc -ne 0 ]; then
	bad "build OpenWrt userland from ${OPENWRT_SRC:-/work/shared/openwrt-src} (build.sh)" "$(tail -15 "$W/build.err")"
	finish
fi
ok "OpenWrt userland built from the archives ($U)"

# --- 1. packages: the x86_64 build, a test geodb, stub base packages --------------------------
if [ ! -x "$CROSS/x86_64/connmap" ]; then
	CONNMAP_CROSS=$CROSS CONNMAP_OUT=$CROSS "$REPO/scripts/cross-build.sh" x86_64 > "$W/cross.log" 2>&1 ||
		{ bad "x86_64 cross build" "$(tail -10 "$W/cross.log")"; finish; }
fi
SYSROOT=$(sed -n 's/^sysroot=//p' "$CROSS/x86_64/info")
(cd "$REPO" && cargo run -q --example fixtures -- "$W/fx") > "$W/fx.log" 2>&1 ||
	{ bad "test database (cargo run --example fixtures)" "$(tail -5 "$W/fx.log")"; finish; }
# connmap-geodb's install takes the database's licence notice beside it
echo "connmap test database" > "$W/fx/LICENSE.txt"
D=$W/dist
CONNMAP_CROSS=$CROSS CONNMAP_DIST=$D CONNMAP_GEODB_DIR=$W/fx CONNMAP_ZOPFLI=0 \
	"$REPO/scripts/package.sh" x86_64 > "$W/pkg.log" 2>&1 || { bad "package.sh x86_64" "$(tail -10 "$W/pkg.log")"; finish; }
APK=$U/stage/usr/bin/apk
IPKG_BUILD=$U/src/openwrt/scripts/ipkg-build
mkdir -p "$W/stubs"
for s in "libc:x86_64" "libpcap1:x86_64" "luci-base:all"; do
	p=${s%%:*} a=${s#*:}
	mkdir -p "$W/stub-$p/CONTROL"
	printf 'Package: %s\nVersion: 1.0-r1\nArchitecture: %s\nMaintainer: rig\nSection: base\nDescription: stand-in (the rig provides it)\n' \
		"$p" "$a" > "$W/stub-$p/CONTROL/control"
	bash "$IPKG_BUILD" -m "" "$W/stub-$p" "$W/stubs" > /dev/null 2>> "$W/stubs.log" || bad "ipkg-build stub $p" "$(tail -3 "$W/stubs.log")"
	mkdir -p "$W/stubfiles-$p"
	"$APK" mkpkg --info "name:$p" --info "version:1.0-r1" --info "arch:$([ "$a" = all ] && echo noarch || echo x86_64)" \
		--info "description:stand-in" --info "license:MIT" --files "$W/stubfiles-$p" --output "$W/stubs/$p-1.0-r1.apk" \
		>> "$W/stubs.log" 2>&1 || bad "apk mkpkg stub $p" "$(tail -3 "$W/stubs.log")"
done
IPK=$(ls "$D"/connmap_*_x86_64.ipk) GEO_IPK=$(ls "$D"/connmap-geodb_*_all.ipk) LUCI_IPK=$(ls "$D"/luci-app-connmap_*_all.ipk)
APKS=("$D"/x86_64/connmap-*.apk "$D"/all/connmap-geodb-*.apk "$D"/all/luci-app-connmap-*.apk)

# --- 2. the network ------------------------------------------------------------------------------
for n in r lan1 lan2 wan; do ip netns add "$N-$n"; done
rx() { ip netns exec "$N-r" "$@"; }
rx ip link add br-lan type bridge
rx ip link set lo up
for c in 1 2; do
	rx ip link add "lan$c" type veth peer name eth0 netns "$N-lan$c"
	rx ip link set "lan$c" master br-lan up
	ip netns exec "$N-lan$c" ip link set lo up
	ip netns exec "$N-lan$c" ip link set eth0 address "02:00:00:00:00:0$c" up
done
rx ip addr add "$LAN.1/24" dev br-lan
rx ip link set br-lan up
rx ip link add wan type veth peer name eth0 netns "$N-wan"
rx ip addr add 198.18.5.1/24 dev wan
rx ip link set wan up
rx sysctl -qw net.ipv4.ip_forward=1
wx() { ip netns exec "$N-wan" "$@"; }
wx ip link set lo up
wx ip link set eth0 up
for a in 5 6 7; do wx ip addr add "198.18.5.$a/24" dev eth0; done
wx ip route add "$LAN.0/24" via 198.18.5.1
# WAN services: HTTP on .5 and .6, DNS on .5 (map.example.test -> .6), a UDP sink on .7
wx python3 -m http.server 80 --bind 0.0.0.0 --directory "$W" > /dev/null 2>&1 &
echo $! > "$W/wan.pids"
wx dnsmasq -k -C /dev/null --no-resolv --no-hosts --port=53 --listen-address=198.18.5.5 --bind-interfaces \
	--address=/map.example.test/198.18.5.6 --pid-file="$W/wan-dns.pid" > /dev/null 2>&1 &
echo $! >> "$W/wan.pids"
wx python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("198.18.5.7",5000))
while True: s.recv(2048)' > /dev/null 2>&1 &
echo $! >> "$W/wan.pids"

# udhcpc's script for the LAN clients (busybox from Debian)
cat > "$W/udhcpc.sh" << 'EOF'
#!/bin/sh
case "$1" in bound | renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	ip route replace default via "$router" dev "$interface" ;;
esac
EOF
chmod +x "$W/udhcpc.sh"
lease() { # client [hostname]
	ip netns exec "$N-$1" busybox udhcpc -i eth0 -n -q -f -t 10 -T 1 -s "$W/udhcpc.sh" ${2:+-x "hostname:$2"} > "$W/udhcpc-$1.log" 2>&1
}
lan_ip() { ip netns exec "$N-$1" ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1; }

# --- 3. the router's root ----------------------------------------------------------------------
make_root() { # dir pm
	"$HERE/rootfs.sh" "$U" "$SYSROOT" "$1" "$2" > "$W/rootfs.log" 2>&1 || { tail -20 "$W/rootfs.log"; return 1; }
	local R=$1
	# the router's settings
	cat > "$R/etc/config/network" << EOF
config interface 'loopback'
	option device 'lo'
	option proto 'static'
	option ipaddr '127.0.0.1'
	option netmask '255.0.0.0'

config device
	option name 'br-lan'
	option type 'bridge'

config interface 'lan'
	option device 'br-lan'
	option proto 'static'
	option ipaddr '$LAN.1'
	option netmask '255.255.255.0'
EOF
	cat > "$R/etc/config/system" << 'EOF'
config system
	option hostname 'OpenWrt'
	option timezone 'UTC'
EOF
	# static host name for LAN2 (renamed by the test with uci)
	cat > "$R/etc/config/dhcp" << 'EOF'
config dnsmasq
	option leasefile '/tmp/dhcp.leases'

config host 'printer'
	option name 'printer'
	option mac '02:00:00:00:00:02'
EOF
	# netifd's stand-in and Debian's dnsmasq as procd services
	install -m0644 "$HERE/netifd-standin.uc" "$R/usr/share/netifd-standin.uc"
	cat > "$R/etc/init.d/network" << 'EOF'
#!/bin/sh /etc/rc.common
# the rig's stand-in for netifd (network.interface on ubus; see netifd-standin.uc)
START=20
USE_PROCD=1
start_service() {
	procd_open_instance
	procd_set_param command /usr/bin/ucode /usr/share/netifd-standin.uc
	procd_set_param watch network.interface
	procd_set_param respawn
	procd_close_instance
}
EOF
	cat > "$R/etc/init.d/dnsmasq" << EOF
#!/bin/sh /etc/rc.common
# the rig's DHCP server: Debian's dnsmasq with OpenWrt's lease file
START=19
USE_PROCD=1
start_service() {
	touch /tmp/dhcp.leases
	procd_open_instance
	procd_set_param command /usr/sbin/dnsmasq -k -C /dev/null --no-resolv --no-hosts --port=0 \\
		--interface=br-lan --bind-interfaces --dhcp-range=$LAN.100,$LAN.199,12h \\
		--dhcp-leasefile=/tmp/dhcp.leases --pid-file=/var/run/dnsmasq.pid --user=root
	procd_set_param respawn
	procd_close_instance
}
EOF
	cat > "$R/etc/init.d/zz-rig-done" << 'EOF'
#!/bin/sh /etc/rc.common
# tells the rig that rcS has run
START=99
boot() { touch /tmp/.boot-done; }
EOF
	cat > "$R/etc/preinit" << 'EOF'
#!/bin/sh
# the rig's preinit: the root is mounted already; procd's init goes on to procd
exit 0
EOF
	# the daemon's pid (under ujail, procd names the ujail process "connmap" too)
	cat > "$R/usr/bin/rig-cmpid" << 'EOF'
#!/bin/sh
for p in $(pidof connmap); do
	[ "$(readlink "/proc/$p/exe")" = /usr/sbin/connmap ] && { echo "$p"; exit 0; }
done
exit 1
EOF
	chmod 0755 "$R/usr/bin/rig-cmpid"
	cat > "$R/etc/init.d/log" << 'EOF'
#!/bin/sh /etc/rc.common
# logd is not among the archives: busybox syslogd (ring buffer for logread) stands in
START=12
USE_PROCD=1
start_service() {
	procd_open_instance
	procd_set_param command /sbin/syslogd -n -C256
	procd_close_instance
}
EOF
	chmod 0755 "$R"/etc/init.d/*
	# enable what the image has enabled
	for s in "$R"/etc/init.d/*; do
		in_root_enable "$R" "$(basename "$s")"
	done
}
in_root_enable() { # root service: as rc.common's enable does (S<START><name> links)
	local st
	st=$(sed -n 's/^START=//p' "$1/etc/init.d/$2" | head -1)
	[ -n "$st" ] && ln -sf "../init.d/$2" "$1/etc/rc.d/S$st$2"
	return 0
}

markers() { ip netns exec "$N-lan1" curl -s --max-time 5 "http://$LAN.1:8090/markers.json"; }
cm_pid() { in_r rig-cmpid 2> /dev/null; }
wait_for() { # seconds command...
	local t=$1 _
	shift
	for _ in $(seq 1 $((t * 4))); do "$@" > /dev/null 2>&1 && return 0; sleep 0.25; done
	"$@"
}
service_running() { in_r "ubus call service list '{\"name\":\"connmap\"}'" | grep -q '"running": true'; }

# --- 4. the opkg router (OpenWrt <= 24.10) ----------------------------------------------------
R1=$W/root-opkg
if ! make_root "$R1" opkg > "$W/mk1.log" 2>&1; then
	bad "root filesystem (rootfs.sh)" "$(tail -10 "$W/mk1.log")"
	finish
fi
if ! boot "$R1" 2> "$W/boot1.log"; then
	bad "boot procd as PID 1 (opkg root)" "$(tail -15 "$W/boot1.log")"
	finish
fi
ok "procd booted as PID 1 (host pid $PID1): ubus, rcS, netifd stand-in, dnsmasq"
check "network_get_device lan = br-lan (network.sh through ubus)" \
	in_r '. /lib/functions.sh; . /lib/functions/network.sh; network_get_device d lan && [ "$d" = br-lan ]'

# install in one go, in the order users type it (geodb before connmap: the hard case)
cp "$W"/stubs/*.ipk "$IPK" "$GEO_IPK" "$LUCI_IPK" "/proc/$PID1/root/tmp/"
in_r 'cd /tmp && opkg install ./libc_*.ipk ./libpcap1_*.ipk ./luci-base_*.ipk' > "$W/opkg0.log" 2>&1
in_r "cd /tmp && opkg install ./$(basename "$GEO_IPK") ./$(basename "$IPK") ./$(basename "$LUCI_IPK")" > "$W/opkg.log" 2>&1
rc=$?
if [ $rc -eq 0 ] && ! grep -qiE 'error|unknown user|failed|not found|collected errors' "$W/opkg.log"; then
	ok "opkg install connmap-geodb connmap luci-app-connmap: clean output"
else
	bad "opkg install connmap-geodb connmap luci-app-connmap: clean output (exit $rc)" "$(cat "$W/opkg.log")"
fi
check "postinst created user connmap" in_r 'grep -q "^connmap:" /etc/passwd && grep -q "^connmap:" /etc/group'
check "postinst enabled the service (/etc/rc.d/S95connmap)" in_r '[ -L /etc/rc.d/S95connmap ]'
check "ubus call service list: connmap instance running" wait_for 10 service_running

# configure the rig's WAN as remote, a short interval: reload -> the instance restarts with them
old=$(cm_pid)
# (through rpcd's uci object, as LuCI's Save & Apply does: its commit sends procd the
# config.change event. The `reload_config` command would not notice a config file that did not
# exist when it last ran, e.g. at boot before the package was installed.)
in_r "ubus call uci set '{\"config\":\"connmap\",\"section\":\"main\",\"values\":{\"interval\":\"1\",\"remote\":[\"198.18.0.0/15\"]}}' && ubus call uci commit '{\"config\":\"connmap\"}'" > "$W/reload.log" 2>&1
reloaded() { in_r 'tr "\0" " " < /proc/$(rig-cmpid)/cmdline' | grep -q -- '--remote 198.18.0.0/15'; }
check "uci set + commit (rpcd) -> reload trigger: instance restarted with --remote 198.18.0.0/15" wait_for 15 reloaded
new=$(cm_pid)
[ -n "$new" ] && [ "$new" != "$old" ] && ok "reload: new process ($old -> $new)" || bad "reload: new process ($old -> $new)"

# --- least privilege: ujail -------------------------------------------------------------------
jail_report() {
	in_r 'p=$(rig-cmpid) || { echo "no connmap process"; exit 1; }
		s=/proc/$p/status
		echo "uid $(awk "/^Uid:/{print \$2}" $s) user $(awk -F: -v u=$(awk "/^Uid:/{print \$2}" $s) "\$3==u{print \$1}" /etc/passwd)"
		echo "CapEff $(awk "/^CapEff:/{print \$2}" $s) CapPrm $(awk "/^CapPrm:/{print \$2}" $s) CapBnd $(awk "/^CapBnd:/{print \$2}" $s) NoNewPrivs $(awk "/^NoNewPrivs:/{print \$2}" $s)"
		pp=$(awk "/^PPid:/{print \$2}" $s)
		echo "parent $(readlink /proc/$pp/exe)"
		a=$(readlink /proc/$p/ns/pid); b=$(readlink /proc/1/ns/pid); c=$(readlink /proc/$p/ns/mnt); d=$(readlink /proc/1/ns/mnt)
		pn=shared; mn=shared; [ "$a" = "$b" ] || pn=own; [ "$c" = "$d" ] || mn=own
		echo "pidns $pn mntns $mn"
		echo "tmp $(ls -d /proc/$p/root/tmp 2>/dev/null || echo none)"'
}
jr=$(jail_report 2>&1)
printf '%s\n' "$jr" | while read -r l; do echo "     $l"; done
case "$jr" in
*"user connmap"*) ok "process runs as user connmap" ;;
*) bad "process runs as user connmap" "$jr" ;;
esac
# CAP_NET_RAW is bit 13: 0x2000
case "$jr" in
*"CapEff 0000000000002000 CapPrm 0000000000002000 CapBnd 0000000000002000 NoNewPrivs 1"*) ok "CapEff = CapPrm = CapBnd = CAP_NET_RAW only, NoNewPrivs 1" ;;
*) bad "CapEff exactly CAP_NET_RAW" "$jr" ;;
esac
case "$jr" in
*"parent /sbin/ujail"*"pidns own mntns own"*) ok "inside ujail: parent /sbin/ujail, own PID and mount namespaces" ;;
*) bad "inside ujail's namespaces" "$jr" ;;
esac

# --- live traffic from two LAN clients through the router ---------------------------------------
lease lan1 laptop || bad "DHCP lease for LAN1 (udhcpc)" "$(cat "$W/udhcpc-lan1.log")"
IP1=$(lan_ip lan1)
ip netns exec "$N-lan1" curl -s --max-time 5 -o /dev/null http://198.18.5.5/ || true
ip netns exec "$N-lan1" busybox nslookup map.example.test 198.18.5.5 > "$W/dns.log" 2>&1 || true
# names pair a LAN host with a remote: LAN1 also talks to the address it looked up
ip netns exec "$N-lan1" curl -s --max-time 5 -o /dev/null http://198.18.5.6/ || true
ip netns exec "$N-lan1" python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
for _ in range(5): s.sendto(b"x"*100, ("198.18.5.7", 5000))'
# LAN2's lease appears after the daemon started; its static name is in /etc/config/dhcp
lease lan2 || bad "DHCP lease for LAN2 (udhcpc)" "$(cat "$W/udhcpc-lan2.log")"
IP2=$(lan_ip lan2)
ip netns exec "$N-lan2" curl -s --max-time 5 -o /dev/null http://198.18.5.6/ || true
in_r "cat /tmp/dhcp.leases" > "$W/leases"
echo "     leases: $(tr '\n' ';' < "$W/leases")"
judge() { # python check of markers.json on stdin; args: ip1 ip2 expected-name-of-ip2
	python3 -c '
import json, sys
m = json.load(sys.stdin); ip1, ip2, name2 = sys.argv[1:4]
hosts = {h["ip"]: h for h in m["hosts"]}
mk = {x["ip"]: x for x in m["markers"]}
def need(c, what):
    if not c: print("missing:", what); sys.exit(1)
need(ip1 in hosts and hosts[ip1]["name"] == "laptop", "host %s named laptop (lease) %s" % (ip1, hosts.get(ip1)))
need(ip2 in hosts and hosts[ip2]["name"] == name2, "host %s named %s %s" % (ip2, name2, hosts.get(ip2)))
a, b, c = mk.get("198.18.5.5"), mk.get("198.18.5.6"), mk.get("198.18.5.7")
need(a and a["hosts"] == [ip1] and 80 in a["ports"] and 53 in a["ports"] and set(a["protocols"]) == {"tcp", "udp"}, "198.18.5.5: tcp/80 + udp/53 from LAN1 %s" % a)
need(b and sorted(b["hosts"]) == sorted([ip1, ip2]) or (b and ip2 in b["hosts"]), "198.18.5.6: from LAN2 %s" % b)
need(c and c["hosts"] == [ip1] and c["packets_out"] == 5 and c["bytes_out"] == 5 * 142 and c["protocols"] == ["udp"], "198.18.5.7: exactly 5 UDP packets, 710 bytes %s" % c)
need(a["city"] == "Lisbon" and a["lat"] is not None, "location from connmap-geodb %s" % a)
print("ok", len(hosts), "hosts", len(mk), "markers")
' "$@"
}
markers_ok() { markers | judge "$IP1" "$IP2" printer; }
check "markers.json from LAN1 on $LAN.1:8090: hosts, names (lease + static), TCP/UDP/DNS, exact UDP counters, Lisbon" wait_for 15 markers_ok
dns_name() { markers | python3 -c 'import json,sys; m=json.load(sys.stdin); x=[k for k in m["markers"] if k["ip"]=="198.18.5.6"]; sys.exit(0 if x and "map.example.test" in x[0].get("names",[]) else 1)'; }
check "name of 198.18.5.6 learned from the DNS answer (map.example.test)" wait_for 5 dns_name

# rename LAN2's static host with uci (the file is replaced by rename) -> the new name shows
in_r "uci set dhcp.printer.name='printer-2'; uci commit dhcp; reload_config" > "$W/rename.log" 2>&1
renamed() { ip netns exec "$N-lan2" curl -s --max-time 3 -o /dev/null http://198.18.5.6/; markers | judge "$IP1" "$IP2" printer-2; }
check "uci commit dhcp + reload_config (rename) shows inside the jail: LAN2 is now printer-2" wait_for 20 renamed

# --- alerts: a hook of /etc/connmap/alert.d, run by the jailed daemon as user connmap, and the
# ubus event connmap.alert through the real ubusd (the package's ACL lets user connmap send it),
# from LAN1's live traffic to an address of a block list
mkdir -p "$R1/etc/connmap/alert.d"
cat > "$R1/etc/connmap/alert.d/50-rig" << 'HOOK'
#!/bin/sh
# the rig's alert hook: one syslog line per alert (/dev/log is in the jail), with who ran it
logger -t connmap-rig-hook "uid=$(id -u) mnt=$(readlink /proc/self/ns/mnt) rule=$CONNMAP_RULE device=$CONNMAP_DEVICE_IP remote=$CONNMAP_REMOTE_IP list=$CONNMAP_LIST"
HOOK
chmod 0755 "$R1/etc/connmap/alert.d/50-rig"
printf '# the rig: one address LAN1 has not talked to yet\n198.18.5.8\n' > "$R1/etc/connmap/rig-block.netset"
in_r 'ubus listen connmap.alert > /tmp/rig-alert-listen.log 2>&1 &'
old=$(cm_pid)
# a reload with the new list restarts the daemon (the hook would also run without it: the
# directory is in the jail and read at each alert; tests/alerts.rs checks a hook added later)
in_r "uci add_list connmap.main.blocklist=/etc/connmap/rig-block.netset; uci commit connmap; /etc/init.d/connmap reload" > "$W/alert-reload.log" 2>&1
with_list() { p=$(cm_pid) && [ "$p" != "$old" ] && in_r "tr '\\0' ' ' < /proc/$p/cmdline" | grep -q -- '--blocklist /etc/connmap/rig-block.netset'; }
check "block list + hook: reload restarts the jailed daemon with --blocklist" wait_for 15 with_list
ip netns exec "$N-lan1" python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
for _ in range(3): s.sendto(b"x"*100, ("198.18.5.8", 5000))'
hooked() { in_r 'logread' | grep 'connmap-rig-hook' | grep -q 'rule=blocklist .*remote=198.18.5.8'; }
if wait_for 20 hooked; then
	line=$(in_r 'logread' | grep 'connmap-rig-hook' | grep 'rule=blocklist' | tail -1)
	cuid=$(in_r 'id -u connmap') dmnt=$(in_r 'readlink /proc/$(rig-cmpid)/ns/mnt') rmnt=$(in_r 'readlink /proc/1/ns/mnt')
	echo "     hook: ${line#*connmap-rig-hook}"
	case "$line" in
	*"uid=$cuid mnt=$dmnt "*)
		if [ "$dmnt" != "$rmnt" ]; then
			ok "alert hook ran for the block-list hit (LAN1 -> 198.18.5.8) as user connmap (uid $cuid) in the daemon's jail (its mount namespace)"
		else
			bad "alert hook inside the jail" "daemon mnt $dmnt = router mnt $rmnt"
		fi
		;;
	*) bad "alert hook ran as user connmap ($cuid) in the daemon's jail ($dmnt)" "$line" ;;
	esac
else
	bad "alert hook in /etc/connmap/alert.d ran for the block-list hit" "$(in_r 'logread | grep -i -E "connmap|jail" | tail -12')"
fi
evented() {
	local ev
	ev=$(in_r 'cat /tmp/rig-alert-listen.log')
	case "$ev" in *'"connmap.alert"'*) ;; *) return 1 ;; esac
	case "$ev" in *'"rule":"blocklist"'*) ;; *) return 1 ;; esac
	case "$ev" in *'"ip":"198.18.5.8"'*) ;; *) return 1 ;; esac
}
if wait_for 10 evented; then
	ok "ubus listen connmap.alert (real ubusd) got the event: $(in_r 'tr -d "\n\t" < /tmp/rig-alert-listen.log' | cut -c1-150)"
else
	bad "ubus listen connmap.alert got the event" "$(in_r 'cat /tmp/rig-alert-listen.log; logread | grep -i ubus | tail -5')"
fi
in_r 'kill $(pidof ubus) 2>/dev/null'

# --- LuCI in Chromium (from LAN1): root sees Status -> Connection Map with markers; a user
# without the app's ACL does not
luci_setup() { # the root directory is the router's /: edited from here
	local h g
	h=$(openssl passwd -1 rig-root-pw) g=$(openssl passwd -1 rig-guest-pw)
	sed -i "s|^root:[^:]*:|root:$h:|" "$R1/etc/shadow"
	echo 'guest:x:1000:1000:guest:/var:/bin/false' >> "$R1/etc/passwd"
	echo 'guest:x:1000:' >> "$R1/etc/group"
	echo "guest:$g:0:0:99999:7:::" >> "$R1/etc/shadow"
	cat >> "$R1/etc/config/rpcd" << 'EOF'

config login
	option username 'guest'
	option password '$p$guest'
	list read 'unauthenticated'
	list read 'luci-mod-status-index'
EOF
	in_r '/etc/init.d/rpcd restart; /etc/init.d/uhttpd restart'
}
if [ "${CONNMAP_REAL_LUCI:-1}" = 0 ] || [ "${CONNMAP_SKIP_BROWSER:-0}" = 1 ]; then
	echo "skip real: LuCI in Chromium (CONNMAP_REAL_LUCI=0 or CONNMAP_SKIP_BROWSER=1)"
elif [ -d "$REPO/tests/browser/node_modules/playwright-core" ] && command -v node > /dev/null && [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
	luci_setup > "$W/luci-setup.log" 2>&1
	wait_for 4 ip netns exec "$N-lan1" curl -sf -m 3 -o /dev/null "http://$LAN.1/cgi-bin/luci/" > /dev/null 2>&1
	SHOT=$W/luci.png RPID=$PID1 timeout 150 ip netns exec "$N-lan1" node "$HERE/luci.mjs" "http://$LAN.1" rig-root-pw guest rig-guest-pw > "$W/luci.log" 2>&1
	grep -E '^(ok|FAIL) |^     ' "$W/luci.log"
	lp=$(sed -nE 's/^luci: ([0-9]+) passed, ([0-9]+) failed/\1/p' "$W/luci.log")
	lf=$(sed -nE 's/^luci: ([0-9]+) passed, ([0-9]+) failed/\2/p' "$W/luci.log")
	if [ -z "$lp" ]; then bad "LuCI in Chromium: no result" "$(tail -10 "$W/luci.log")"; else passed=$((passed + lp)) failed=$((failed + lf)); fi
else
	bad "LuCI in Chromium: needs node, chromium and tests/browser's npm packages (npm ci there)"
fi

# --- service life ----------------------------------------------------------------------------------
old=$(cm_pid)
in_r "kill -9 $old"
respawned() { p=$(cm_pid); [ -n "$p" ] && [ "$p" != "$old" ]; }
check "kill -9 -> procd respawns the daemon" wait_for 15 respawned
rx ip link set br-lan down
gone() { [ -z "$(cm_pid)" ]; }
check "br-lan down -> interface trigger: the instance stops (lan is not up)" wait_for 15 gone
rx ip link set br-lan up
check "br-lan up -> interface trigger: the instance starts again" wait_for 15 service_running
check "sysupgrade -l keeps /etc/config/connmap (conffile)" in_r 'sysupgrade -l 2>/dev/null | grep -qx /etc/config/connmap'

# --- removal ------------------------------------------------------------------------------------
in_r 'opkg remove luci-app-connmap connmap-geodb connmap' > "$W/remove.log" 2>&1
rc=$?
grep -qiE 'error|failed' "$W/remove.log" && rc=1
[ $rc -eq 0 ] && ok "opkg remove: clean output" || bad "opkg remove: clean output" "$(cat "$W/remove.log")"
nocm() { ! in_r rig-cmpid && ! in_r 'ubus call service list "{\"name\":\"connmap\"}"' | grep -q '"running": true'; }
check "after removal: no connmap process, no running instance" wait_for 10 nocm
leftover=$(in_r 'find /usr/sbin/connmap /etc/init.d/connmap /etc/capabilities/connmap.json /usr/share/connmap /www/luci-static/resources/view/connmap /usr/share/luci/menu.d/luci-app-connmap.json /usr/share/rpcd/acl.d/luci-app-connmap.json ! -type d 2>/dev/null; ls /etc/rc.d | grep connmap')
[ -z "$leftover" ] && ok "after removal: no package file left" || bad "after removal: no package file left" "$leftover"
echo "     empty directories left: $(in_r 'for d in /usr/share/connmap /www/luci-static/resources/view/connmap; do [ -d $d ] && printf "%s " $d; done')"
echo "     left by design: $(in_r 'ls -d /etc/config/connmap* /var/lib/connmap 2>/dev/null | tr "\n" " "; grep -c "^connmap:" /etc/passwd | sed "s/^/passwd entries: /"')"
shutdown_router

# --- 5. the apk router (OpenWrt 25.12) -----------------------------------------------------------
R2=$W/root-apk
if make_root "$R2" apk > "$W/mk2.log" 2>&1 && boot "$R2" 2> "$W/boot2.log"; then
	ok "procd booted the apk root (host pid $PID1)"
	cp "$W"/stubs/*.apk "${APKS[@]}" "/proc/$PID1/root/tmp/"
	in_r 'cd /tmp && apk add --allow-untrusted ./libc-*.apk ./libpcap1-*.apk ./luci-base-*.apk' > "$W/apk0.log" 2>&1
	in_r "cd /tmp && apk add --allow-untrusted $(for f in "${APKS[@]}"; do printf './%s ' "$(basename "$f")"; done)" > "$W/apk.log" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && ! grep -qiE 'error|unknown user|failed|not found' "$W/apk.log"; then
		ok "apk add connmap connmap-geodb luci-app-connmap (real apk-tools 3): clean output"
	else
		bad "apk add (real apk-tools 3): clean output (exit $rc)" "$(cat "$W/apk.log" "$W/apk0.log")"
	fi
	check "apk: user connmap, enabled, running" wait_for 10 in_r 'grep -q "^connmap:" /etc/passwd && [ -L /etc/rc.d/S95connmap ] && ubus call service list "{\"name\":\"connmap\"}" | grep -q "\"running\": true"'
	# (luci-app-connmap's postinst reloads the daemon just started: read a settled process)
	jailed() { jr=$(jail_report 2>&1) && case "$jr" in *"user connmap"*"CapEff 0000000000002000"*"parent /sbin/ujail"*) ;; *) false ;; esac; }
	if wait_for 10 jailed; then ok "apk: jailed as connmap with CAP_NET_RAW only"; else bad "apk: jailed as connmap with CAP_NET_RAW only" "$jr"; fi
	in_r "uci set connmap.main.interval=2; uci commit connmap" # a changed conffile is kept
	check "apk: sysupgrade -l keeps /etc/config/connmap" in_r 'sysupgrade -l 2>/dev/null | grep -qx /etc/config/connmap'
	in_r 'apk del luci-app-connmap connmap-geodb connmap' > "$W/apkdel.log" 2>&1
	check "apk del: no process, no package file left" in_r '! rig-cmpid && ! ls /usr/sbin/connmap /etc/init.d/connmap /etc/rc.d/S95connmap 2>/dev/null'
	shutdown_router
else
	bad "boot the apk root" "$(tail -10 "$W/mk2.log" "$W/boot2.log")"
fi

finish
