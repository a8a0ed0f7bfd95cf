"""pcap and pcapng mutants of real captures, drawn by hypothesis.

A seed is parsed into a small model (interfaces with link type and snaplen, packets with a
timestamp and bytes), mutated at three levels, and serialised:

- packets: timestamps to extremes, duplicate / delete / reorder / splice from another seed,
  and WebSocket frame headers inside TCP payloads (opcode, FIN/RSV, mask bit, 7/16/64-bit
  lengths set to extremes, bit flips, inserted or cut bytes);
- format fields: pcap magic, version, snaplen, link type, record ts_usec/incl_len/orig_len;
  pcapng SHB byte order / magic / version / section length, IDB link type / snaplen / options
  (if_tsresol, if_fcslen, bad option lengths), EPB interface id / captured / original length,
  block types and the leading and trailing block length fields;
- container: truncation, trailing garbage, gzip (whole, cut short, wrong CRC).

Every operation is a tuple of small integers interpreted modulo the sizes at hand, so
hypothesis shrinks a failure to the few operations that matter. `describe` lists them for
the reproducer's cmd.sh.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass, field, replace

from hypothesis import strategies as st

from . import seeds
from .oracle import Case

PCAP_MAGICS = {0xA1B2C3D4: 1_000_000, 0xA1B23C4D: 1_000_000_000}
SHB, IDB, EPB, SPB, OPB = 0x0A0D0D0A, 1, 6, 3, 2

# the Deepgram key of the recorded samples and the request query: replaced in place (same
# length, so TCP sequence numbers and IP lengths stay right) by values with a marker
SECRET_PLANTS = [
    (b"dg_test_0123456789abcdef", b"dg_tLEAKCAPAUTH0123abcde"),
    (b"channels=1&model=nova-3", b"token=abcdLEAKCAPQR&m=1"),
]


@dataclass
class Packet:
    ts: int  # in units of 1/res seconds
    data: bytes
    orig: int
    ifid: int = 0
    incl: int | None = None  # a lying captured length
    frac: int | None = None  # a lying pcap ts_usec


@dataclass
class Capture:
    res: int  # 1e6 or 1e9 ticks per second
    links: list[tuple[int, int]]  # (link type, snaplen) per interface
    packets: list[Packet]
    ops: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- parsing the seeds


def parse(raw: bytes) -> Capture:
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[:4] == struct.pack("<I", SHB):
        return _parse_pcapng(raw)
    return _parse_pcap(raw)


def _parse_pcap(raw: bytes) -> Capture:
    for e in "<>":
        (magic,) = struct.unpack(e + "I", raw[:4])
        if magic in PCAP_MAGICS:
            break
    else:
        raise ValueError("not a pcap")
    res = PCAP_MAGICS[magic]
    snaplen, link = struct.unpack(e + "II", raw[16:24])
    packets, pos = [], 24
    while pos + 16 <= len(raw):
        sec, frac, incl, orig = struct.unpack(e + "IIII", raw[pos : pos + 16])
        data = raw[pos + 16 : pos + 16 + incl]
        packets.append(Packet(sec * res + frac, data, orig))
        pos += 16 + incl
    return Capture(res, [(link, snaplen)], packets)


def _parse_pcapng(raw: bytes) -> Capture:
    e = "<" if raw[8:12] == struct.pack("<I", 0x1A2B3C4D) else ">"
    links, packets, res, pos = [], [], 1_000_000, 0
    while pos + 12 <= len(raw):
        btype, blen = struct.unpack(e + "II", raw[pos : pos + 8])
        if blen < 12:
            break
        body = raw[pos + 8 : pos + blen - 4]
        if btype == IDB:
            link, _, snap = struct.unpack(e + "HHI", body[:8])
            links.append((link, snap))
            if b"\x09\x00\x01\x00" in body[8:]:  # if_tsresol: keep the seed's clock exact
                i = body.index(b"\x09\x00\x01\x00", 8)
                r = body[i + 4]
                res = 10**r if r < 128 else 2 ** (r & 0x7F)
        elif btype == EPB:
            ifid, hi, lo, cap, orig = struct.unpack(e + "IIIII", body[:20])
            packets.append(Packet((hi << 32) | lo, body[20 : 20 + cap], orig, ifid))
        pos += blen
    if res not in (10**6, 10**9):  # rescale unusual resolutions to microseconds
        for p in packets:
            p.ts = p.ts * 10**6 // res
        res = 10**6
    return Capture(res, links or [(1, 262144)], packets)


def plant_secrets(raw: bytes) -> tuple[bytes, list[bytes]]:
    """The seed with marker secrets in place; returns the HTTP requests now carrying them
    (the secret checks apply only while a request survives the mutations byte for byte)."""
    for old, new in SECRET_PLANTS:
        assert len(old) == len(new)
        raw = raw.replace(old, new)
    intact = []
    start = 0
    while (i := raw.find(b"LEAK", start)) >= 0:
        a = raw.rfind(b"GET ", 0, i)
        b = raw.find(b"\r\n\r\n", i)
        if a >= 0 and b > 0 and b - a < 4000:
            intact.append(raw[a : b + 4])
        start = i + 4
    return raw, intact


# ---------------------------------------------------------------- serialising


def to_pcap(cap: Capture, hdr: dict) -> bytes:
    e = hdr.get("endian", "<")
    magic = hdr.get("magic", 0xA1B2C3D4 if cap.res == 10**6 else 0xA1B23C4D)
    link, snap = cap.links[0]
    out = [
        struct.pack(
            e + "IHHiIII",
            magic,
            hdr.get("major", 2),
            hdr.get("minor", 4),
            hdr.get("zone", 0),
            0,
            hdr.get("snaplen", snap),
            hdr.get("link", link),
        )
    ]
    for p in cap.packets:
        sec, frac = divmod(p.ts, cap.res)
        frac = p.frac if p.frac is not None else frac
        incl = p.incl if p.incl is not None else len(p.data)
        out.append(
            struct.pack(
                e + "IIII",
                sec & 0xFFFFFFFF,
                frac & 0xFFFFFFFF,
                incl & 0xFFFFFFFF,
                p.orig & 0xFFFFFFFF,
            )
        )
        out.append(p.data)
    return b"".join(out)


def _opt(e: str, code: int, value: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def pcapng_blocks(cap: Capture, e: str) -> list[list]:
    """[type, body, leading length or None, trailing length or None] per block."""
    blocks = [[SHB, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), None, None]]
    for link, snap in cap.links:
        opts = b""
        if cap.res == 10**9:
            opts = _opt(e, 9, b"\x09") + _opt(e, 0, b"")
        blocks.append([IDB, struct.pack(e + "HHI", link, 0, snap) + opts, None, None])
    for p in cap.packets:
        incl = p.incl if p.incl is not None else len(p.data)
        body = struct.pack(
            e + "IIIII",
            p.ifid,
            (p.ts >> 32) & 0xFFFFFFFF,
            p.ts & 0xFFFFFFFF,
            incl & 0xFFFFFFFF,
            p.orig & 0xFFFFFFFF,
        )
        blocks.append([EPB, body + p.data + b"\0" * (-len(p.data) % 4), None, None])
    return blocks


def join_blocks(blocks: list[list], e: str) -> bytes:
    out = []
    for btype, body, lead, trail in blocks:
        n = len(body) + 12
        out.append(
            struct.pack(e + "II", btype & 0xFFFFFFFF, (n if lead is None else lead) & 0xFFFFFFFF)
        )
        out.append(body)
        out.append(struct.pack(e + "I", (n if trail is None else trail) & 0xFFFFFFFF))
    return b"".join(out)


# ---------------------------------------------------------------- TCP payloads


def tcp_payload_offset(link: int, data: bytes) -> int | None:
    """Where the TCP payload starts in a frame of this link type (None: not TCP)."""
    try:
        if link == 1:  # Ethernet, maybe VLAN-tagged
            off, etype = 14, struct.unpack(">H", data[12:14])[0]
            while etype in (0x8100, 0x88A8):
                etype = struct.unpack(">H", data[off + 2 : off + 4])[0]
                off += 4
        elif link == 113:  # Linux cooked v1
            off, etype = 16, struct.unpack(">H", data[14:16])[0]
        elif link == 276:  # Linux cooked v2
            off, etype = 20, struct.unpack(">H", data[0:2])[0]
        elif link in (101, 12, 228, 229):  # raw IP
            off, etype = 0, 0x0800 if data[0] >> 4 == 4 else 0x86DD
        elif link == 0:  # BSD loopback
            off, etype = 4, 0x0800 if data[4] >> 4 == 4 else 0x86DD
        else:
            return None
        if etype == 0x0800:
            if data[off + 9] != 6:
                return None
            off += (data[off] & 0x0F) * 4
        elif etype == 0x86DD:
            if data[off + 6] != 6:
                return None
            off += 40
        else:
            return None
        off += (data[off + 12] >> 4) * 4
        return off if off < len(data) else None
    except (IndexError, struct.error):
        return None


LEN64 = [0, 1, 125, 126, 65535, 65536, 2**31 - 1, 2**32, 2**63 - 1, 2**64 - 1]


def mutate_payload(payload: bytes, op: tuple) -> bytes:
    """One WebSocket-frame-header mutation at the start of a TCP payload (where a frame
    usually starts); `op` = (what, a, b)."""
    what, a, b = op
    p = bytearray(payload)
    if what == "flip":  # a bit flip, mostly in the first 14 bytes (the frame header)
        i = a % min(len(p), 14) if b % 4 else a % len(p)
        p[i] ^= 1 << (b % 8)
    elif what == "opcode":
        p[0] = (p[0] & 0xF0) | (a % 16)
    elif what == "finrsv":
        p[0] = (p[0] & 0x0F) | ((a % 16) << 4)
    elif what == "mask":
        if len(p) > 1:
            p[1] ^= 0x80
    elif what == "len7":
        if len(p) > 1:
            p[1] = (p[1] & 0x80) | (a % 128)
    elif what == "len16" and len(p) > 1:
        p[1] = (p[1] & 0x80) | 126
        p[2:4] = struct.pack(">H", [0, 1, 125, 126, 65535][a % 5])
    elif what == "len64" and len(p) > 1:
        p[1] = (p[1] & 0x80) | 127
        p[2:10] = struct.pack(">Q", LEN64[a % len(LEN64)])
    elif what == "insert":
        i = a % (len(p) + 1)
        p[i:i] = bytes((b + k * 31) % 256 for k in range(1 + b % 40))
    elif what == "cut":
        i = a % len(p)
        del p[i : i + 1 + b % 200]
    return bytes(p)


# ---------------------------------------------------------------- the operations

U32 = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFF, 65536, 262144]
TS_EXTREMES = ["zero", "max32", "backwards", "far_future", "same", "jump_hour"]
LINKS = [0, 1, 101, 113, 276, 228, 229, 12, 14, 105, 127, 147, 0xFFFF, 0xFFFFFFFF]

small = st.integers(0, 2**16)
packet_ops = st.one_of(
    st.tuples(st.just("ts"), small, st.sampled_from(TS_EXTREMES)),
    st.tuples(st.just("frac"), small, st.sampled_from([1_000_000, 999_999_999, 0xFFFFFFFF])),
    st.tuples(st.just("dup"), small, small),
    st.tuples(st.just("swap"), small, small),
    st.tuples(st.just("delete"), small, st.integers(1, 50)),
    st.tuples(st.just("splice"), small, small),
    st.tuples(
        st.just("ws"),
        small,
        st.tuples(
            st.sampled_from(
                ["flip", "opcode", "finrsv", "mask", "len7", "len16", "len64", "insert", "cut"]
            ),
            small,
            small,
        ),
    ),
    st.tuples(st.just("ws_handshake"), small, st.tuples(st.just("flip"), small, small)),
    st.tuples(st.just("incl"), small, st.sampled_from(["+1", "-1", "0", "huge", "snap+1"])),
    st.tuples(st.just("orig"), small, st.sampled_from(["0", "less", "huge"])),
    st.tuples(st.just("ifid"), small, st.sampled_from([1, 7, 0xFFFFFFFF])),
)


def _ts_value(cap: Capture, p: Packet, prev: Packet | None, how: str) -> int:
    r = cap.res
    return {
        "zero": 0,
        "max32": 0xFFFFFFFF * r + r - 1,
        "backwards": (prev.ts if prev else p.ts) - 3600 * r,
        "far_future": p.ts + 10**6 * 86400 * r,
        "same": prev.ts if prev else p.ts,
        "jump_hour": p.ts + 3600 * r,
    }[how] & 0xFFFFFFFFFFFFFFFF


def apply_packet_op(cap: Capture, op: tuple, other: Capture | None) -> None:
    what, a, b = op
    pk = cap.packets
    if not pk:
        return
    i = a % len(pk)
    if what == "ts":
        pk[i].ts = _ts_value(cap, pk[i], pk[i - 1] if i else None, b)
    elif what == "frac":
        pk[i].frac = b
    elif what == "dup":
        pk.insert(b % (len(pk) + 1), replace(pk[i]))
    elif what == "swap":
        j = b % len(pk)
        pk[i], pk[j] = pk[j], pk[i]
    elif what == "delete":
        del pk[i : i + b]
    elif what == "splice" and other and other.packets:
        q = replace(other.packets[b % len(other.packets)], ifid=0)
        pk.insert(i, q)
    elif what in ("ws", "ws_handshake"):
        link = cap.links[0][0]
        cands = []
        for k, p in enumerate(pk):
            off = tcp_payload_offset(link, p.data)
            if off is None:
                continue
            http = p.data[off : off + 5] in (b"GET /", b"HTTP/")
            if http == (what == "ws_handshake"):
                cands.append((k, off))
        if not cands:
            return
        k, off = cands[i % len(cands)]
        p = pk[k]
        new = p.data[:off] + mutate_payload(p.data[off:], b)
        p.orig += len(new) - len(p.data)
        p.data = new
    elif what == "incl":
        n, snap = len(pk[i].data), cap.links[0][1]
        pk[i].incl = {
            "+1": n + 1,
            "-1": max(n - 1, 0),
            "0": 0,
            "huge": 0xFFFFFFF0,
            "snap+1": snap + 1,
        }[b]
    elif what == "orig":
        n = len(pk[i].data)
        pk[i].orig = {"0": 0, "less": n // 2, "huge": 0xFFFFFFFF}[b]
    elif what == "ifid":
        pk[i].ifid = b


pcap_header_ops = st.one_of(
    st.tuples(
        st.just("magic"),
        st.sampled_from(
            [0xA1B2C3D4, 0xA1B23C4D, 0xD4C3B2A1, 0x4D3CB2A1, 0xA1B2CD34, 0, 0x0A0D0D0A]
        ),
    ),
    st.tuples(st.just("endian"), st.just(">")),
    st.tuples(st.just("major"), st.sampled_from([0, 1, 3, 0xFFFF])),
    st.tuples(st.just("minor"), st.sampled_from([0, 1, 0xFFFF])),
    st.tuples(st.just("zone"), st.sampled_from([-(2**31), -3600, 3600, 2**31 - 1])),
    st.tuples(st.just("snaplen"), st.sampled_from([*U32, 14, 54, 60, 64, 96])),
    st.tuples(st.just("link"), st.sampled_from(LINKS)),
)

pcapng_block_ops = st.one_of(
    st.tuples(st.just("endian"), st.just(0), st.just(0)),
    st.tuples(st.just("bom"), st.just(0), st.sampled_from([0, 0x4D3C2B1A, 0xFFFFFFFF])),
    st.tuples(st.just("version"), st.just(0), st.sampled_from([0, 2, 0xFFFF])),
    st.tuples(st.just("section_len"), st.just(0), st.sampled_from([0, 1, 2**62, 12])),
    st.tuples(st.just("idb_link"), small, st.sampled_from(LINKS)),
    st.tuples(st.just("idb_snap"), small, st.sampled_from([*U32, 14, 54])),
    st.tuples(
        st.just("idb_opt"),
        small,
        st.sampled_from(
            ["tsresol0", "tsresol_max", "tsresol_bin", "fcslen", "badlen", "noend", "huge_opt"]
        ),
    ),
    st.tuples(st.just("drop_idb"), small, st.just(0)),
    st.tuples(
        st.just("btype"), small, st.sampled_from([0, 2, 3, 4, 5, 7, 0xBAD, 0x80000001, SHB, IDB])
    ),
    st.tuples(st.just("lead"), small, st.sampled_from(["+4", "-4", "+1", "0", "12", "huge"])),
    st.tuples(st.just("trail"), small, st.sampled_from(["+4", "0", "huge"])),
    st.tuples(st.just("second_section"), small, st.just(0)),
    st.tuples(st.just("epb_cap"), small, st.sampled_from(["+1", "+8", "huge", "0"])),
)

container_ops = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 1000)),
    st.tuples(st.just("garbage"), st.integers(1, 64)),
    st.tuples(st.just("gzip"), st.just(0)),
    st.tuples(st.just("gzip_cut"), st.integers(1, 999)),
    st.tuples(st.just("gzip_badcrc"), st.just(0)),
)


def apply_pcapng_op(blocks: list[list], e: str, op: tuple) -> None:
    """Mutate the block list (encoded in byte order `e`) in place."""
    what, a, b = op
    idbs = [blk for blk in blocks if blk[0] == IDB]
    epbs = [blk for blk in blocks if blk[0] == EPB]
    if what == "bom":
        blocks[0][1] = struct.pack(e + "I", b) + blocks[0][1][4:]
    elif what == "version":
        blocks[0][1] = blocks[0][1][:4] + struct.pack(e + "H", b) + blocks[0][1][6:]
    elif what == "section_len":
        blocks[0][1] = blocks[0][1][:8] + struct.pack(e + "q", b) + blocks[0][1][16:]
    elif what == "idb_link" and idbs:
        blk = idbs[a % len(idbs)]
        blk[1] = struct.pack(e + "H", b & 0xFFFF) + blk[1][2:]
    elif what == "idb_snap" and idbs:
        blk = idbs[a % len(idbs)]
        blk[1] = blk[1][:4] + struct.pack(e + "I", b) + blk[1][8:]
    elif what == "idb_opt" and idbs:
        blk = idbs[a % len(idbs)]
        opt = {
            "tsresol0": _opt(e, 9, b"\x00"),
            "tsresol_max": _opt(e, 9, b"\x7f"),
            "tsresol_bin": _opt(e, 9, b"\xbf"),
            "fcslen": _opt(e, 13, b"\x04"),
            "badlen": struct.pack(e + "HH", 9, 200) + b"\x06\0\0\0",
            "noend": _opt(e, 2, b"eth0"),
            "huge_opt": struct.pack(e + "HH", 2, 0xFFFF),
        }[b]
        blk[1] = blk[1][:8] + opt + blk[1][8:]
    elif what == "drop_idb" and idbs:
        blocks.remove(idbs[a % len(idbs)])
    elif what == "btype" and len(blocks) > 1:
        blocks[1 + a % (len(blocks) - 1)][0] = b
    elif what in ("lead", "trail"):
        blk = blocks[a % len(blocks)]
        n = len(blk[1]) + 12
        val = {"+4": n + 4, "-4": n - 4, "+1": n + 1, "0": 0, "12": 12, "huge": 0xFFFFFFF0}[b]
        blk[2 if what == "lead" else 3] = val
    elif what == "second_section":
        i = 1 + a % len(blocks)
        blocks[i:i] = [list(blk) for blk in blocks[: 1 + len(idbs)]]
    elif what == "epb_cap" and epbs:
        blk = epbs[a % len(epbs)]
        (cap,) = struct.unpack(e + "I", blk[1][12:16])
        cap = {"+1": cap + 1, "+8": cap + 8, "huge": 0xFFFFFFF0, "0": 0}[b]
        blk[1] = blk[1][:12] + struct.pack(e + "I", cap & 0xFFFFFFFF) + blk[1][16:]


def _reencode(blocks: list[list], old: str, new: str) -> None:
    """Byte-swap the fixed-width fields of every block (bodies of known blocks only)."""
    if old == new:
        return
    for blk in blocks:
        t, body = blk[0], blk[1]
        if t == SHB:
            bom, ma, mi, sl = struct.unpack(old + "IHHq", body[:16])
            rest = _swap_opts(body[16:], old, new)
            blk[1] = struct.pack(new + "IHHq", bom, ma, mi, sl) + rest
        elif t == IDB:
            link, r, snap = struct.unpack(old + "HHI", body[:8])
            blk[1] = struct.pack(new + "HHI", link, r, snap) + _swap_opts(body[8:], old, new)
        elif t == EPB:
            fields = struct.unpack(old + "IIIII", body[:20])
            blk[1] = struct.pack(new + "IIIII", *fields) + body[20:]


def _swap_opts(opts: bytes, old: str, new: str) -> bytes:
    out, pos = [], 0
    while pos + 4 <= len(opts):
        code, n = struct.unpack(old + "HH", opts[pos : pos + 4])
        val = opts[pos + 4 : pos + 4 + n + (-n % 4)]
        out.append(struct.pack(new + "HH", code, n) + val)
        pos += 4 + n + (-n % 4)
    return b"".join(out) + opts[pos:]


def apply_container_op(raw: bytes, op: tuple) -> bytes:
    what, a = op
    if what == "truncate":  # cut at a point in the last half (a per mille of the rest)
        return raw[: len(raw) // 2 + (len(raw) // 2) * a // 1000]
    if what == "garbage":
        return raw + bytes((a * 37 + k * 11) % 256 for k in range(a))
    gz = gzip.compress(raw, compresslevel=1, mtime=0)
    if what == "gzip":
        return gz
    if what == "gzip_cut":
        return gz[: max(10, len(gz) * a // 1000)]
    if what == "gzip_badcrc":
        crc = struct.unpack("<I", gz[-8:-4])[0] ^ 0xDEADBEEF
        return gz[:-8] + struct.pack("<I", crc) + gz[-4:]
    return raw


def _plain(raw: bytes) -> bytes:
    if raw[:2] == b"\x1f\x8b":
        try:
            return zlib.decompressobj(31).decompress(raw)
        except zlib.error:
            pass
    return raw


def secrets_intact(plain: bytes, requests: list[bytes]) -> bool:
    """Every marker in the mutant sits in a planted HTTP request that is still whole."""
    kept = [r for r in set(requests) if r in plain]
    return bool(kept) and plain.count(b"LEAK") == sum(
        plain.count(r) * r.count(b"LEAK") for r in kept
    )


COMMANDS = {
    "analyze": ["analyze", "{D}/INPUT", "--format", "html,md,json", "-o", "{O}/report"],
    "sessions": ["sessions", "{D}/INPUT", "--format", "json", "-o", "-"],
    "frames": ["frames", "{D}/INPUT", "--format", "json", "-o", "-"],
}


@st.composite
def capture_cases(draw, fmt: str) -> Case:
    """A mutant of a real capture, written as `fmt` ('pcap' or 'pcapng')."""
    paths = seeds.captures()
    seed = draw(st.sampled_from(paths))
    raw, requests = plant_secrets(seed.read_bytes())
    cap = parse(raw)
    other = parse(draw(st.sampled_from(paths)).read_bytes())
    ops: list = []
    for op in draw(st.lists(packet_ops, max_size=4)):
        apply_packet_op(cap, op, other)
        ops.append(op)
    if fmt == "pcap":
        if len({link for link, _ in cap.links}) > 1:
            cap.packets = [p for p in cap.packets if p.ifid == 0]
        hdr = dict(draw(st.lists(pcap_header_ops, max_size=2)))
        ops += [("pcap", k, v) for k, v in hdr.items()]
        out = to_pcap(cap, hdr)
    else:
        # the blocks are built and mutated little-endian, then re-encoded as drawn
        blocks = pcapng_blocks(cap, "<")
        order = draw(st.sampled_from("<>"))
        for op in draw(st.lists(pcapng_block_ops, max_size=3)):
            if op[0] == "endian":
                order = ">" if order == "<" else "<"
            else:
                apply_pcapng_op(blocks, "<", op)
            ops.append(op)
        if order == ">":
            ops.append(("big-endian",))
        _reencode(blocks, "<", order)
        out = join_blocks(blocks, order)
    for op in draw(st.lists(container_ops, max_size=2)):
        out = apply_container_op(out, op)
        ops.append(op)
    command = draw(st.sampled_from(["analyze"] * 6 + ["sessions", "frames"]))
    name = f"input.{fmt}"
    argv = [a.replace("INPUT", name) for a in COMMANDS[command]]
    if command == "analyze" and draw(st.booleans()):
        argv += ["--jobs", "2"]  # cut by TCP connection, two tsharks, rows put back
    return Case(
        fmt,
        {name: out},
        [argv],
        name,
        seeds.display(seed),
        ops,
        secrets_intact=secrets_intact(_plain(out), requests),
    )
