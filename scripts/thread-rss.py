#!/usr/bin/env python3
"""What the threads of a running connmap cost in memory: its threads by name, and the resident
and dirty pages of their stacks, told apart by size (/proc/PID/smaps): the HTTP responders'
1 MiB stacks, the gate's 256 KiB, the 2 MiB of std's default (tiny_http's accept and
connection threads, the names handle...). Thread stacks are anonymous mappings with a guard
page just below; the main thread's is [stack].

    python3 scripts/thread-rss.py PID
"""
import collections
import os
import sys

pid = sys.argv[1]
names = collections.Counter()
for tid in os.listdir(f"/proc/{pid}/task"):
    with open(f"/proc/{pid}/task/{tid}/comm") as f:
        names[f.read().strip()] += 1
print(f"threads: {sum(names.values())}: " + ", ".join(f"{n} x{c}" if c > 1 else n for n, c in sorted(names.items())))

KIND = {1 << 20: "responder stack (1 MiB)", 256 << 10: "gate stack (256 KiB)",
        2 << 20: "std default stack (2 MiB)", 128 << 10: "musl default stack (128 KiB)"}
maps = []
cur = None
with open(f"/proc/{pid}/smaps") as f:
    for line in f:
        parts = line.split()
        if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            cur = {"lo": lo, "hi": hi, "perm": parts[1], "name": parts[5] if len(parts) > 5 else "", "rss": 0, "dirty": 0}
            maps.append(cur)
        elif parts[0] == "Rss:":
            cur["rss"] = int(parts[1])
        elif parts[0] in ("Private_Dirty:",):
            cur["dirty"] = int(parts[1])
sums = collections.defaultdict(lambda: [0, 0, 0])
for i, m in enumerate(maps):
    size = m["hi"] - m["lo"]
    guard = i > 0 and maps[i - 1]["hi"] == m["lo"] and maps[i - 1]["perm"].startswith("---")
    if m["name"] == "[stack]":
        kind = "main thread stack"
    elif m["name"] == "" and m["perm"].startswith("rw") and guard:
        # musl puts the thread's TLS and descriptor on top of the stack mapping
        kind = next((k for s, k in KIND.items() if 0 <= size - s <= 64 << 10), f"other thread stack ({size >> 10} KiB)")
    else:
        continue
    s = sums[kind]
    s[0] += 1
    s[1] += m["rss"]
    s[2] += m["dirty"]
total = 0
for kind, (n, rss, dirty) in sorted(sums.items()):
    total += rss
    print(f"  {kind:32} x{n:<3} Rss {rss:6} KiB  Private_Dirty {dirty:6} KiB")
with open(f"/proc/{pid}/status") as f:
    vm = {l.split(":")[0]: l.split(":")[1].strip() for l in f}
print(f"stacks in all: {total} KiB of VmRSS {vm['VmRSS']} (VmHWM {vm['VmHWM']})")
