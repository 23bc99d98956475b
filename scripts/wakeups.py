#!/usr/bin/env python3
"""Wake-ups and system calls of a live capture, per packet and when idle (see BENCHMARKS.md).
Not a test: it measures and prints. Needs root (network namespaces) and strace.

    python3 scripts/wakeups.py [--binary target/release/connmap] [--db FILE.mmdb]
                               [--rates 0,1000,10000] [--seconds 10] [--tcpdump]

Builds two namespaces that exist only while it runs (a LAN host and a router with br-lan, the
setup of tests/common/netns.rs) and runs connmap on the router's br-lan, as the package does
(learning names: both capture handles). For each rate (0 = idle) the LAN host sends UDP
packets to 1,000 remote addresses of 198.18.0.0/15 (benchmark addresses, counted as remote
with --remote; they never leave the namespaces) at that many packets per second, paced in
10 ms batches, while the script takes two windows of `--seconds` each:
  - CPU: user + system time of the daemon (all threads) from /proc/PID/stat, without strace;
  - system calls: `strace -f -c -p PID` (every thread), then the number of calls per packet and
    per second, and poll/epoll_wait returns per second (the loop's wake-ups).
With --tcpdump the same windows for `tcpdump -i br-lan -w /dev/null` (the reference).
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H, R = "cmwkh", "cmwkr"


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def setup():
    teardown()
    sh("ip", "netns", "add", H)
    sh("ip", "netns", "add", R)
    sh("ip", "link", "add", "eth0", "netns", H, "type", "veth", "peer", "name", "lan0", "netns", R)
    for ns, cmds in [
        (R, ["link add br-lan type bridge", "link set lan0 master br-lan",
             "addr add 192.168.78.1/24 dev br-lan", "link set br-lan up", "link set lan0 up",
             "link set lo up"]),
        (H, ["addr add 192.168.78.10/24 dev eth0", "link set eth0 up", "link set lo up",
             "route add default via 192.168.78.1"]),
    ]:
        for c in cmds:
            sh("ip", "-n", ns, *c.split())
    # the router drops what it cannot route; the host needs the router's MAC only once
    sh("ip", "netns", "exec", H, "ping", "-c", "1", "-W", "2", "192.168.78.1", check=False)


def teardown():
    for ns in (H, R):
        sh("ip", "netns", "del", ns, check=False)


def sender(rate, stop):
    """Sends `rate` UDP packets/s from H until `stop` is set (a child in H's namespace)."""
    if rate == 0:
        return None
    code = f"""
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rate, batch_s = {rate}, 0.01
per = max(1, round(rate * batch_s))
n, t = 0, time.monotonic()
while True:
    for _ in range(per):
        i = n % 1000
        try:
            s.sendto(b"x" * 64, ("198.18.%d.%d" % (i // 250, 1 + i % 250), 10000 + i % 50))
        except OSError:
            pass
        n += 1
    t += per / rate
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)
"""
    return subprocess.Popen(["ip", "netns", "exec", H, sys.executable, "-c", code])


def cpu_seconds(pid):
    """User + system time of all threads of `pid` (clock ticks from /proc/PID/stat)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def strace_window(pid, seconds, out):
    """`strace -f -c -p PID` for `seconds`; returns {syscall: calls}."""
    p = subprocess.Popen(["strace", "-f", "-c", "-p", str(pid), "-o", out],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    p.send_signal(2)
    p.wait()
    calls = {}
    for line in open(out):
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
        if m and m.group(2) != "total":
            calls[m.group(2)] = int(m.group(1))
    return calls


def measure(name, pid, rate, seconds, tmp):
    stop = threading.Event()
    send = sender(rate, stop)
    time.sleep(2)  # let the rate settle
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    cpu = cpu_seconds(pid) - c0
    wall = time.monotonic() - t0
    calls = strace_window(pid, seconds, os.path.join(tmp, f"{name}-{rate}.strace"))
    if send:
        send.terminate()
        send.wait()
    total = sum(calls.values())
    wakes = sum(calls.get(k, 0) for k in ("poll", "ppoll", "epoll_wait", "epoll_pwait",
                                          "select", "pselect6"))
    packets = rate * seconds
    per_packet = f"{total / packets:.3f}" if packets else "-"
    top = ", ".join(f"{k} {v}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1])[:6])
    print(f"{name:<8} {rate:>7} pkt/s  CPU {100 * cpu / wall:6.2f} %  "
          f"({1e6 * cpu / (rate * wall):.1f} µs/packet)  " if rate else
          f"{name:<8} {rate:>7} pkt/s  CPU {100 * cpu / wall:6.2f} %  ", end="")
    print(f"syscalls {total / seconds:8.1f}/s  per packet {per_packet}  "
          f"poll returns {wakes / seconds:6.1f}/s  [{top}]")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "connmap"))
    ap.add_argument("--db", default="")
    ap.add_argument("--rates", default="0,1000,10000")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--tcpdump", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    if not os.path.exists(args.binary):
        subprocess.run(["cargo", "build", "--release", "--bin", "connmap"], cwd=ROOT, check=True)
    rates = [int(r) for r in args.rates.split(",")]
    setup()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = ["ip", "netns", "exec", R, args.binary, "-q", "-i", "br-lan",
                   "--lan", "192.168.78.0/24", "--remote", "198.18.0.0/15", "--geoip", args.db,
                   "--leases", "", "--ethers", "", "--json-out", os.path.join(tmp, "m.json"),
                   "--listen", "192.168.78.1:8090", "--www", tmp]
            progs = [("connmap", cmd)]
            if args.tcpdump:
                progs.append(("tcpdump", ["ip", "netns", "exec", R, "tcpdump", "-q", "-n", "-i",
                                          "br-lan", "-w", "/dev/null"]))
            for name, c in progs:
                p = subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(3)
                # `ip netns exec` execs the program: the same PID
                for rate in rates:
                    measure(name, p.pid, rate, args.seconds, tmp)
                p.terminate()
                p.wait()
    finally:
        teardown()


if __name__ == "__main__":
    main()
