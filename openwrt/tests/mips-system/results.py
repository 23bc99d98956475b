#!/usr/bin/env python3
"""openwrt/tests/mips-system/results.py — reads the MIPS guest's console log (run.sh) and judges it.

usage: results.py check|bench CONSOLE_LOG BURST HOST_REPLAY_JSON

check: prints an ok/FAIL line per check (exact live counts, HTTP, after 2040, the replay).
bench: prints the table of guest CPU time per packet, connmap against tcpdump.
"""

import json
import re
import statistics
import sys

T2040 = 2208988800  # 2040-01-01 00:00:00 UTC, what guest.sh sets the clock to
REMOTE, LAN_HOST = "198.18.5.5", "192.168.77.10"


def sections(text):
    """The files guest.sh printed between =====BEGIN name===== and =====END name=====."""
    out = {}
    for m in re.finditer(r"=====BEGIN (\S+)=====\r?\n(.*?)\r?\n=====END \1=====", text, re.S):
        out[m.group(1)] = m.group(2).replace("\r", "")
    return out


def check(text, burst, host_replay):
    results = []

    def ok(cond, what, detail=""):
        results.append(cond)
        print(("ok   " if cond else "FAIL ") + "mips-system: " + what + ("" if cond or not detail else ": " + detail))

    for line in text.splitlines():
        line = line.strip("\r")
        if line.startswith("GUEST ok "):
            ok(True, line[9:])
        elif line.startswith("GUEST FAIL "):
            ok(False, line[11:])
        elif line.startswith("GUEST note ") or line.startswith("GUEST uname "):
            print("note mips-system: " + line[6:])
    s = sections(text)

    def doc(name):
        try:
            return json.loads(s[name])
        except (KeyError, ValueError) as e:
            ok(False, f"{name}: markers.json readable", f"{e}; {s.get(name, '')[:300]!r}")
            return None

    def marker(d):
        return next((m for m in d.get("markers", []) if m.get("ip") == REMOTE), None)

    want_out, want_in = 3 + burst, 3
    d = doc("markers-live")
    if d is not None:
        m = marker(d) or {}
        cap = d.get("capture", {})
        got = (m.get("packets_out"), m.get("packets_in"))
        ok(got == (want_out, want_in),
           f"live capture on the 24Kc kernel: {REMOTE} has packets_out {got[0]} / packets_in {got[1]} "
           f"(3 pings + {burst} UDP out, 3 replies in)", f"want {want_out} / {want_in}; {m}")
        ok(m.get("city") == "Lisbon" and m.get("hosts") == [LAN_HOST]
           and {"icmp", "udp"} <= set(m.get("protocols", [])) and 9 in m.get("ports", []),
           f"marker: Lisbon, hosts [{LAN_HOST}], icmp + udp, port 9", str(m))
        ok(cap.get("source") == "live on br-lan" and cap.get("dropped") == 0 and cap.get("if_dropped") in (0, None),
           f"capture: {cap.get('source')}, received {cap.get('received')}, dropped {cap.get('dropped')}", str(cap))
        ok(len(d.get("markers", [])) == 1, "one marker (the router and LAN-local traffic are not markers)",
           str([x.get("ip") for x in d.get("markers", [])]))
    h = doc("markers-http")
    if h is not None:
        mh = marker(h) or {}
        ok((mh.get("packets_out"), mh.get("packets_in")) == (want_out, want_in),
           "GET /markers.json from the LAN namespace: same counts", str(mh))
    d = doc("markers-2040")
    if d is not None:
        # 13 years without a packet: the 2026 entry has expired, the remote is new in 2040
        m = marker(d) or {}
        got = (m.get("packets_out"), m.get("packets_in"))
        want = (3 + 100, 3)
        ok(got == want, f"after the clock moved to 2040: packets_out {got[0]} / packets_in {got[1]} "
           "(3 pings + 100 UDP out, 3 replies in; the 2026 entry expired)", f"want {want[0]} / {want[1]}; {m}")
        gen, first, last = d.get("generated", 0), m.get("first_seen", 0), m.get("last_seen", 0)
        ok(min(gen, first, last) >= T2040 and max(gen, first, last) < T2040 + 3600,
           f"times past 2038: generated {gen}, first_seen {first}, last_seen {last} (2040-01-01 is {T2040})")
    if "replay" in s:
        try:
            want = open(host_replay).read()
        except OSError:
            want = None
        def norm(doc):  # the guest's paths are /test/..., the host's elsewhere
            doc["capture"]["source"] = doc["capture"]["source"].rsplit("/", 1)[-1]
            doc["stats"]["geo_database"] = str(doc["stats"]["geo_database"]).rsplit("/", 1)[-1]
            return doc

        try:
            same = want is not None and norm(json.loads(s["replay"])) == norm(json.loads(want))
        except (ValueError, KeyError, TypeError):
            same = False
        ok(same,
           "--read in 2040: markers.json identical to the host build's replay",
           (s.get("replay.log", "") + s["replay"])[:400])
    else:
        ok(False, "--read in 2040: no output")
    if not all(results) and "connmap.log" in s:
        print("     connmap log: " + s["connmap.log"][-1500:].replace("\n", "\n     "))
    return all(results)


