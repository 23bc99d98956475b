#!/usr/bin/env python3
"""What the threads of a running connmap cost in memory: each thread by name with the resident
(Rss) and dirty pages of its stack. A thread's stack is the mapping that holds its stack
pointer, read from /proc/PID/task/TID/syscall while the thread waits in a system call (all of
connmap's threads do when idle). Needs root or the same user.

    python3 scripts/thread-rss.py PID
"""
import collections
import os
import sys

pid = sys.argv[1]
maps = []
cur = None
with open(f"/proc/{pid}/smaps") as f:
    for line in f:
        parts = line.split()
        if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            cur = {"lo": lo, "hi": hi, "name": parts[5] if len(parts) > 5 else "", "rss": 0, "dirty": 0}
            maps.append(cur)
        elif parts[0] == "Rss:":
            cur["rss"] = int(parts[1])
        elif parts[0] == "Private_Dirty:":
            cur["dirty"] = int(parts[1])

groups = collections.defaultdict(lambda: [0, 0, 0, 0])  # threads, stack size, rss, dirty
for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
    with open(f"/proc/{pid}/task/{tid}/comm") as f:
        name = f.read().strip()
    # the same kind of thread under one name: http-0..http-7 are "http-N"
    if tid == pid:
        kind = "main (data path)"
    elif name.startswith("http-") and name[5:].isdigit():
        kind = "http-N (responders)"
    elif name == "connmap":
        kind = "unnamed (tiny_http's)"  # its accept thread and connection pool
    else:
        kind = name
    with open(f"/proc/{pid}/task/{tid}/syscall") as f:
        fields = f.read().split()
    g = groups[kind]
    g[0] += 1
    if len(fields) < 3 or fields[0] == "running":
        continue
    sp = int(fields[-2], 16)
    m = next((m for m in maps if m["lo"] <= sp < m["hi"]), None)
    if m:
        g[1] += (m["hi"] - m["lo"]) >> 10
        g[2] += m["rss"]
        g[3] += m["dirty"]
total = [0, 0]
print(f"{'thread':24} {'n':>3} {'stack mapped':>13} {'Rss':>8} {'dirty':>8}")
for kind, (n, size, rss, dirty) in sorted(groups.items()):
    total[0] += rss
    total[1] += n
    print(f"{kind:24} {n:3} {size:10} KiB {rss:4} KiB {dirty:4} KiB")
with open(f"/proc/{pid}/status") as f:
    vm = {l.split(":")[0]: l.split(":")[1].strip() for l in f}
print(f"{total[1]} threads, stacks resident {total[0]} KiB of VmRSS {vm['VmRSS']} (VmHWM {vm['VmHWM']})")
