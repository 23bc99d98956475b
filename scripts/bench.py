#!/usr/bin/env python3
"""Replay benchmark for connmap (see BENCHMARKS.md). Not a test: it measures and prints.

    python3 scripts/bench.py [--runs 3] [--db FILE.mmdb] [--callgrind] [--known] [--rss]
                             [--render] [--http] [--qemu] [--live-flood] [--all]

Builds the release binary and the capture generator, writes 1M-packet captures with 100k
distinct remotes (patterns `flows` and `uniform`, see examples/bench_capture.rs) into
build/bench/, then for each capture runs, in the same session and alternately:
  tcpdump -n -r FILE -w /dev/null           (the reference: libpcap reading the file)
  connmap -q -r FILE --lan 192.168.0.0/16 --geoip DB --json-out OUT
and reports the median wall time, packets/s, the time ratio connmap/tcpdump, and connmap's
peak RSS (from wait4). With --callgrind it also counts instructions with valgrind (stable on
a busy machine): tcpdump's and connmap's totals on the 1M-packet `flows` capture, and the
per-packet cost of `DataPath::process` (decode, classify, count).

More, each on its own flag (--all: every one):
  --known   callgrind per-packet cost for packets of *known* remotes (1M packets, 50 remotes
            already in the table after their first packet: the steady-state path)
  --quic    callgrind cost of QUIC names (examples/bench_quic.rs: 10k connections, each one
            client Initial and 99 short-header data packets): instructions per Initial opened
            (`QuicAssembler::datagram`: keys, header protection, AES-GCM, CRYPTO frames, the
            ClientHello), per packet of `DataPath::process` with and without `--no-names`,
            and how many packets of the capture the names handle's kernel filter passes
  --rss     peak RSS by --max-remotes 1k/10k/100k on a capture of 1M distinct remotes from 50k
            LAN sources
  --render  markers.json at 10k remotes: size, gzip size, callgrind instructions of one render
            and the time that is at the measured instructions/s of this machine
  --http    /markers.json requests/s from 50 clients (examples/http_load.rs, one loopback
            address each) while a 10M-packet replay runs with --listen (the 1M capture 10 times
            through a FIFO), and the replay's packets/s with and without that load
  --qemu    the replay (200k packets) under qemu-user: the mipsel_24kc build against the x86_64
            musl build, both from scripts/cross-build.sh (build/cross/ARCH/connmap), wall time
  --history the history (issue 18) with the default bounds: two captures of 36 days of capture
            time written here (`home`: 30 devices, 20 remotes an hour each from a pool of 3,000,
            request and reply; `flood`: 48 devices, 12 never-seen remotes an hour each), replayed
            with --listen --state; then /history.json for 24 h, 35 days and one device (plain and
            gzip), and the daemon's peak RSS (VmHWM) against --history-top 0, the state file's
            size, and the flash bytes a day at the default --save-interval (3600 s: 24 writes)
  --live-flood  tests/flood.rs's live flood in network namespaces with the release build:
            1M distinct remotes at 50k packets/s, --max-remotes 1k/10k/100k (needs root)

Peak RSS is measured with GNU time (`/usr/bin/time -f %M`) when it is installed: wait4's
ru_maxrss of a child spawned by this script includes the RSS of Python itself at spawn time
(the child shares it until exec, and the high-water mark survives the exec).
"""
import argparse
import gzip
import os
import re
import shutil
import socket
import threading
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "build", "bench")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, cwd=ROOT, **kw)


GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def timed(cmd):
    """Runs cmd; returns (seconds, peak RSS in KiB)."""
    with tempfile.NamedTemporaryFile("r") as rss_file:
        if GNU_TIME:
            cmd = [GNU_TIME, "-f", "%M", "-o", rss_file.name] + cmd
        start = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"failed: {' '.join(cmd)}")
        rss = int(rss_file.read().split()[-1]) if GNU_TIME else usage.ru_maxrss
    return elapsed, rss


