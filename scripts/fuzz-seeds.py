#!/usr/bin/env python3
"""Writes the committed seed corpus of the fuzz targets, fuzz/seeds/TARGET/, so that short CI
runs (scripts/fuzz-ci.sh) start from inputs that reach deep into each parser, not from nothing.

Frames come from the test captures `cargo run --example fixtures -- DIR` writes (every link
type, VLANs, DNS answers, TLS ClientHellos, HTTP requests); the rest are written here.
    cargo run --example fixtures -- tests/artifacts/fixtures
    python3 scripts/fuzz-seeds.py tests/artifacts/fixtures
"""
import hashlib
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
# fuzz_targets/decode.rs: the first byte selects the link type (index into LINKS)
LINKS = {"replay.pcap": 0, "vlan.pcap": 0, "sll.pcap": 1, "sll2.pcap": 2, "raw.pcap": 3,
         "null.pcap": 4, "loop.pcap": 5}


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    at = 24
    while at + 16 <= len(data):
        incl = struct.unpack_from("<I", data, at + 8)[0]
        yield data[at + 16:at + 16 + incl]
        at += 16 + incl


def history_part(state):
    """The history of a version 3 state file: its last field, a postcard byte string (a
    varint length, then the bytes) that ends the file, after the alerts' memory (empty here:
    one zero byte). The longest such tail."""
    n = len(state)
    for length in range(n - 2, 0, -1):
        end = n - length
        for start in range(max(1, end - 5), end):
            value, shift, at = 0, 0, start
            while at < end:
                value |= (state[at] & 0x7F) << shift
                shift += 7
                at += 1
                if state[at - 1] < 0x80:
                    break
            if at == end and value == length and state[start - 1] == 0:
                return state[end:]
    raise SystemExit("fuzz-seeds: no history in the state file")


def put(target, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def l4_payload(frame):
    """(protocol, source port, destination port, payload) of an Ethernet/IPv4|6 frame."""
    et = struct.unpack_from(">H", frame, 12)[0]
    ip = 14
    if et == 0x0800:
        ihl = (frame[ip] & 15) * 4
        proto, l4 = frame[ip + 9], ip + ihl
    elif et == 0x86DD:
        proto, l4 = frame[ip + 6], ip + 40
    else:
        return None
    if proto == 6:
        sp, dp = struct.unpack_from(">HH", frame, l4)
        return proto, sp, dp, frame[l4 + (frame[l4 + 12] >> 4) * 4:]
    if proto == 17:
        sp, dp = struct.unpack_from(">HH", frame, l4)
        return proto, sp, dp, frame[l4 + 8:]
    return None


def main():
    fx = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests/artifacts/fixtures")
    for name, link in LINKS.items():
        seen = set()
        for fr in frames(os.path.join(fx, name)):
            key = fr[:60]
            if key in seen or len(seen) >= 8:
                continue
            seen.add(key)
            put("decode", bytes([link]) + fr)
    for fr in frames(os.path.join(fx, "replay.pcap")):
        p = l4_payload(fr)
        if not p or not p[3]:
            continue
        proto, sp, dp, pl = p
        if proto == 17 and 53 in (sp, dp):
            put("dns", pl)
        if proto == 6 and pl[:1] == b"\x16":
            put("tls_sni", pl)
        if proto == 6 and pl[:4] in (b"GET ", b"POST", b"HEAD"):
            put("tls_sni", pl)
    # a ClientHello with SNI (whole, and split where the target splits: at 0xAA bytes) and a
    # plain HTTP request with Host
    name = b"www.example.com"
    sni = struct.pack(">HHBH", 0, len(name) + 5, len(name) + 3, 0)[:2] + struct.pack(">H", len(name) + 5) \
        + struct.pack(">HBH", len(name) + 3, 0, len(name)) + name
    exts = sni + struct.pack(">HH", 0x000B, 2) + b"\x01\x00"
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" \
        + struct.pack(">H", len(exts)) + exts
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    hello = b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs
    put("tls_sni", hello)
    put("tls_sni", hello[:40] + b"\xaa" + hello[40:])
    put("tls_sni", b"GET / HTTP/1.1\r\nHost: plain.example:8080\r\nAccept: */*\r\n\r\n")
    for head in [
        b"GET /markers.json HTTP/1.1\r\nHost: 192.168.1.1:8090\r\nAccept-Encoding: gzip\r\n"
        b"If-None-Match: \"abc\"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: openwrt.lan\r\nConnection: keep-alive\r\n\r\n",
        b"HEAD /index.html HTTP/1.0\r\n\r\n",
        b"GET http://map.example/app.0123abcd.js?x=1 HTTP/1.1\r\nHost: map.example\r\n\r\n",
        b"GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: [::1]:8090\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    ]:
        put("http_request", head)
    for text in [
        "1764179999 a4:83:e7:12:34:56 192.168.1.10 laptop 01:a4:83:e7:12:34:56\n"
        "0 3c:22:fb:aa:bb:01 192.168.1.11 * *\n"
        "duid 00:01:00:01:2a:2b:2c:2d:a4:83:e7:12:34:56\n"
        "1764179999 1234 fd00:1::10 laptop 000100012a2b2c2da483e7123456\n",
        "a4:83:e7:12:34:56 laptop\n# comment\n3c:22:fb:aa:bb:01 192.168.1.11\n",
        "config host\n\toption name 'printer'\n\toption mac 'a4:83:e7:12:34:57'\n"
        "\toption ip '192.168.1.8'\n\tlist mac '00:11:22:33:44:55'\n\nconfig dnsmasq\n",
        "# br-lan 0001000128 1 fd00:1::8 3600 printer 64 fd00:1::8/64\n"
        "# br-lan 00010001aa 2 fd00:1::9 -1 phone 128 fd00:1::9/128 fd00:1::a/128\n",
    ]:
        put("leases", text.encode())
    for text in [
        "#\n# firehol_level1\n#\n0.0.0.0/8\n1.10.16.0/20\n5.5.5.5\n\n",
        "; banIP\n2001:db8::/32 ; SBL123\n203.0.113.7 # x\n198.51.100.1,2026-01-01\n"
        "192.0.2.10-192.0.2.20 trailing\r\n::ffff:1.2.3.4\n",
        "1.2.3.4\nnot-an-ip\n10.0.0.0/33\n1.2.3.9-1.2.3.1\nfe80::1-::1\n",
    ]:
        put("blocklist", text.encode())
    # state: what the daemon saves after replaying the capture
    binary = os.path.join(ROOT, "target", "debug", "connmap")
    with tempfile.TemporaryDirectory() as d:
        state = os.path.join(d, "state")
        args = open(os.path.join(fx, "args.txt")).read().split()
        subprocess.run([binary, "-r", os.path.join(fx, "replay.pcap"), "--geoip",
                        os.path.join(fx, "geo.mmdb"), "--state", state, "-q", *args], check=True)
        with open(state, "rb") as f:
            data = f.read()
        put("state", data)
        put("history_state", history_part(data))
    for t in sorted(os.listdir(SEEDS)):
        print(f"fuzz-seeds: {t}: {len(os.listdir(os.path.join(SEEDS, t)))} inputs")


main()
