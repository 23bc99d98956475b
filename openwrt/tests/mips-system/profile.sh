#!/bin/bash
# openwrt/tests/mips-system/profile.sh — where a mipsel connmap spends its user-space
# instructions per packet, against tcpdump, on the bench's traffic (UDP from one LAN host to
# 256 remotes, as `run.sh bench` sends it). Replays a capture of N packets and one of 100 with
# `-r` under qemu-user (`qemu-mipsel -cpu 24Kc`, the cross sysroot's musl and libpcap.so.1)
# with a TCG plugin (tbcount.c) that counts the guest instructions of every translation
# block; the difference of the two runs divided by N-100 is the per-packet cost (start-up and
# exit cancel out), by function of connmap (when BINARY has its symbols), of libc and of
# libpcap. User space only (the kernel's side is `run.sh bench`).
#
# usage: openwrt/tests/mips-system/profile.sh [BINARY] [N]
#   BINARY: a mipsel connmap; default build/cross/mipsel_24kc/connmap (symbols stripped:
#     per object only). With symbols: CARGO_PROFILE_RELEASE_STRIP=false
#     CARGO_TARGET_DIR=/tmp/t CONNMAP_OUT=/tmp/t/out scripts/cross-build.sh mipsel_24kc, then
#     BINARY=/tmp/t/mipsel-unknown-linux-musl/release/connmap.  N: packets (default 30000).
# environment: CONNMAP_REMOTES: how many remotes the packets go to, in turn (default 256, as
#   `run.sh bench`; a large number makes every packet a new remote's first, 1 makes every
#   packet after the first a known remote's); CONNMAP_ARGS: more options for connmap (e.g.
#   `--max-remotes 30000`); CONNMAP_TOP: how many functions to list (default 15); CONNMAP_SYSROOT, CONNMAP_CACHE as run.sh; the tcpdump that `run.sh bench`
#   builds ($CONNMAP_CACHE/mips-system/tcpdump-musl-4.99.3/tcpdump; skipped when absent).
# needs: qemu-user (Debian's, not -static: plugins are loaded with dlopen), cc, llvm-nm, python3
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
BIN=${1:-$REPO/build/cross/mipsel_24kc/connmap}
N=${2:-30000}
CACHE=${CONNMAP_CACHE:-$HOME/.cache/connmap}
SYSROOT=${CONNMAP_SYSROOT:-$(sed -n 's/^sysroot=//p' "$REPO/build/cross/mipsel_24kc/info" 2> /dev/null)}
SYSROOT=${SYSROOT:-$CACHE/sysroot/mipsel_24kc}
TCPDUMP=$CACHE/mips-system/tcpdump-musl-4.99.3/tcpdump
command -v qemu-mipsel > /dev/null || { echo "qemu-mipsel not found (apt-get install qemu-user)" >&2; exit 1; }
[ -f "$BIN" ] || { echo "no binary $BIN" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/connmap-profile.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
cc -O2 -shared -fPIC -fvisibility=hidden -o "$TMP/tbcount.so" "$HERE/tbcount.c"
python3 - "$TMP" "$N" "${CONNMAP_REMOTES:-256}" << 'PY'
import struct, sys
def write(path, n):
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(n):
            r = i % int(sys.argv[3])
            payload = b"connmap mips test\0"
            udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0x4000, 64, 17, 0,
                             bytes([192, 168, 77, 10]), bytes([198, 18, 7 + r // 256 % 249, r % 256]))
            s = sum(struct.unpack("!10H", ip)); s = (s >> 16) + (s & 0xFFFF); s += s >> 16
            ip = ip[:10] + struct.pack("!H", ~s & 0xFFFF) + ip[12:]
            frame = bytes.fromhex("020000000001" "02000000000a" "0800") + ip + udp
            ts = 1765000000 * 1000000 + i * 100
            out.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(frame), len(frame)) + frame)
write(sys.argv[1] + "/big.pcap", int(sys.argv[2]))
write(sys.argv[1] + "/small.pcap", 100)
PY
q=(qemu-mipsel -cpu 24Kc -L "$SYSROOT")
run() { # name program args... (the capture is $TMP/CAPTURE.pcap)
	local name=$1 size
	shift
	for size in small big; do
		"${q[@]}" -plugin "$TMP/tbcount.so,out=$TMP/$name.$size" "${@//CAPTURE/$TMP/$size}" > /dev/null 2>&1 ||
			{ echo "$name did not run under qemu-mipsel" >&2; return 1; }
	done
	# where the loader put libc (the ELF interpreter: -d page's entry) and libpcap (-strace;
	# both logged to the -D file)
	"${q[@]}" -d page -D "$TMP/$name.page" -strace "$1" --version > /dev/null 2>&1 || true
	echo "$name"
}
names=$(run connmap "$BIN" -q -r CAPTURE.pcap --lan 192.168.77.0/24 --remote 198.18.0.0/15 \
	--exclude 192.168.77.1 --geoip '' --json-out "$TMP/out.json" --leases '' --ethers '' \
	--dhcp-config '' --odhcpd '' --firewall-config '' --nft '' ${CONNMAP_ARGS:-})
[ -x "$TCPDUMP" ] && names="$names $(run tcpdump "$TCPDUMP" -n -r CAPTURE.pcap -w /dev/null)"
for name in $names; do
	bin=$BIN
	[ "$name" = tcpdump ] && bin=$TCPDUMP
	llvm-nm -n --defined-only "$bin" > "$TMP/$name.nm" 2> /dev/null || true
	python3 - "$TMP" "$name" "$N" "$SYSROOT" "${CONNMAP_TOP:-15}" << 'PY'
import bisect, collections, re, subprocess, sys
tmp, name, n, sysroot, top = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
def syms(lines):
    s = sorted({(int(p[0], 16), p[2]) for p in (l.split(None, 2) for l in lines)
                if len(p) == 3 and p[1] in "tTwWiI"})
    return s, [a for a, _ in s]
def nm(path):  # the static symbols too when the library has them
    out = "".join(subprocess.run(["llvm-nm", "-n", "--defined-only", *d, path], capture_output=True,
                                 text=True).stdout for d in ([], ["-D"]))
    return syms(out.splitlines())
libc = nm(sysroot + "/lib/libc.so")
pcap = nm(sysroot + "/usr/lib/libpcap.so.1")
entry = int(re.search(r"entry\s+0x([0-9a-f]+)", open(f"{tmp}/{name}.page").read()).group(1), 16)
libc_base = entry - int(subprocess.run(["llvm-readelf", "-h", sysroot + "/lib/libc.so"], capture_output=True,
                                       text=True).stdout.split("Entry point address:")[1].split()[0], 16)
st = open(f"{tmp}/{name}.page").read()
# (qemu logs the page layout between a mmap2 call and its " = address")
m = re.search(r'open\("[^"]*libpcap\.so\.1".*?= (\d+)\n.*?mmap2\(NULL,\d+,[^,]+,[^,]+,\1,0\).*?\n = (0x[0-9a-f]+)', st, re.S)
pcap_base = int(m.group(2), 16) if m else None
own = syms(open(f"{tmp}/{name}.nm").read().splitlines())
def where(a):
    for tag, (s, ad), base in (("libc", libc, libc_base), ("libpcap", pcap, pcap_base)):
        if base is not None and base <= a < base + 0x100000:
            i = bisect.bisect_right(ad, a - base) - 1
            return f"{tag}: {s[i][1] if i >= 0 else '?'}"
    if a >= 0x10000000:
        return "other"
    i = bisect.bisect_right(own[1], a) - 1
    return f"{name}: {own[0][i][1] if i >= 0 else '(no symbols)'}"
def load(size):
    c = collections.Counter()
    for line in open(f"{tmp}/{name}.{size}"):
        a, k = line.split()
        c[where(int(a, 16))] += int(k)
    return c
small, big = load("small"), load("big")
per = {k: (big[k] - small.get(k, 0)) / (n - 100) for k in big}
total = sum(per.values())
objs = collections.Counter()
for k, v in per.items():
    objs[k.split(":")[0]] += v
print(f"{name}: {total:.0f} user-space instructions per packet ("
      + ", ".join(f"{o} {v:.0f}" for o, v in objs.most_common()) + ")")
for k, v in sorted(per.items(), key=lambda x: -x[1])[:top]:
    if v >= 1:
        print(f"  {v:7.1f}  {k[:140]}")
PY
done
