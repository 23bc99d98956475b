#!/bin/sh
# openwrt/tests/init_test.sh — exercises openwrt/connmap/files/connmap.init against a shim of
# the procd / UCI / network.sh shell functions that records the instance definition, and
# checks that UCI options map to the right command line and that `enabled 0` starts nothing.
# Runs under the host's POSIX sh (dash, close to busybox ash). Prints "ok"/"FAIL" lines and
# a final "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/connmap-init.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# the init script and UCI file as the packages install them: their marks of defaults filled
# from src/defaults.conf, the init script without its comment lines (scripts/fill-defaults.sh,
# as openwrt/connmap/Makefile runs it)
fill() { sh "$HERE/../../scripts/fill-defaults.sh" "$HERE/../../src/defaults.conf" ${3:+"$3"} < "$1" > "$2" || exit 1; }
INIT="$TMP/connmap.init.filled"
DEFAULT_CONFIG="$TMP/connmap.config"
fill "$HERE/../connmap/files/connmap.init" "$INIT" --shell
fill "$HERE/../connmap/files/connmap.config" "$DEFAULT_CONFIG" ""
pass=0
fail=0

# --- the shim ---------------------------------------------------------------------------------
cat > "$TMP/shim.sh" <<'SHIM'
# procd: record the instance as "key=value" lines, argument lists joined with "|"
procd_open_instance() { echo "open_instance" >> "$LOG"; _cmd=""; }
procd_set_param() {
	_k=$1; shift
	_v=$(printf '%s|' "$@"); _v=${_v%|}
	if [ "$_k" = command ]; then _cmd=$_v; else echo "param $_k=$_v" >> "$LOG"; fi
}
procd_append_param() {
	_k=$1; shift
	_v=$(printf '%s|' "$@"); _v=${_v%|}
	if [ "$_k" = command ]; then _cmd="$_cmd|$_v"; else echo "param+ $_k=$_v" >> "$LOG"; fi
}
procd_close_instance() { echo "command=$_cmd" >> "$LOG"; echo "close_instance" >> "$LOG"; }
procd_add_reload_trigger() { echo "reload_trigger $*" >> "$LOG"; }
procd_add_jail() { echo "jail $*" >> "$LOG"; }
procd_add_jail_mount() { echo "jail_mount $*" >> "$LOG"; }
procd_add_jail_mount_rw() { echo "jail_mount_rw $*" >> "$LOG"; }
procd_add_reload_interface_trigger() { echo "interface_trigger $*" >> "$LOG"; }
logger() { echo "logger $*" >> "$LOG"; }
mkdir() { echo "mkdir $*" >> "$LOG"; }
chown() { echo "chown $*" >> "$LOG"; }

# UCI: config files are shell syntax; read them the way functions.sh reads `uci export`
config() { _sec=$2; }
option() { eval "CONFIG_${_sec}_$1=\$2"; }
list() {
	eval "_n=\${CONFIG_${_sec}_$1_LENGTH:-0}"
	_n=$((_n + 1))
	eval "CONFIG_${_sec}_$1_LENGTH=$_n; CONFIG_${_sec}_$1_ITEM$_n=\$2"
}
config_load() { . "$UCI_DIR/$1"; }
config_get() {
	# config_get var section option [default]
	eval "_isset=\${CONFIG_$2_$3+x}"
	if [ -n "$_isset" ]; then eval "$1=\$CONFIG_$2_$3"; else eval "$1=\${4:-}"; fi
}
config_get_bool() {
	config_get _b "$2" "$3" "${4:-}"
	case "$_b" in
	1 | on | true | yes | enabled) _b=1 ;;
	0 | off | false | no | disabled) _b=0 ;;
	*) _b=${4:-} ;;
	esac
	eval "$1=\$_b"
}
config_list_foreach() {
	eval "_len=\${CONFIG_$1_$2_LENGTH:-0}"
	_i=1
	while [ "$_i" -le "$_len" ]; do
		eval "_item=\$CONFIG_$1_$2_ITEM$_i"
		"$3" "$_item"
		_i=$((_i + 1))
	done
}
uci_get() {
	# uci_get package section: the type of a network section, from NET_SECTIONS
	case " $NET_SECTIONS " in *" $2 "*) echo interface ;; esac
}
SHIM
# network.sh: interfaces that are up, from NET_UP="lan:br-lan:192.168.1.1 ..."
cat > "$TMP/network.sh" <<'NET'
network_get_device() {
	for _e in $NET_UP; do
		case "$_e" in "$2":*) _d=${_e#*:}; eval "$1=\${_d%%:*}"; return 0 ;; esac
	done
	return 1
}
network_get_ipaddr() {
	for _e in $NET_UP; do
		case "$_e" in "$2":*:?*) eval "$1=\${_e##*:}"; return 0 ;; esac
	done
	return 1
}
NET
# network.sh from the shim; whether the image has ujail comes from HAVE_UJAIL
# shellcheck disable=SC2016
sed -e "s|/lib/functions/network.sh|$TMP/network.sh|" \
	-e "s|/tmp/dhcp.leases|$TMP/dhcp.leases|" -e "s|/etc/ethers|$TMP/ethers|" -e "s|/tmp/hosts|$TMP/hosts|g" \
	-e "s|^FIREWALL_CONFIG=.*|FIREWALL_CONFIG=$TMP/firewall|" -e "s|^ACCT=.*|ACCT=$TMP/acct|" \
	-e 's|if \[ -x /sbin/ujail \] && \[ -e "$CAPS" \]; then|if [ -n "$HAVE_UJAIL" ]; then|' \
	-e 's|^LUCI_ACL=.*|LUCI_ACL=${LUCI_ACL_TEST:-/nonexistent}|' \
	"$INIT" > "$TMP/connmap.init"
