#!/usr/bin/env python3
"""Replay benchmark for connmap (see BENCHMARKS.md). Not a test: it measures and prints.

    python3 scripts/bench.py [--runs 3] [--db FILE.mmdb] [--callgrind]

Builds the release binary and the capture generator, writes 1M-packet captures with 100k
distinct remotes (patterns `flows` and `uniform`, see examples/bench_capture.rs) into
build/bench/, then for each capture runs, in the same session and alternately:
  tcpdump -n -r FILE -w /dev/null           (the reference: libpcap reading the file)
  connmap -q -r FILE --lan 192.168.0.0/16 --geoip DB --json-out OUT
and reports the median wall time, packets/s, the time ratio connmap/tcpdump, and connmap's
peak RSS (from wait4). With --callgrind it also counts instructions with valgrind (stable on
a busy machine): tcpdump's and connmap's totals on the 1M-packet `flows` capture, and the
per-packet cost of `DataPath::process` (decode, classify, count).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "build", "bench")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, cwd=ROOT, **kw)


def timed(cmd):
    """Runs cmd; returns (seconds, peak RSS in KiB)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss


def capture(name, packets, remotes, pattern):
    path = os.path.join(BENCH, f"{name}.pcap")
    if not os.path.exists(path):
        run(["cargo", "run", "-q", "--release", "--example", "bench_capture", "--",
             path, str(packets), str(remotes), "200", pattern])
    return path


def fixtures_db():
    fx = os.path.join(BENCH, "fixtures")
    if not os.path.exists(os.path.join(fx, "geo.mmdb")):
        run(["cargo", "run", "-q", "--example", "fixtures", "--", fx], stdout=subprocess.DEVNULL)
    return os.path.join(fx, "geo.mmdb")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db", help="mmdb to geolocate with (default: the small test database)")
    ap.add_argument("--max-remotes", type=int, default=10000)
    ap.add_argument("--callgrind", action="store_true")
    args = ap.parse_args()

    os.makedirs(BENCH, exist_ok=True)
    run(["cargo", "build", "-q", "--release"])
    binary = os.path.join(ROOT, "target", "release", "connmap")
    db = args.db or fixtures_db()
    print(f"machine: {os.cpu_count()} cores; {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}")
    print(f"binary: {os.path.getsize(binary)} bytes; database: {db} ({os.path.getsize(db)} bytes)")
    print(f"connmap --max-remotes {args.max_remotes}; median of {args.runs} runs\n")
    print(f"{'capture':<10} {'packets':>9} {'tcpdump s':>10} {'connmap s':>10} {'pkts/s':>11} {'ratio':>6} {'peak RSS':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "markers.json")
        for pattern in ["flows", "uniform"]:
            path = capture(f"1m-{pattern}", 1_000_000, 100_000, pattern)
            t_ref, t_cm, rss = [], [], []
            for _ in range(args.runs):
                t_ref.append(timed(["tcpdump", "-n", "-r", path, "-w", "/dev/null"])[0])
                t, r = timed([binary, "-q", "-r", path, "--lan", "192.168.0.0/16", "--geoip", db,
                              "--json-out", out, "--leases", "", "--ethers", "",
                              "--max-remotes", str(args.max_remotes)])
                t_cm.append(t)
                rss.append(r)
            a, b = statistics.median(t_ref), statistics.median(t_cm)
            print(f"{pattern:<10} {1_000_000:>9} {a:>10.3f} {b:>10.3f} {1_000_000 / b:>11,.0f} {b / a:>6.2f} {max(rss) / 1024:>8.1f} MB")

    if args.callgrind:
        # Instruction counts do not depend on what else the machine is doing: the same ratio,
        # measured without noise, and the per-packet path on its own.
        run(["cargo", "build", "-q", "--profile", "profiling"])
        prof = os.path.join(ROOT, "target", "profiling", "connmap")
        path = capture("1m-flows", 1_000_000, 100_000, "flows")
        with tempfile.TemporaryDirectory() as tmp:
            def callgrind(cmd):
                cg = os.path.join(tmp, "cg.out")
                run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}"] + cmd,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return subprocess.run(["callgrind_annotate", "--inclusive=yes", cg],
                                      capture_output=True, text=True).stdout

            def total(ann):
                return int(re.search(r"^\s*([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", ann, re.M).group(1).replace(",", ""))

            ref = total(callgrind(["tcpdump", "-Z", "root", "-n", "-r", path, "-w", "/dev/null"]))
            ann = callgrind([prof, "-q", "-r", path, "--lan", "192.168.0.0/16", "--geoip", db,
                             "--json-out", os.path.join(tmp, "m.json"), "--leases", "", "--ethers", ""])
            mine = total(ann)
            print(f"\ncallgrind, 1m-flows: tcpdump {ref:,} instructions, connmap {mine:,}: ratio {mine / ref:.2f}")
            for fn in ["DataPath::process", "Source::next_frame", "DataPath::snapshot"]:
                m = re.search(r"^\s*([\d,]+) \([^)]*\)\s+\S*" + re.escape(fn) + r" ", ann, re.M)
                if m:
                    n = int(m.group(1).replace(",", ""))
                    print(f"callgrind: {fn}: {n:,} instructions, {n / 1_000_000:.0f} per packet")


if __name__ == "__main__":
    main()