def bench(text):
    """Each BENCH line is one run of one tool at one rate (in round N); prints every run, then
    per rate the median per packet of each tool over the rounds and the median of the rounds'
    connmap/tcpdump ratios."""
    runs = []
    for line in text.splitlines():
        if line.startswith("BENCH "):
            kv = dict(f.split("=", 1) for f in line.split()[1:])
            kv.setdefault("round", "1")
            runs.append(kv)
        elif line.startswith("GUEST FAIL "):
            print("FAIL mips-system: " + line[11:])
    per = {}  # (round, rate, tool) -> ns per packet (idle: ns per second)
    print("round  rate/s  tool             sent   captured  dropped  guest CPU   per packet  user/sys ticks")
    for kv in runs:
        rnd, rate, tool = int(kv["round"]), int(kv["rate"]), kv["tool"]
        cpu = int(kv["cpu_ns"])
        sent = int(kv["sent"])
        w0, w1 = (float(x) for x in kv["wall"].split("-"))
        v = cpu / sent if sent else cpu / max(w1 - w0, 1e-9)
        per[(rnd, rate, tool)] = v
        unit = f"{v / 1000:8.2f} us" if sent else f"{v / 1e6:6.2f} ms/s"
        split = (f"  {kv['user_ticks']}/{kv['sys_ticks']} ticks, {kv.get('switches', '?')} switches" if "user_ticks" in kv else
                 f"  {kv['user_us']}/{kv['sys_us']} us" if "user_us" in kv else "")
        print(f"{rnd:5d}  {rate:6d}  {tool:15s} {sent:8d} {kv['captured']:>10s} {kv['dropped']:>8s}"
              f" {cpu / 1e6:8.1f} ms  {unit}{split}")
    rates = sorted({r for _, r, _ in per})
    rounds = sorted({n for n, _, _ in per})
    tools = list(dict.fromkeys(t for _, _, t in per))
    print(f"summary over {len(rounds)} round(s): median per packet (idle: CPU per second); "
          "the ratio of each tool to tcpdump (replay-*: to replay-tcpdump)")
    for r in rates:
        def med(tool):
            v = [per[(n, r, tool)] for n in rounds if (n, r, tool) in per]
            return statistics.median(v) if v else None
        for tool in tools:
            base = "replay-tcpdump" if tool.startswith("replay-") else "tcpdump"
            v = med(tool)
            if v is None:
                continue
            ratios = [per[(n, r, tool)] / per[(n, r, base)] for n in rounds
                      if (n, r, tool) in per and per.get((n, r, base))]
            val = f"{v / 1000:9.2f} us" if r else f"{v / 1e6:7.2f} ms/s"
            rt = (f"{statistics.median(ratios):.2f}x ({' '.join(f'{x:.2f}' for x in ratios)})"
                  if ratios and tool != base else "")
            print(f"{r:6d}  {tool:15s} {val}   {rt}")
    ok = bool(runs)
    print(("ok   " if ok else "FAIL ") + f"mips-system: bench: {len(runs)} runs")
    return ok


def main():
    mode, log, burst = sys.argv[1], sys.argv[2], int(sys.argv[3])
    text = open(log, errors="replace").read()
    good = check(text, burst, sys.argv[4]) if mode == "check" else bench(text)
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
