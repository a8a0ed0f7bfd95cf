"""Write a fleet capture: about a thousand WebSocket sessions of real recorded traffic.

Issue 14 asks how reports read when a customer's capture holds hundreds of sessions: a
client that reconnects every 97 s for an hour, a fleet of streams behind one proxy, and
every other cause at once. Synthesising those would test our idea of the traffic, so this
script replays the recordings of `sample_captures/` instead, rewritten packet by packet:

- **mixed causes and proxied pairs behind shared servers**: every Ethernet/IPv4 sample
  capture, `--copies` times; copy k moves each client's 127.0.0.x address to 127.k.0.x and
  keeps the servers' and proxies' (every host that accepts a connection), as a customer's
  fleet of clients shares its proxies and servers; ephemeral ports move by 101·k so no
  two copies share a connection's addresses and ports; copy k starts `--spacing` seconds
  after copy k-1;
- **a reconnect loop**: idle-1011 (the client goes silent, Deepgram closes 1011 after
  10 s) `--loop` times from one client, every 97 s, each time from the next client port.

Only addresses, ports and timestamps change: payloads, TCP flags and sequence numbers are
the recorded ones. Checksums are left as they become (tshark does not verify them by
default). Everything stays in 127.0.0.0/8.

Usage: .venv/bin/python benchmarks/make_fleet.py [--copies 24] [--loop 40] [-o PATH]
then e.g. `wsdoctor analyze benchmarks/out/fleet.pcap -o /tmp/fleet.html`.
"""

from __future__ import annotations

import argparse
import heapq
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_captures"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "out" / "fleet.pcap"
LOOP_SAMPLE = "idle-1011"
LOOP_EVERY_S = 97.0
EPHEMERAL = 32768  # ports at or above this are a client's: the loop moves them
ETHERNET, IPV4, TCP = 1, 0x0800, 6

Record = tuple[float, bytes]  # (time, the whole packet record with a rewritten header)


def pcap_records(path: Path) -> tuple[int, float, list[tuple[int, int, bytes]]] | None:
    """(link type, fraction units per second, [(seconds, fraction, packet)]) of a
    little-endian classic pcap (micro- or nanosecond)."""
    raw = path.read_bytes()
    units = {b"\xd4\xc3\xb2\xa1": 1e6, b"\x4d\x3c\xb2\xa1": 1e9}.get(raw[:4])
    if units is None:
        return None  # pcapng or big-endian: not among the samples this replays
    linktype = struct.unpack_from("<I", raw, 20)[0]
    out, at = [], 24
    while at + 16 <= len(raw):
        sec, frac, incl, _orig = struct.unpack_from("<IIII", raw, at)
        out.append((sec, frac, raw[at + 16 : at + 16 + incl]))
        at += 16 + incl
    return linktype, units, out


def servers(packets: list[tuple[int, int, bytes]]) -> frozenset[int]:
    """The last octets of the 127.0.0.x hosts that accept a connection (answer a SYN):
    servers and proxies, which a fleet's clients share."""
    accepted = set()
    for _sec, _frac, p in packets:
        if len(p) < 34 or struct.unpack_from("!H", p, 12)[0] != IPV4 or p[23] != TCP:
            continue
        tcp = 14 + (p[14] & 0x0F) * 4
        if len(p) >= tcp + 14 and p[26:28] == b"\x7f\x00" and p[tcp + 13] & 0x12 == 0x12:
            accepted.add(p[29])
    return frozenset(accepted)


def rewrite(packet: bytes, subnet: int, port_shift: int, keep: frozenset[int]) -> bytes:
    """127.0.0.x -> 127.subnet.0.x in IPv4 addresses but the servers' (`keep`); ephemeral
    ports moved by port_shift."""
    if len(packet) < 34 or struct.unpack_from("!H", packet, 12)[0] != IPV4:
        return packet
    p = bytearray(packet)
    for at in (26, 30):  # source, destination
        if p[at] == 127 and p[at + 1] == 0 and p[at + 3] not in keep:
            p[at + 1] = subnet
    ihl = (p[14] & 0x0F) * 4
    tcp = 14 + ihl
    if p[23] == TCP and port_shift and len(p) >= tcp + 4:
        for at in (tcp, tcp + 2):
            port = struct.unpack_from("!H", p, at)[0]
            if port >= EPHEMERAL:
                struct.pack_into("!H", p, at, EPHEMERAL + (port - EPHEMERAL + port_shift) % 32768)
    return bytes(p)


Packets = tuple[float, list[tuple[int, int, bytes]]]  # (units per second, records)


def replay(recorded: Packets, start: float, subnet: int, port_shift: int) -> list[Record]:
    """One sample's packets, moved to begin at `start` (epoch seconds)."""
    units, packets = recorded
    first = packets[0][0] + packets[0][1] / units
    keep = servers(packets) if subnet else frozenset()
    return [
        (start + (sec + frac / units - first), rewrite(packet, subnet, port_shift, keep))
        for sec, frac, packet in packets
    ]


def ethernet_samples() -> list[Packets]:
    found = []
    for path in sorted(SAMPLES.glob("*/capture.pcap")):
        read = pcap_records(path)
        if read and read[0] == ETHERNET and read[2]:
            found.append((read[1], read[2]))
    return found


def fleet(copies: int, loop: int, spacing: float, base: float) -> Iterator[list[Record]]:
    recorded = ethernet_samples()
    for k in range(1, copies + 1):
        for i, packets in enumerate(recorded):
            yield replay(packets, base + (k - 1) * spacing + i * 0.5, k, 101 * k)
    read = pcap_records(SAMPLES / LOOP_SAMPLE / "capture.pcap")
    assert read is not None, "idle-1011 is a classic pcap"
    for j in range(loop):
        yield replay((read[1], read[2]), base + 3.0 + j * LOOP_EVERY_S, 0, 1 + j)


def write(out: Path, streams: list[list[Record]]) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with out.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, ETHERNET))
        for t, packet in heapq.merge(*streams, key=lambda r: r[0]):
            sec = int(t)
            usec = round((t - sec) * 1e6)
            if usec == 1_000_000:
                sec, usec = sec + 1, 0
            fh.write(struct.pack("<IIII", sec, usec, len(packet), len(packet)) + packet)
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=24, help="copies of every sample (max 254)")
    ap.add_argument("--loop", type=int, default=40, help="reconnects of the idle-1011 client")
    ap.add_argument("--spacing", type=float, default=150.0, help="seconds between copies")
    ap.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    args = ap.parse_args(argv)
    if not 1 <= args.copies <= 254:
        ap.error("--copies must be 1..254 (one 127.k.0.0/16 per copy)")
    base = 1_765_000_000.0  # a fixed epoch: the same arguments give the same bytes
    streams = [s for s in fleet(args.copies, args.loop, args.spacing, base) if s]
    n = write(args.output, streams)
    print(f"{args.output}: {n} packets from {len(streams)} replayed captures", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
