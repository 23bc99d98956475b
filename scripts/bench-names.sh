#!/bin/bash
# Cost of the names handle (the second capture), live, in network namespaces made here:
#   sudo scripts/bench-names.sh names     # default: names learned
#   sudo scripts/bench-names.sh nonames   # --no-names: the counting handle only
# connmap runs on br-lan of a namespace "router" while the LAN host opens 1000 connections to
# port 443, each sending a 1.9 KB ClientHello, then uploads 400 MB over one connection in
# 64 KiB writes (the worst case for a PSH-based filter). Prints connmap's CPU time (ticks of
# 10 ms, /proc/PID/stat), both handles' libpcap counters and the peak RSS. Nothing leaves
# the namespaces. BIN defaults to target/release/connmap.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${BIN:-$ROOT/target/release/connmap}
MODE=${1:-names}
OUT=$(mktemp -d)
T=nb$$
H=${T}h; R=${T}r; W=${T}w
cleanup() {
  [ -n "${CM:-}" ] && kill "$CM" 2>/dev/null
  [ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null
  sleep 0.5
  for n in $H $R $W; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$OUT"
}
trap cleanup EXIT
for n in $H $R $W; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip -n $R link add lan0 type veth peer name eth0 netns $H
ip -n $R link add wan type veth peer name eth0 netns $W
ip -n $R addr add 198.18.5.1/24 dev wan; ip -n $R link set wan up
ip -n $R link add br-lan type bridge; ip -n $R link set lan0 master br-lan
ip -n $R addr add 192.168.77.1/24 dev br-lan; ip -n $R link set br-lan up; ip -n $R link set lan0 up
ip -n $H addr add 192.168.77.10/24 dev eth0; ip -n $H link set eth0 up; ip -n $H route add default via 192.168.77.1
ip -n $W addr add 198.18.5.5/24 dev eth0; ip -n $W link set eth0 up; ip -n $W route add 192.168.77.0/24 via 198.18.5.1
ip netns exec $R sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
EXTRA=""; [ "$MODE" = nonames ] && EXTRA=--no-names
ip netns exec $R "$BIN" -q -i br-lan --remote 198.18.0.0/15 --geoip '' --listen 127.0.0.1:8090 --json-out "$OUT"/m.json --interval 1 \
  --leases '' --ethers '' --dhcp-config '' --odhcpd '' --firewall-config '' --nft '' $EXTRA &
CM=$!
ip netns exec $W python3 -c '
import socket,threading
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(("198.18.5.5",443)); s.listen(256)
def h(c):
    while c.recv(65536): pass
    c.close()
while True:
    c,_=s.accept(); threading.Thread(target=h,args=(c,),daemon=True).start()
' &
SRV=$!
python3 - "$OUT/hello.bin" <<'PY'
import struct, sys
def hello(sni, pad):
    exts = b"\x00\x15" + struct.pack(">H", pad) + b"\0" * pad
    n = sni.encode()
    exts += b"\0\0" + struct.pack(">HHBH", len(n) + 5, len(n) + 3, 0, len(n)) + n
    body = b"\x03\x03" + b"\x07" * 32 + b"\x20" + b"\x09" * 32 + b"\x00\x04\x13\x01\x13\x02\x01\x00"
    body += struct.pack(">H", len(exts)) + exts
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs
open(sys.argv[1], "wb").write(hello("bench.lisbon.example", 1800))
PY
sleep 2
cpu() { awk '{print $14+$15}' /proc/$CM/stat; }
c0=$(cpu); t0=$(date +%s.%N)
ip netns exec $H python3 -c '
import socket,sys
hello=open(sys.argv[1],"rb").read()
# 1000 short connections, each a ClientHello
for i in range(1000):
    c=socket.create_connection(("198.18.5.5",443)); c.sendall(hello); c.close()
# a bulk upload: 400 MB in 64 KiB writes
c=socket.create_connection(("198.18.5.5",443)); b=b"\x17"*65536
for i in range(6400): c.sendall(b)
c.close()
' "$OUT/hello.bin"
sleep 2
c1=$(cpu); t1=$(date +%s.%N)
echo "$MODE: connmap CPU $(( c1 - c0 )) ticks (1/100 s) over $(python3 -c "print(round($t1 - $t0, 1))") s"
python3 -c "
import json; d=json.load(open('$OUT/m.json')); c=d['capture']
n=c['names'] or {}; print('main received',c['received'],'dropped',c['dropped'],'names received',n.get('received'),'dropped',n.get('dropped'))
m=[x for x in d['markers'] if x['ip']=='198.18.5.5'][0]; print('names',m.get('names'),'pkts',m['packets_out'],m['packets_in'])
"
grep VmHWM /proc/$CM/status