# the leases file exists, /etc/ethers does not
: > "$TMP/dhcp.leases"
: > "$TMP/geo.mmdb"
grep -q 'LUCI_ACL_TEST' "$TMP/connmap.init" || { echo "FAIL init: LUCI_ACL not found in the init script"; exit 1; }
: > "$TMP/doh.txt"
grep -q 'HAVE_UJAIL' "$TMP/connmap.init" || { echo "FAIL init: ujail test not found in the init script"; exit 1; }

# run <name> <config text> <NET_UP> <NET_SECTIONS>: prints the recorded log
run() {
	d="$TMP/$1"
	command mkdir -p "$d/uci"
	printf '%s\n' "$2" > "$d/uci/connmap"
	: > "$d/log"
	LOG="$d/log" UCI_DIR="$d/uci" NET_UP="$3" NET_SECTIONS="$4" HAVE_UJAIL="${HAVE_UJAIL-1}" sh -c '
		. "$1/shim.sh"
		. "$1/connmap.init"
		start_service
		service_triggers
	' sh "$TMP" > "$d/out" 2>&1 || echo "exit status $?" >> "$d/log"
	cat "$d/out" >> "$d/log"
	cat "$d/log"
}

check() { # name expected actual
	if [ "$2" = "$3" ]; then
		echo "ok   init: $1"
		pass=$((pass + 1))
	else
		echo "FAIL init: $1"
		echo "$2" > "$TMP/expected"
		echo "$3" > "$TMP/actual"
		diff -u "$TMP/expected" "$TMP/actual" | sed 's/^/     /'
		fail=$((fail + 1))
	fi
}

COMMON_PARAMS='param netdev=br-lan
param file=/etc/config/connmap|/etc/config/dhcp
param respawn=3600|5|5
param stdout=1
param stderr=1
param term_timeout=10'
JAILED='param user=connmap
param group=connmap
param capabilities=/etc/capabilities/connmap.json
param no_new_privs=1'

# 1. the shipped default config, lan up with an address
out=$(run default "$(cat "$DEFAULT_CONFIG")" "lan:br-lan:192.168.1.1" "lan wan")
check "default config -> command line" "mkdir -p /var/lib/connmap
chown connmap:connmap /var/lib/connmap
open_instance
$COMMON_PARAMS
jail connmap log procfs sysfs ubus
jail_mount /usr/share/connmap
jail_mount $TMP/dhcp.leases
jail_mount_rw /var/lib/connmap
$JAILED
command=/usr/sbin/connmap|-i|br-lan|--listen|192.168.1.1:8090|--geoip|/usr/share/connmap/geo.mmdb|--max-remotes|10000|--max-hosts|1024|--retention|86400|--interval|5|--state|/var/lib/connmap/state|--save-interval|3600|--history-top|3|--history-devices|16|--history-hours|48|--history-days|35|--max-names|20000|--metrics-top|50|--metrics-remotes|0|--alert-upload|0|--alert-learning|604800|--alert-window|3600|--alert-timeout|30|--nft|
close_instance
reload_trigger connmap dhcp
interface_trigger lan" "$out"