def capture(name, packets, remotes, pattern, hosts=200):
    path = os.path.join(BENCH, f"{name}.pcap")
    if not os.path.exists(path):
        run(["cargo", "run", "-q", "--release", "--example", "bench_capture", "--",
             path, str(packets), str(remotes), str(hosts), pattern])
    return path


def connmap_args(path, db, out, max_remotes=10000):
    return ["-q", "-r", path, "--lan", "192.168.0.0/16", "--geoip", db, "--json-out", out,
            "--leases", "", "--ethers", "", "--max-remotes", str(max_remotes)]


def callgrind(cmd, tmp):
    cg = os.path.join(tmp, "cg.out")
    run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}"] + cmd,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(["callgrind_annotate", "--inclusive=yes", cg],
                          capture_output=True, text=True).stdout


def total(ann):
    return int(re.search(r"^\s*([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", ann, re.M).group(1).replace(",", ""))


def inclusive(ann, fn):
    m = re.search(r"^\s*([\d,]+) \([^)]*\)\s+\S*" + re.escape(fn) + r"[ <]", ann, re.M)
    return int(m.group(1).replace(",", "")) if m else None


def profiling_binary():
    run(["cargo", "build", "-q", "--profile", "profiling"])
    return os.path.join(ROOT, "target", "profiling", "connmap")


def bench_known(db):
    """Per-packet instructions when every packet belongs to a remote already in the table."""
    prof = profiling_binary()
    path = capture("1m-known50", 1_000_000, 50, "uniform")
    with tempfile.TemporaryDirectory() as tmp:
        ann = callgrind([prof] + connmap_args(path, db, os.path.join(tmp, "m.json")), tmp)
    n = inclusive(ann, "DataPath::process")
    print(f"\ncallgrind, 1M packets to 50 known remotes: DataPath::process {n:,} instructions, "
          f"{n / 1_000_000:.0f} per packet (goal <= 300); whole run {total(ann) / 1_000_000:.0f} per packet")


def bench_quic(db):
    """QUIC Initial names: the cost per Initial, and that bulk QUIC data costs (almost) nothing."""
    prof = profiling_binary()
    path = os.path.join(BENCH, "quic-10k.pcap")
    if not os.path.exists(path):
        run(["cargo", "run", "-q", "--release", "--example", "bench_quic", "--", path])
    packets = 10_000 * 100
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in (("names", []), ("no-names", ["--no-names"])):
            ann = callgrind([prof] + connmap_args(path, db, os.path.join(tmp, "m.json")) + extra, tmp)
            # callgrind splits the entry in two (the source path and the binary's): the larger
            # one is the inclusive cost
            quic = [int(m.replace(",", "")) for m in re.findall(
                r"^\s*([\d,]+) \([^)]*\)\s+\S*QuicAssembler::datagram", ann, re.M)]
            res[label] = (inclusive(ann, "DataPath::process"), max(quic, default=0))
    proc, quic = res["names"]
    proc_nn, _ = res["no-names"]
    print(f"\ncallgrind, 10k QUIC connections (10k client Initials, 990k short-header packets):")
    print(f"  QuicAssembler::datagram {quic:,} instructions: {quic / 10_000:,.0f} per Initial")
    print(f"  DataPath::process {proc / packets:.0f} per packet ({proc_nn / packets:.0f} with --no-names); "
          f"without the Initials: {(proc - quic) / packets:.0f}")
    # The names handle's kernel filter on the same packets (what a live capture would pass).
    flt = subprocess.run(["tcpdump", "-n", "-r", path, "-w", "/dev/null", "--count",
                          names_filter()], capture_output=True, text=True)
    print(f"  names filter (tcpdump --count): {(flt.stdout + flt.stderr).strip().splitlines()[-1]}")


