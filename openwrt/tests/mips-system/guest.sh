#!/bin/sh
# openwrt/tests/mips-system/guest.sh — runs as the init of the MIPS guest (busybox ash, Linux
# 6.1 4kc-malta on qemu's Malta board with a 24Kc CPU), started by run.sh in this folder.
#
# Builds a router inside the guest, as in tests/live.rs but with busybox:
#   ns LAN 192.168.77.10 ── veth ── br-lan 192.168.77.1 (guest's own ns: the router)
#                                   wan0 198.18.5.1 ── veth ── ns WAN 198.18.5.5
# and runs connmap (the package's /usr/sbin/connmap, OpenWrt's musl loader, libpcap.so.1) live
# on br-lan. /test/mode says what to do:
#   check: exact counts of a ping + UDP burst in markers.json (file and HTTP), the clock set to
#          2040 (the daemon must go on and write 2040 times), a capture replayed in 2040
#   bench: CPU time of connmap and of tcpdump -w /dev/null while LAN traffic flows at each rate
#          of /test/rates (packets/s; 0 = idle) for /test/seconds seconds each; /test/tools
#          names the tools: connmap, connmap-nonames (--no-names: one capture handle),
#          tcpdump, tcpdump-filter (with connmap's counting filter), tcpdump-names (with its
#          names filter), tcpdump-two (both, two processes: connmap's kernel side),
#          replay-connmap and replay-tcpdump (-r of a capture of the same traffic: user space)
# Results go to the console as lines the host reads: "GUEST ok|FAIL ...", "BENCH ...", and files
# between "=====BEGIN name=====" and "=====END name=====".
PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH
T=/test
say() { echo "GUEST $*"; }
show() { # name file
	echo "=====BEGIN $1====="
	cat "$2"
	echo
	echo "=====END $1====="
}

# a process holding a new network namespace (busybox unshare execs sleep in it)
newns() {
	# (no output: it would hold the pipe of $(newns) open)
	unshare -n sleep 100000 < /dev/null > /dev/null 2>&1 &
	p=$!
	while [ "$(readlink /proc/$p/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.05; done
	echo "$p"
}
in_lan() { nsenter -t "$LAN" -n "$@"; }
in_wan() { nsenter -t "$WAN" -n "$@"; }

setup_net() {
	say "note init at $(cut -d' ' -f1 /proc/uptime) s"
	for m in llc stp bridge veth; do insmod "/modules/$m.ko" || say "FAIL insmod $m"; done
	ip link set lo up
	LAN=$(newns)
	WAN=$(newns)
	say "note namespaces LAN (pid $LAN) and WAN (pid $WAN)"
	# busybox's ip takes no "peer name": the kernel names the peer veth0; rename it
	{ ip link add lan0 type veth && ip link set veth0 name lan1; } || say "FAIL ip link add veth (busybox)"
	ip link set lan1 netns "$LAN"
	brctl addbr br-lan
	# no STP, no forward delay (busybox's brctl has no stp/setfd: sysfs)
	echo 0 > /sys/class/net/br-lan/bridge/stp_state
	echo 0 > /sys/class/net/br-lan/bridge/forward_delay
	brctl addif br-lan lan0
	ip addr add 192.168.77.1/24 dev br-lan
	ip link set lan0 up
	ip link set br-lan up
	{ ip link add wan0 type veth && ip link set veth0 name wan1; } || say "FAIL ip link add veth (busybox)"
	ip link set wan1 netns "$WAN"
	ip addr add 198.18.5.1/24 dev wan0
	ip link set wan0 up
	echo 1 > /proc/sys/net/ipv4/ip_forward
	# the benchmark's remotes: routed nowhere (dropped by the router after the capture saw them)
	ip route add blackhole 198.18.7.0/24
	in_lan ip link set lo up
	in_lan ip addr add 192.168.77.10/24 dev lan1
	in_lan ip link set lan1 up
	in_lan ip route add default via 192.168.77.1
	in_wan ip link set lo up
	in_wan ip addr add 198.18.5.5/24 dev wan1
	in_wan ip link set wan1 up
	in_wan ip route add default via 198.18.5.1
	in_wan /test/guest-tool sink 198.18.5.5 9 &
	say "note links up at $(cut -d' ' -f1 /proc/uptime) s"
	# the bridge port forwards at once (no STP, forward delay 0); wait for the path
	i=0
	until in_lan ping -c 1 -W 1 198.18.5.5 > /dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 20 ] || { say "FAIL no route LAN -> WAN inside the guest"; break; }
	done
}

