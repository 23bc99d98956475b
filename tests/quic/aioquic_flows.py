#!/usr/bin/env python3
"""QUIC connections made by a real QUIC stack (aioquic), for tests/quic.rs.

aioquic's connections are sans-I/O: this script runs a client and a server against each other
in memory (no socket, no network) and writes every datagram they exchange, one per line:

    <scenario> <c|s> <hex>

`c` is client to server, `s` server to client. The Rust test wraps them in Ethernet/IP/UDP
frames and replays them through connmap. Scenarios:

- v1:      QUIC v1, a full handshake, then bulk stream data (short-header packets);
- v2:      QUIC v2 (RFC 9369), a full handshake;
- split:   a ClientHello too large for one Initial (many ALPNs, aioquic's 1200-byte
           "quantum readiness" extension): its CRYPTO data spans two Initial packets;
- retry:   the server answers the first Initial with a Retry; the client starts over with a
           token and a new Destination Connection ID (new Initial keys);
- nosni:   a client that sends no server name.

The client's second flight coalesces an Initial (ACK) with a Handshake packet, and every client
Initial is padded to 1200 bytes: both appear in every scenario with a handshake.
Usage: aioquic_flows.py OUT_FILE
"""

import datetime
import sys

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import QuicProtocolVersion, encode_quic_retry, pull_quic_header
from aioquic.buffer import Buffer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = 1000.0
SERVER = ("10.99.0.1", 443)
CLIENT = ("192.168.1.10", 50000)


def certificate():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "quic.test")])
    start = datetime.datetime(2025, 1, 1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert, key


CERT, KEY = certificate()


def client(sni, version=QuicProtocolVersion.VERSION_1, alpn=("h3",), big=False):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=list(alpn), server_name=sni)
    cfg.verify_mode = 0  # ssl.CERT_NONE
    cfg.original_version = version
    cfg.supported_versions = [version]
    cfg.quantum_readiness_test = big
    return QuicConnection(configuration=cfg)


def server(alpn=("h3",), version=QuicProtocolVersion.VERSION_1, **kw):
    cfg = QuicConfiguration(is_client=False, alpn_protocols=list(alpn))
    cfg.certificate = CERT
    cfg.private_key = KEY
    cfg.supported_versions = [version]
    return QuicConnection(configuration=cfg, **kw)


def start(out, name, c, **kw):
    """The client's first flight, and a server for it (it must know the client's DCID)."""
    first = [d for d, _ in c.datagrams_to_send(now=NOW)]
    h = pull_quic_header(Buffer(data=first[0]), host_cid_length=8)
    kw.setdefault("original_destination_connection_id", h.destination_cid)
    s = server(**kw)
    for d in first:
        out.write(f"{name} c {d.hex()}\n")
        s.receive_datagram(d, CLIENT, now=NOW)
    return s


def pump(out, name, c, s, rounds=6, bulk=0):
    """Exchanges datagrams until both sides are quiet; writes each one."""
    t = NOW
    for _ in range(rounds):
        moved = False
        for d, _ in c.datagrams_to_send(now=t):
            out.write(f"{name} c {d.hex()}\n")
            s.receive_datagram(d, CLIENT, now=t)
            moved = True
        for d, _ in s.datagrams_to_send(now=t):
            out.write(f"{name} s {d.hex()}\n")
            c.receive_datagram(d, SERVER, now=t)
            moved = True
        t += 0.01
        if not moved:
            break
    if bulk:
        sid = c.get_next_available_stream_id()
        c.send_stream_data(sid, b"x" * bulk, end_stream=True)
        pump(out, name, c, s, rounds=20)


def main():
    out = open(sys.argv[1], "w")
    c = client("quic-v1.example")
    c.connect(SERVER, now=NOW)
    pump(out, "v1", c, start(out, "v1", c), bulk=20000)

    v2 = QuicProtocolVersion.VERSION_2
    c = client("quic-v2.example", version=v2)
    c.connect(SERVER, now=NOW)
    pump(out, "v2", c, start(out, "v2", c, version=v2))

    alpns = [f"proto-{i:03d}-with-a-long-name" for i in range(20)] + ["h3"]
    c = client("split.quic.example", alpn=alpns, big=True)
    c.connect(SERVER, now=NOW)
    pump(out, "split", c, start(out, "split", c, alpn=alpns))

    # Retry: the first Initial gets a Retry, the second goes to the server.
    c = client("retry.quic.example")
    c.connect(SERVER, now=NOW)
    first = [d for d, _ in c.datagrams_to_send(now=NOW)]
    for d in first:
        out.write(f"retry c {d.hex()}\n")
    h = pull_quic_header(Buffer(data=first[0]), host_cid_length=8)
    new_cid = bytes(range(8))
    retry = encode_quic_retry(
        version=h.version,
        source_cid=new_cid,
        destination_cid=h.source_cid,
        original_destination_cid=h.destination_cid,
        retry_token=b"retry-token-from-the-server",
    )
    out.write(f"retry s {retry.hex()}\n")
    c.receive_datagram(retry, SERVER, now=NOW)
    s = start(
        out,
        "retry",
        c,
        original_destination_connection_id=h.destination_cid,
        retry_source_connection_id=new_cid,
    )
    pump(out, "retry", c, s)

    c = client(None)
    c.connect(SERVER, now=NOW)
    pump(out, "nosni", c, start(out, "nosni", c))
    out.close()


if __name__ == "__main__":
    main()