# 2. enabled 0 starts nothing (triggers are still registered)
out=$(run disabled "config connmap 'main'
	option enabled '0'
	option interface 'lan'" "lan:br-lan:192.168.1.1" "lan")
check "enabled 0 starts nothing" "reload_trigger connmap dhcp
interface_trigger lan" "$out"

# 3. enabled 'off' (UCI boolean spelling) starts nothing
out=$(run disabled-off "config connmap 'main'
	option enabled 'off'" "lan:br-lan:192.168.1.1" "lan")
check "enabled off starts nothing" "reload_trigger connmap dhcp
interface_trigger lan" "$out"

# 4. every option
out=$(run full "config connmap 'main'
	option enabled '1'
	option interface 'guest'
	option port '9000'
	option listen '10.0.0.1'
	option geoip '$TMP/geo.mmdb'
	option max_remotes '500'
	option max_hosts '64'
	option retention '3600'
	option interval '2'
	option state_file '/etc/connmap/state'
	option save_interval '86400'
	option history_top '0'
	option history_devices '8'
	option history_hours '24'
	option history_days '7'
	option home_lat '52.52'
	option home_lng '13.40'
	option log_level 'verbose'
	option tiles 'https://tile.example/{z}/{x}/{y}.png'
	option names '0'
	option max_names '500'
	option doh_list '$TMP/doh.txt'
	option metrics_top '10'
	option metrics_remotes '5'
	option ipfix '10.0.0.9:4739'
	option ipfix_active '30'
	option ipfix_idle '10'
	list exclude '10.0.0.2'
	list exclude '10.0.0.128/25'
	list lan '10.0.0.0/24'
	list remote '100.64.0.0/10'
	list allow_host 'map.home.arpa'" "guest:br-guest:10.0.0.1 lan:br-lan:192.168.1.1" "lan guest")
check "all options -> command line" "mkdir -p /etc/connmap
chown connmap:connmap /etc/connmap
open_instance
$(echo "$COMMON_PARAMS" | sed 's/netdev=br-lan/netdev=br-guest/')
jail connmap log procfs sysfs ubus
jail_mount /usr/share/connmap
jail_mount $TMP/geo.mmdb
jail_mount $TMP/dhcp.leases
jail_mount $TMP/doh.txt
jail_mount_rw /etc/connmap
$JAILED
command=/usr/sbin/connmap|-i|br-guest|--listen|10.0.0.1:9000|--geoip|$TMP/geo.mmdb|--max-remotes|500|--max-hosts|64|--retention|3600|--interval|2|--state|/etc/connmap/state|--save-interval|86400|--history-top|0|--history-devices|8|--history-hours|24|--history-days|7|--home|52.52,13.40|--tiles|https://tile.example/{z}/{x}/{y}.png|--no-names|--max-names|500|--doh-list|$TMP/doh.txt|--metrics-top|10|--metrics-remotes|5|--ipfix|10.0.0.9:4739|--ipfix-active|30|--ipfix-idle|10|--exclude|10.0.0.2|--exclude|10.0.0.128/25|--lan|10.0.0.0/24|--remote|100.64.0.0/10|--allow-host|map.home.arpa|-v|--nft|
close_instance
reload_trigger connmap dhcp
interface_trigger guest" "$out"

# 5. the logical interface exists but is down: nothing yet, the interface trigger starts it
out=$(run lan-down "config connmap 'main'
	option interface 'lan'" "" "lan")
check "interface down waits for the trigger" "logger -t connmap interface 'lan' is not up; waiting for it
reload_trigger connmap dhcp
interface_trigger lan" "$out"

# 6. a device name instead of a logical interface; no state file, quiet, IPv6 listen
out=$(run device "config connmap 'main'
	option interface 'eth1'
	option listen 'fd00::1'
	option state_file ''
	option geoip ''
	option log_level 'quiet'" "lan:br-lan:192.168.1.1" "lan")
check "device name, IPv6 listen, no state" "open_instance
$(echo "$COMMON_PARAMS" | sed 's/netdev=br-lan/netdev=eth1/')
jail connmap log procfs sysfs ubus
jail_mount /usr/share/connmap
jail_mount $TMP/dhcp.leases
$JAILED
command=/usr/sbin/connmap|-i|eth1|--listen|[fd00::1]:8090|-q|--nft|
close_instance
reload_trigger connmap dhcp
interface_trigger eth1" "$out"

# 7. only one of home_lat/home_lng: no --home
out=$(run half-home "config connmap 'main'
	option home_lat '1.5'
	option state_file ''
	option geoip ''" "lan:br-lan:192.168.1.1" "lan")
check "home needs both coordinates" "open_instance
$COMMON_PARAMS
jail connmap log procfs sysfs ubus
jail_mount /usr/share/connmap
jail_mount $TMP/dhcp.leases
$JAILED
command=/usr/sbin/connmap|-i|br-lan|--listen|192.168.1.1:8090|--nft|
close_instance
reload_trigger connmap dhcp
interface_trigger lan" "$out"

# 8. an image without ujail: started as root, the daemon drops to connmap itself (--user)
out=$(HAVE_UJAIL='' run no-ujail "config connmap 'main'
	option state_file ''
	option geoip ''" "lan:br-lan:192.168.1.1" "lan")
check "without ujail the daemon drops privileges itself" "open_instance
$COMMON_PARAMS
command=/usr/sbin/connmap|-i|br-lan|--listen|192.168.1.1:8090|--user|connmap
close_instance
reload_trigger connmap dhcp
interface_trigger lan" "$out"

# 9. http 0 (LuCI only): no port, markers.json into /var/run/connmap (writable in the jail)
out=$(run no-http "config connmap 'main'
	option http '0'
	option port '9000'
	option state_file ''
	option geoip ''" "lan:br-lan:192.168.1.1" "lan")
check "http 0: --no-http, --json-out for LuCI" "mkdir -p /var/run/connmap
chown connmap:connmap /var/run/connmap
open_instance
$COMMON_PARAMS
jail connmap log procfs sysfs ubus
jail_mount /usr/share/connmap
jail_mount $TMP/dhcp.leases
jail_mount_rw /var/run/connmap
$JAILED
command=/usr/sbin/connmap|-i|br-lan|--no-http|--json-out|/var/run/connmap/markers.json|--nft|
close_instance
reload_trigger connmap dhcp
interface_trigger lan" "$out"

# 10. luci-app-connmap installed (its ACL file exists): the page's port and markers.json too
: > "$TMP/luci-acl.json"
out=$(LUCI_ACL_TEST="$TMP/luci-acl.json" run luci "config connmap 'main'
	option state_file ''
	option geoip ''" "lan:br-lan:192.168.1.1" "lan")
check "LuCI app installed: --json-out beside --listen" "mkdir -p /var/run/connmap
chown connmap:connmap /var/run/connmap
open_instance
$COMMON_PARAMS
jail connmap log procfs sysfs ubus
jail_mount /usr/share/connmap
jail_mount $TMP/dhcp.leases
jail_mount_rw /var/run/connmap
$JAILED
command=/usr/sbin/connmap|-i|br-lan|--listen|192.168.1.1:8090|--json-out|/var/run/connmap/markers.json|--nft|
close_instance
reload_trigger connmap dhcp
interface_trigger lan" "$out"

# 11. conntrack: '1' adds --conntrack and CAP_NET_ADMIN; conntrack_acct '1' turns accounting on
echo 0 > "$TMP/acct"
out=$(run conntrack-on "config connmap 'main'
	option state_file ''
	option geoip ''
	option conntrack '1'
	option conntrack_acct '1'" "lan:br-lan:192.168.1.1" "lan")
check "conntrack 1, with consent to accounting" "open_instance
$COMMON_PARAMS
jail connmap log procfs sysfs ubus
jail_mount /usr/share/connmap
jail_mount $TMP/dhcp.leases
$(echo "$JAILED" | sed 's|connmap.json|connmap-conntrack.json|')
command=/usr/sbin/connmap|-i|br-lan|--listen|192.168.1.1:8090|--conntrack|--nft|
close_instance
reload_trigger connmap dhcp
interface_trigger lan" "$(printf '%s\n' "$out" | grep -v '^logger')"
check "accounting turned on with consent" "1" "$(cat "$TMP/acct")"
if grep -q "logger -t connmap turned on net.netfilter.nf_conntrack_acct" "$TMP/conntrack-on/log"; then
	echo "ok   init: says it turned accounting on"; pass=$((pass + 1))
else
	echo "FAIL init: says it turned accounting on"; fail=$((fail + 1))
fi

# 12. 'auto': on when the firewall offloads, without consent accounting stays off (logged)
echo 0 > "$TMP/acct"
printf "config defaults\n\toption flow_offloading '1'\n" > "$TMP/firewall"
out=$(run conntrack-auto "config connmap 'main'
	option state_file ''
	option geoip ''" "lan:br-lan:192.168.1.1" "lan")
check "auto with offloading: --conntrack, accounting left off" "1 0 1" \
	"$(grep -c -- '|--conntrack|' "$TMP/conntrack-auto/log") $(cat "$TMP/acct") $(grep -c 'nf_conntrack_acct is off' "$TMP/conntrack-auto/log")"
printf "config defaults\n\toption flow_offloading '0'\n" > "$TMP/firewall"
out=$(run conntrack-auto-off "config connmap 'main'
	option state_file ''
	option geoip ''" "lan:br-lan:192.168.1.1" "lan")
check "auto without offloading: capture only, CAP_NET_RAW only" "0 1" \
	"$(grep -c -- '--conntrack' "$TMP/conntrack-auto-off/log") $(grep -c 'capabilities=/etc/capabilities/connmap.json' "$TMP/conntrack-auto-off/log")"
rm -f "$TMP/firewall"

# 14. alerts: rules, thresholds, block lists (mounted in the jail), no ubus; hooks present:
# their directory, each hook and the tools' directories are mounted
command mkdir -p "$TMP/alert.d"
printf '#!/bin/sh\n' > "$TMP/alert.d/10-log"
chmod +x "$TMP/alert.d/10-log"
printf '#!/bin/sh\n' > "$TMP/alert.d/ntfy.example"
: > "$TMP/fh.netset"
out=$(run alerts "config connmap 'main'
	option state_file ''
	option geoip ''
	option alert_new_country '0'
	option alert_new_asn '1'
	option alert_blocklist '1'
	option alert_new_device '0'
	option alert_upload '1000000'
	option alert_learning '0'
	option alert_window '600'
	option alert_dir '$TMP/alert.d'
	option alert_timeout '10'
	option alert_ubus '0'
	list blocklist '$TMP/fh.netset'
	list blocklist '$TMP/missing.netset'" "lan:br-lan:192.168.1.1" "lan")
check "alert options -> command line and jail" "open_instance
$COMMON_PARAMS
jail connmap log procfs sysfs
jail_mount /usr/share/connmap
jail_mount $TMP/dhcp.leases
jail_mount $TMP/fh.netset
jail_mount $TMP/alert.d
jail_mount $TMP/alert.d/10-log
$(for f in /bin /sbin /usr/bin /usr/sbin /lib /usr/lib /etc/ssl /etc/resolv.conf /tmp/resolv.conf.d /etc/hosts; do [ -e "$f" ] && echo "jail_mount $f"; done)
$JAILED
command=/usr/sbin/connmap|-i|br-lan|--listen|192.168.1.1:8090|--alert-rules|new_asn,blocklist|--alert-upload|1000000|--alert-learning|0|--alert-window|600|--alert-timeout|10|--alert-dir|$TMP/alert.d|--ubus||--blocklist|$TMP/fh.netset|--blocklist|$TMP/missing.netset|--nft|
close_instance
reload_trigger connmap dhcp
interface_trigger lan" "$out"
# no executable hook yet: the directory is mounted all the same (a hook added later runs
# without a restart), the non-executable file is not
chmod -x "$TMP/alert.d/10-log"
out=$(run alerts-nohooks "config connmap 'main'
	option state_file ''
	option geoip ''
	option alert_dir '$TMP/alert.d'" "lan:br-lan:192.168.1.1" "lan")
check "no executable hook yet: the hook directory mounted" "1 1" \
	"$(grep -c "jail_mount $TMP/alert.d" "$TMP/alerts-nohooks/log") $(grep -c "jail_mount /bin$" "$TMP/alerts-nohooks/log")"
# every rule off: nothing of the hooks in the jail
out=$(run alerts-off "config connmap 'main'
	option state_file ''
	option geoip ''
	option alert_new_country '0'
	option alert_blocklist '0'
	option alert_new_device '0'
	option alert_dir '$TMP/alert.d'" "lan:br-lan:192.168.1.1" "lan")
check "every alert rule off: no hook mounts" "0" "$(grep -c "jail_mount $TMP/alert.d" "$TMP/alerts-off/log")"

# 13. never root: every instance either runs as user connmap or gets --user connmap
if grep -q "procd_set_param user connmap" "$INIT" && grep -q "command --user connmap" "$INIT" &&
	! grep -q "user root" "$INIT"; then
	echo "ok   init: runs as user connmap"; pass=$((pass + 1))
else
	echo "FAIL init: runs as user connmap"; fail=$((fail + 1))
fi

echo "init: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