def names_filter():
    """The names handle's filter on Ethernet, as the daemon compiles it."""
    out = subprocess.run(["cargo", "run", "-q", "--release", "--example", "bench_quic", "--",
                          "--print-filter"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip()


def bench_rss(binary, db):
    """Peak RSS by table bound on 1M distinct remotes from 50k sources."""
    path = capture("1m-1mremotes-50k", 1_000_000, 1_000_000, "flows", hosts=50_000)
    print(f"\npeak RSS, 1M packets, 1M distinct remotes, 50k LAN sources (max-hosts 1024 default):")
    print(f"{'--max-remotes':>14} {'peak RSS':>10} {'seconds':>8} {'evicted remotes':>16} {'evicted hosts':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "m.json")
        for bound in [1000, 10_000, 100_000]:
            t, rss = timed([binary] + connmap_args(path, db, out, bound))
            import json
            st = json.load(open(out))["stats"]
            print(f"{bound:>14,} {rss / 1024:>8.1f} MB {t:>8.2f} {st['evicted_remotes']:>16,} {st['evicted_hosts']:>14,}")


def bench_render(binary, db):
    """markers.json at 10k remotes: size and the cost of one render."""
    prof = profiling_binary()
    path = capture("200k-10k", 200_000, 10_000, "flows")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "m.json")
        t, _ = timed([binary] + connmap_args(path, db, out))
        data = open(out, "rb").read()
        ann = callgrind([prof] + connmap_args(path, db, out), tmp)
        # Instructions per second of this machine, from the same run natively.
        ips = total(ann) / t
        snaps = inclusive(ann, "DataPath::snapshot")
    print(f"\nmarkers.json at 10k remotes: {len(data):,} bytes, gzip -6 {len(gzip.compress(data, 6)):,} bytes")
    # Without --listen a replay renders twice: the empty tables at start and the full ones at
    # the end; render is inlined into DataPath::snapshot, so that is (almost all) one render.
    if snaps:
        print(f"render: {snaps:,} instructions (DataPath::snapshot, one render of 10k remotes), "
              f"~{snaps / ips * 1000:.0f} ms at this machine's {ips / 1e9:.2f} G instructions/s "
              f"(the whole replay: {t:.2f} s native, {total(ann):,} instructions)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fifo_replay(binary, path, db, loops, listen, log):
    """Starts connmap replaying `path` `loops` times through a FIFO; returns (proc, writer)."""
    tmp = tempfile.mkdtemp()
    fifo = os.path.join(tmp, "replay.pcap")
    os.mkfifo(fifo)
    body = open(path, "rb").read()

    def feed():
        with open(fifo, "wb") as f:
            f.write(body)
            for _ in range(loops - 1):
                f.write(memoryview(body)[24:])

    cmd = [binary, "-r", fifo, "--lan", "192.168.0.0/16", "--geoip", db, "--leases", "",
           "--ethers", "", "--www", tmp]
    if listen:
        cmd += ["--listen", listen]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
                         env=dict(os.environ, CONNMAP_LOG="stderr"))
    w = threading.Thread(target=feed)
    w.start()
    return p, w, tmp


def replay_seconds(log_path):
    m = re.search(r"replayed .* in ([\d.]+) s: (\d+) packets", open(log_path).read())
    return float(m.group(1)), int(m.group(2))


def bench_http(binary, db, clients=50):
    run(["cargo", "build", "-q", "--release", "--example", "http_load"])
    load = os.path.join(ROOT, "target", "release", "examples", "http_load")
    path = capture("1m-flows", 1_000_000, 100_000, "flows")
    loops = 30
    print(f"\nHTTP while replaying 1m-flows x{loops} through a FIFO (--listen; --max-remotes 10000):")
    with tempfile.TemporaryDirectory() as tmp:
        # Without HTTP load.
        log = os.path.join(tmp, "quiet.log")
        with open(log, "w") as lf:
            p, w, _ = fifo_replay(binary, path, db, loops, None, lf)
            w.join()
            p.wait()
        secs, pk = replay_seconds(log)
        print(f"  replay alone: {pk:,} packets in {secs:.2f} s, {pk / secs:,.0f} packets/s")
        for mode in ["gzip", "etag"]:
            port = free_port()
            log = os.path.join(tmp, f"{mode}.log")
            with open(log, "w") as lf:
                p, w, _ = fifo_replay(binary, path, db, loops, f"127.0.0.1:{port}", lf)
                deadline = time.time() + 20
                while time.time() < deadline:
                    try:
                        socket.create_connection(("127.0.0.1", port), 0.2).close()
                        break
                    except OSError:
                        time.sleep(0.05)
                # A fixed 8 s of load, which must fall inside the replay (checked below).
                started = time.time()
                fixed = subprocess.run([load, f"127.0.0.1:{port}", str(clients), "8", mode],
                                       capture_output=True, text=True).stdout.strip()
                load_end = time.time() - started
                w.join()
                while "replayed" not in open(log).read():
                    time.sleep(0.1)
                p.terminate()
                p.wait()
            secs, pk = replay_seconds(log)
            inside = "inside the replay" if load_end < secs else "NOT inside the replay: use more loops"
            print(f"  replay under {clients} clients ({mode}): {pk:,} packets in {secs:.2f} s, "
                  f"{pk / secs:,.0f} packets/s")
            print(f"    {fixed} ({inside})")


def bench_qemu():
    mips = os.path.join(ROOT, "build", "cross", "mipsel_24kc", "connmap")
    x86 = os.path.join(ROOT, "build", "cross", "x86_64", "connmap")
    if not (os.path.exists(mips) and os.path.exists(x86) and shutil.which("qemu-mipsel-static")
            and shutil.which("qemu-x86_64-static")):
        print("\nqemu: needs build/cross/{mipsel_24kc,x86_64}/connmap (scripts/cross-build.sh) "
              "and qemu-user-static")
        return
    # dynamically linked builds (the default) run against the sysroot their build used: under
    # qemu with -L, natively through that sysroot's musl loader
    def sysroot(arch):
        try:
            with open(os.path.join(ROOT, "build", "cross", arch, "info")) as f:
                return next((ln.split("=", 1)[1].strip() for ln in f if ln.startswith("sysroot=")), "")
        except OSError:
            return ""
    mroot, xroot = sysroot("mipsel_24kc"), sysroot("x86_64")
    qm = ["qemu-mipsel-static"] + (["-L", mroot] if mroot else [])
    qx = ["qemu-x86_64-static"] + (["-L", xroot] if xroot else [])
    native = ([os.path.join(xroot, "lib", "ld-musl-x86_64.so.1"), "--library-path",
               os.path.join(xroot, "usr", "lib")] if xroot else [])
    path = capture("200k-flows", 200_000, 20_000, "flows")
    db = fixtures_db()
    print(f"\nqemu-user, 200k-flows (20k remotes), wall time, median of 3:")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "m.json")
        res = {}
        for name, cmd in [("x86_64 musl, native", native + [x86]),
                          ("x86_64 musl, qemu-x86_64", qx + [x86]),
                          ("mipsel_24kc, qemu-mipsel", qm + [mips])]:
            ts = [timed(cmd + connmap_args(path, db, out))[0] for _ in range(3)]
            res[name] = statistics.median(ts)
            print(f"  {name:<28} {res[name]:.3f} s")
        print(f"  ratio mipsel/x86_64 under qemu: "
              f"{res['mipsel_24kc, qemu-mipsel'] / res['x86_64 musl, qemu-x86_64']:.2f}; "
              f"mipsel under qemu / native x86_64: "
              f"{res['mipsel_24kc, qemu-mipsel'] / res['x86_64 musl, native']:.1f}")


def bench_live_flood(binary):
    """The live flood of tests/flood.rs at 1M distinct remotes, with the release build."""
    if os.geteuid() != 0:
        print("\nlive flood: needs root (network namespaces); skipped")
        return
    print("\nlive flood in namespaces: 2 x 500k distinct remotes at 50k packets/s (release build), "
          "--interval 1; phase 2 while 4 LAN clients fetch /markers.json:")
    for bound in [1000, 10_000, 100_000]:
        env = dict(os.environ, CONNMAP_FLOOD_BIN=binary, CONNMAP_FLOOD_REMOTES="500000",
                   CONNMAP_FLOOD_PPS="50000", CONNMAP_FLOOD_MAX_REMOTES=str(bound))
        p = subprocess.run(["cargo", "test", "-q", "--test", "flood", "live_flood", "--",
                            "--ignored", "--nocapture"], cwd=ROOT, env=env, capture_output=True, text=True)
        line = next((l for l in p.stdout.splitlines() if l.startswith("live flood")), p.stdout[-400:])
        print(f"  --max-remotes {bound:>7,}: {line.split('; stats')[0]}"
              + ("" if p.returncode == 0 else "  [test assertions failed]"))


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
    ap.add_argument("--known", action="store_true")
    ap.add_argument("--quic", action="store_true")
    ap.add_argument("--rss", action="store_true")
    ap.add_argument("--render", action="store_true")
    ap.add_argument("--http", action="store_true")
    ap.add_argument("--qemu", action="store_true")
    ap.add_argument("--live-flood", action="store_true")
    ap.add_argument("--history", action="store_true")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--no-replay", action="store_true", help="skip the replay/tcpdump table")
    args = ap.parse_args()
    if args.all:
        args.callgrind = args.known = args.quic = args.rss = args.render = args.http = args.qemu = True
        args.live_flood = args.history = True

    os.makedirs(BENCH, exist_ok=True)
    run(["cargo", "build", "-q", "--release"])
    binary = os.path.join(ROOT, "target", "release", "connmap")
    db = args.db or fixtures_db()
    print(f"machine: {os.cpu_count()} cores; {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}")
    print(f"binary: {os.path.getsize(binary)} bytes; database: {db} ({os.path.getsize(db)} bytes)")
    print(f"connmap --max-remotes {args.max_remotes}; median of {args.runs} runs\n")
    if not args.no_replay:
        replay_table(args, binary, db)
    if args.callgrind:
        bench_callgrind(db)
    if args.known:
        bench_known(db)
    if args.quic:
        bench_quic(db)
    if args.rss:
        bench_rss(binary, db)
    if args.render:
        bench_render(binary, db)
    if args.http:
        bench_http(binary, db)
    if args.qemu:
        bench_qemu()
    if args.live_flood:
        bench_live_flood(binary)
    if args.history:
        bench_history(binary, db)


def history_capture(name, devices, per_hour, pool, reply):
    """36 days of capture time, one burst an hour: each of `devices` LAN devices sends one UDP
    packet (and gets a reply if `reply`) to `per_hour` remotes, drawn from a pool of `pool`
    addresses (0: every remote new). Classic pcap written here, Ethernet, 96-byte snaplen."""
    import random
    import struct
    path = os.path.join(BENCH, f"history-{name}.pcap")
    if os.path.exists(path):
        return path
    rnd = random.Random(18)
    t0 = 1_764_028_800 - 36 * 86_400
    fresh = 0
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 96, 1))

        def frame(ts, src, dst, length):
            eth = bytes([2, 0, 0, 0, 0, 1]) + bytes([2, 0]) + src[:4] + b"\x08\x00"
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length - 14, 0, 0x4000, 64, 17, 0, src, dst)
            udp = struct.pack("!HHHH", 40000, 443, length - 34, 0)
            data = (eth + ip + udp + b"\x5a" * 54)[:96]
            f.write(struct.pack("<IIII", ts, 0, len(data), length))
            f.write(data)

        for hour in range(36 * 24):
            ts = t0 + hour * 3600 + 60
            for d in range(devices):
                host = bytes([192, 168, 1 + d // 200, 10 + d % 200])
                for _ in range(per_hour):
                    if pool:
                        r = rnd.randrange(pool)
                    else:
                        r = fresh
                        fresh += 1
                    remote = (0x14000000 + r).to_bytes(4, "big")
                    frame(ts, host, remote, 200 + rnd.randrange(1200))
                    if reply:
                        frame(ts + 1, remote, host, 200 + rnd.randrange(1200))
    os.replace(path + ".tmp", path)
    return path


def vm_hwm_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def http_get(port, path, gzip_ok=False):
    s = socket.create_connection(("127.0.0.1", port), 10)
    extra = "Accept-Encoding: gzip\r\n" if gzip_ok else ""
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n".encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def bench_history(binary, db):
    print("\nhistory (default bounds: --history-top 8 --history-devices 32, 48 h + 35 days):")
    end = 1_764_028_800
    for name, devices, per_hour, pool, reply in [("home", 30, 20, 3000, True),
                                                ("flood", 48, 12, 0, False)]:
        path = history_capture(name, devices, per_hour, pool, reply)
        for top in ["8", "0"]:
            with tempfile.TemporaryDirectory() as tmp:
                port = free_port()
                log = os.path.join(tmp, "log")
                state = os.path.join(tmp, "state")
                with open(log, "w") as lf:
                    p = subprocess.Popen([binary, "-r", path, "--lan", "192.168.0.0/16", "--geoip", db,
                                          "--listen", f"127.0.0.1:{port}", "--leases", "", "--ethers", "",
                                          "--state", state, "--history-top", top],
                                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=lf,
                                         env=dict(os.environ, CONNMAP_LOG="stderr"))
                    deadline = time.time() + 600
                    while "replayed " not in open(log).read():
                        if time.time() > deadline or p.poll() is not None:
                            sys.exit("history bench: the replay did not finish")
                        time.sleep(0.2)
                    sizes = []
                    if top != "0":
                        for q in ["", f"?from={end - 35 * 86400}&to={end}", "?host=192.168.1.10"]:
                            _, body = http_get(port, "/history.json" + q)
                            _, gz = http_get(port, "/history.json" + q, True)
                            sizes.append((q or "(24 h)", len(body), len(gz)))
                    hwm = vm_hwm_kb(p.pid)
                    p.terminate()
                    p.wait()
                state_size = os.path.getsize(state)
                print(f"  {name}: --history-top {top}: peak RSS {hwm / 1024:.1f} MB, state file "
                      f"{state_size:,} bytes ({24 * state_size:,} bytes a day at one write an hour)")
                for q, n, g in sizes:
                    print(f"    /history.json{q}: {n:,} bytes, {g:,} gzip")


def replay_table(args, binary, db):
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


def bench_callgrind(db):
    # Instruction counts do not depend on what else the machine is doing: the same ratio,
    # measured without noise, and the per-packet path on its own.
    prof = profiling_binary()
    path = capture("1m-flows", 1_000_000, 100_000, "flows")
    with tempfile.TemporaryDirectory() as tmp:
        ref = total(callgrind(["tcpdump", "-Z", "root", "-n", "-r", path, "-w", "/dev/null"], tmp))
        ann = callgrind([prof] + connmap_args(path, db, os.path.join(tmp, "m.json")), tmp)
    mine = total(ann)
    print(f"\ncallgrind, 1m-flows: tcpdump {ref:,} instructions, connmap {mine:,}: ratio {mine / ref:.2f}")
    for fn in ["DataPath::process", "Source::next_frame", "DataPath::snapshot"]:
        n = inclusive(ann, fn)
        if n:
            print(f"callgrind: {fn}: {n:,} instructions, {n / 1_000_000:.0f} per packet")


if __name__ == "__main__":
    main()