# options that keep connmap away from host files the guest does not have
ARGS="--remote 198.18.0.0/15 --geoip $T/geo.mmdb --exclude 192.168.77.1"
ARGS="$ARGS --leases '' --ethers '' --dhcp-config '' --odhcpd '' --firewall-config '' --nft ''"

# connmap live on br-lan in the background (pid in CM): json-out log
live() {
	out=$1 log=$2
	eval "set -- $ARGS"
	CONNMAP_LOG=stderr /usr/sbin/connmap -i br-lan "$@" --json-out "$out" > "$log" 2>&1 &
	CM=$!
}

# CPU time (ns) of processes, all their threads: the first field of schedstat
cpu_ns() {
	for p in "$@"; do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# user and system clock ticks of processes (fields 14 and 15 of /proc/PID/stat) and their
# threads' context switches (wake-ups, mostly): "USER SYS SWITCHES"
ticks() {
	for p in "$@"; do cat /proc/"$p"/stat 2>/dev/null; done | awk '{ u += $14; k += $15 } END { printf "%d %d ", u, k }'
	for p in "$@"; do cat /proc/"$p"/task/*/status 2>/dev/null; done | awk '/ctxt_switches/ { s += $2 } END { printf "%d\n", s }'
}

wait_log() { # file text seconds
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null && [ $i -lt $(($3 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
	grep -q "$2" "$1" 2>/dev/null
}

wait_file() { # file seconds
	i=0
	while [ ! -s "$1" ] && [ $i -lt $(($2 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
	[ -s "$1" ]
}

check() {
	say "uname $(uname -r -m); $(grep -m1 'cpu model' /proc/cpuinfo)"
	ARGS="$ARGS --interval 1"
	live /tmp/markers.json /tmp/connmap.log
	if wait_log /tmp/connmap.log "capturing on br-lan" 60; then say "ok connmap capturing live on br-lan (pid $CM)"; else
		say "FAIL connmap did not start capturing"
		show connmap.log /tmp/connmap.log
		return
	fi
	say "note connmap started at $(cut -d' ' -f1 /proc/uptime) s"
	in_lan ping -c 3 -i 0.2 198.18.5.5 > /tmp/ping.log 2>&1 || say "FAIL ping LAN -> WAN: $(tail -2 /tmp/ping.log)"
	in_lan /test/guest-tool send 198.18.5.5 9 0 "$BURST" | sed 's/^/GUEST note /'
	sleep 3
	wait_file /tmp/markers.json 30 || say "FAIL no markers.json written"
	show markers-live /tmp/markers.json
	in_lan wget -q -O /tmp/http.json http://192.168.77.1:8090/markers.json || say "FAIL HTTP GET from the LAN"
	show markers-http /tmp/http.json

	# past 2038: the running daemon must go on; then a replay
	before=$(/test/guest-tool now)
	/test/guest-tool settime 2208988800 || say "FAIL settime"
	say "note clock $before -> $(/test/guest-tool now)"
	sleep 2
	in_lan ping -c 3 -i 0.2 198.18.5.5 > /tmp/ping.log 2>&1 || say "FAIL ping after 2038: $(tail -2 /tmp/ping.log)"
	in_lan /test/guest-tool send 198.18.5.5 9 0 100 > /dev/null
	sleep 3
	if kill -0 "$CM" 2>/dev/null; then say "ok connmap still running at $(/test/guest-tool now)"; else
		wait "$CM"
		say "FAIL connmap died after the clock passed 2038 (exit $?)"
	fi
	show markers-2040 /tmp/markers.json
	show connmap.log /tmp/connmap.log
	kill "$CM" 2>/dev/null
	wait "$CM"
	say "note connmap exit $? on SIGTERM"
	# shellcheck disable=SC2046
	/usr/sbin/connmap -q -r "$T/replay.pcap" --geoip "$T/geo.mmdb" --json-out /tmp/replay.json \
		$(cat "$T/args.txt") > /tmp/replay.log 2>&1
	say "note replay exit $?"
	show replay /tmp/replay.json
	show replay.log /tmp/replay.log
}

# replay-connmap / replay-tcpdump: the user-space side alone. A capture of the traffic at
# RATE (recorded once per rate with tcpdump, connmap's snaplen) is read with -r by each tool;
# guest-tool run reports the CPU time of the whole process (reading the file included: the
# same for both).
replay() { # tool rate
	rtool=$1 f=/tmp/bench-$2.pcap
	if [ ! -s "$f" ]; then
		tcpdump -i br-lan -n -s 160 -Z root -w "$f" > /tmp/rec.log 2>&1 &
		R=$!
		sleep 3
		in_lan /test/guest-tool send 198.18.7.1 9 "$2" $(($2 * secs)) "$REMOTES" > /dev/null
		sleep 1
		kill -TERM $R
		wait $R
	fi
	n=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' /tmp/rec.log)
	if [ "$1" = replay-connmap ]; then
		eval "set -- $ARGS"
		r=$(/test/guest-tool run /usr/sbin/connmap -q -r "$f" "$@" --lan 192.168.77.0/24 --json-out /tmp/r.json 2> /tmp/r.log)
	else
		r=$(/test/guest-tool run tcpdump -n -r "$f" -w /dev/null 2> /tmp/r.log)
	fi
	us=$(echo "$r" | sed -n 's/.*cpu_us=\([0-9]*\).*/\1/p')
	say "note $r"
	echo "BENCH round=$round tool=$rtool rate=$rate sent=${n:-0} cpu_ns=$((${us:-0} * 1000)) wall=0-1 captured=${n:-?} dropped=0 $(echo "$r" | cut -d' ' -f2-3)"
}

bench() {
	say "note bpf_jit_enable=$(cat /proc/sys/net/core/bpf_jit_enable 2>/dev/null || echo none) optmem_max=$(cat /proc/sys/net/core/optmem_max)"
	COUNT_FILTER='' NAMES_FILTER=''
	# no snapshot (render, lookups) inside the measured window: the capture loop alone, as
	# tcpdump -w /dev/null does nothing else; markers.json is written on exit (the counts)
	ARGS="$ARGS --interval 3600"
	secs=$(cat "$T/seconds")
	RATES=$(cat "$T/rates")
	TOOLS=$(cat "$T/tools")
	REMOTES=$(cat "$T/remotes" 2> /dev/null || echo 256)
	ROUNDS=$(cat "$T/rounds" 2> /dev/null || echo 1)
	# the tools take turns at each rate (and the whole series repeats ROUNDS times): without
	# icount, host load shifts guest times, and neighbours in time share it
	round=0
	while [ $round -lt "$ROUNDS" ]; do
	round=$((round + 1))
	for rate in $RATES; do
		for tool in $TOOLS; do
			say "note round $round $tool at $rate/s from $(cut -d' ' -f1 /proc/uptime) s"
			rm -f /tmp/b.json /tmp/b.log
			case $tool in
			replay-*)
				[ "$rate" = 0 ] || replay "$tool" "$rate"
				continue
				;;
			connmap*)
				[ "$tool" = connmap-nonames ] && ARGS0=$ARGS && ARGS="$ARGS --no-names"
				live /tmp/b.json /tmp/b.log
				[ "$tool" = connmap-nonames ] && ARGS=$ARGS0
				P=$CM
				wait_log /tmp/b.log "capturing on br-lan" 60 || say "FAIL connmap did not start"
				;;
			tcpdump)
				tcpdump -i br-lan -n -s 160 -Z root -w /dev/null > /tmp/b.log 2>&1 &
				P=$!
				sleep 3
				;;
			tcpdump-names)
				tcpdump -i br-lan -n -s 4352 -B 512 -Z root -w /dev/null "$NAMES_FILTER" > /tmp/b.log 2>&1 &
				P=$!
				sleep 3
				;;
			tcpdump-filter | tcpdump-two)
				# connmap's kernel side without connmap: its counting filter (and, for -two,
				# a second handle with its names filter, as the daemon opens one)
				tcpdump -i br-lan -n -s 160 -Z root -w /dev/null "$COUNT_FILTER" > /tmp/b.log 2>&1 &
				P=$!
				if [ "$tool" = tcpdump-two ]; then
					tcpdump -i br-lan -n -s 4352 -B 512 -Z root -w /dev/null "$NAMES_FILTER" > /tmp/b2.log 2>&1 &
					P="$P $!"
				fi
				sleep 3
				;;
			*) say "FAIL unknown tool $tool" && continue ;;
			esac
			sleep 1
			# shellcheck disable=SC2086
			c0=$(cpu_ns $P)
			# shellcheck disable=SC2086
			k0=$(ticks $P)
			t0=$(cat /proc/uptime)
			if [ "$rate" = 0 ]; then
				sleep "$secs"
				sent=0
			else
				sent=$(in_lan /test/guest-tool send 198.18.7.1 9 "$rate" $((rate * secs)) "$REMOTES" |
					sed -n 's/.*sent \([0-9]*\) .*/\1/p')
			fi
			sleep 1
			# shellcheck disable=SC2086
			c1=$(cpu_ns $P)
			# shellcheck disable=SC2086
			k1=$(ticks $P)
			t1=$(cat /proc/uptime)
			# both write their counts on SIGTERM; should one not exit at once, a packet now and
			# then wakes it (a capture loop may sleep until traffic comes)
			# shellcheck disable=SC2086
			kill -TERM $P
			n=0
			# shellcheck disable=SC2086
			while kill -0 $P 2> /dev/null && [ $n -lt 100 ]; do
				in_lan /test/guest-tool send 198.18.7.1 9 0 1 > /dev/null
				sleep 0.1
				n=$((n + 1))
			done
			# still running 10 s after SIGTERM: say where it is, then SIGKILL (a bare `wait`
			# would hang the bench with no word of why)
			for p in $P; do
				kill -0 "$p" 2> /dev/null || continue
				say "FAIL $tool at $rate/s did not exit 10 s after SIGTERM: state $(sed -n 's/^State:[[:space:]]*//p' /proc/"$p"/status), threads: $(for t in /proc/"$p"/task/*; do printf '%s %s %s; ' "$(cat "$t"/comm)" "$(cut -d' ' -f3 "$t"/stat)" "$(cat "$t"/wchan 2> /dev/null)"; done)"
				kill -KILL "$p"
			done
			# shellcheck disable=SC2086
			wait $P
			if [ "$tool" = connmap ] && [ -z "$COUNT_FILTER" ]; then
				COUNT_FILTER=$(sed -n 's/.*"capture":{"source":"[^"]*","filter":"\([^"]*\)".*/\1/p' /tmp/b.json | head -1)
				NAMES_FILTER=$(sed -n 's/.*"names":{"filter":"\([^"]*\)".*/\1/p' /tmp/b.json | head -1)
			fi
			case $tool in connmap*)
				# what its data path counted (the exit snapshot does not refresh libpcap's
				# capture counters, which are read at snapshot times only)
				got=$(sed -n 's/.*"stats":{[^}]*"packets":\([0-9]*\).*/\1/p' /tmp/b.json | head -1)
				drop=$(sed -n 's/.*"capture":{[^}]*"dropped":\([0-9]*\).*/\1/p' /tmp/b.json | head -1)
				;;
			*)
				got=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' /tmp/b.log)
				drop=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' /tmp/b.log)
				;;
			esac
			[ -n "$got" ] || show "$tool-$rate.log" /tmp/b.log
			[ "$tool" != tcpdump-two ] || say "note names handle: $(grep captured /tmp/b2.log)"
			grep -i "warning" /tmp/b.log /tmp/b2.log 2> /dev/null | sed "s/^/GUEST note $tool: /"
			# shellcheck disable=SC2086
			set -- $k0 $k1
			echo "BENCH round=$round tool=$tool rate=$rate sent=$sent cpu_ns=$((c1 - c0)) wall=${t0%% *}-${t1%% *} captured=${got:-?} dropped=${drop:-?} user_ticks=$(($4 - $1)) sys_ticks=$(($5 - $2)) switches=$(($6 - $3))"
		done
	done
	done
}

mode=$(cat "$T/mode")
BURST=$(cat "$T/burst" 2>/dev/null || echo 20000)
setup_net
say "note network up: $(ip -o -4 addr show br-lan | awk '{print $4}')"
case $mode in
check) check ;;
bench) bench ;;
*) say "FAIL unknown mode $mode" ;;
esac
say "done"
