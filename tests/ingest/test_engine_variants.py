"""The capture engine on the harder shapes real captures come in, checked frame by frame.

Every input is a real recording from sample_captures/ (see each folder's README for how it
was made and the facts verified there with plain tshark):

- ipv6-cooked: IPv6 loopback captured on Linux "any" -> pcapng with Linux cooked v2 headers;
- lossy-stream: 5 % of client->server packets dropped on a router namespace, so the kernel
  really retransmitted and audio frames are only complete after out-of-order reassembly;
- vlan-tagged: clean-close with an 802.1Q tag (id 42) on every packet (tcprewrite);
- mid-session: clean-close from packet 52 on (editcap), as if tcpdump had started late;
- gzip and pcapng copies of real samples, made here in tmp_path.

The reference is tests/independent_ws.py, a pure-Python decoder sharing nothing with the
engine, or (mid-session, which it cannot decode without a handshake) the engine's own
decoding of the complete original capture cross-checked by that decoder. The engine always
runs as users run it: `python -m analyzer frames|sessions CAPTURE --format json -o -`.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

import independent_ws as iw
from conftest import SAMPLES, cli_json

# (from_client, fin, opcode, payload_len, close_code, frame): what must match exactly.
FrameKey = tuple[bool, bool, str, int, int | None, int]

CLEAN = SAMPLES / "clean-close" / "capture.pcap"
IPV6 = SAMPLES / "ipv6-cooked" / "capture.pcapng"
LOSSY = SAMPLES / "lossy-stream" / "capture.pcap"
VLAN = SAMPLES / "vlan-tagged" / "capture.pcap"
MID = SAMPLES / "mid-session" / "capture.pcap"

LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2 = 1, 276
MID_FIRST_PACKET = 52  # clean-close packet that became mid-session packet 1 (its record.log)


# --------------------------------------------------------------------------------------------
# Engine and oracle, each run once per file
# --------------------------------------------------------------------------------------------


@functools.cache
def engine_frames(path: str) -> list[dict[str, Any]]:
    """`wsdoctor frames PATH --format json -o -` (a JSON list)."""
    frames = cli_json("frames", path)
    assert isinstance(frames, list), "frames --format json must be a JSON list"
    return frames


@functools.cache
def engine_sessions(path: str) -> list[dict[str, Any]]:
    """`wsdoctor sessions PATH --format json -o -` (a JSON list)."""
    sessions = cli_json("sessions", path)
    assert isinstance(sessions, list), "sessions --format json must be a JSON list"
    return sessions


def only_session(path: Path) -> dict[str, Any]:
    """Each sample holds exactly one WebSocket connection; anything else is a finding."""
    sessions = engine_sessions(str(path))
    assert len(sessions) == 1, [(s["id"], s["client"], s["server"]) for s in sessions]
    return sessions[0]


def engine_keys(path: Path, session: str | None = None) -> list[FrameKey]:
    """The engine's frames (of one session, if given) as keys, in capture order; the sort is
    stable, so frames completed by one packet keep the engine's order."""
    frames = [f for f in engine_frames(str(path)) if session is None or f["session"] == session]
    return [
        (f["from_client"], f["fin"], f["opcode"], f["payload_len"], f["close_code"], f["frame"])
        for f in sorted(frames, key=lambda f: f["frame"])
    ]


@functools.cache
def oracle(path: Path) -> iw.Connection:
    """The independent decoding of the capture's one WebSocket connection."""
    conns = iw.websocket_connections(path)
    assert len(conns) == 1, [(c.client, c.server) for c in conns]
    return conns[0]


def oracle_keys(conn: iw.Connection) -> list[FrameKey]:
    return [
        (f.from_client, f.fin, f.opcode_name, f.payload_len, f.close_code, f.frame_no)
        for f in conn.frames
    ]


def diff_text(expected: list[FrameKey], actual: list[FrameKey]) -> str:
    """Side by side, mismatches marked, for the assertion message."""
    lines = ["   expected                                         | engine"]
    for i in range(max(len(expected), len(actual))):
        exp = expected[i] if i < len(expected) else "-"
        act = actual[i] if i < len(actual) else "-"
        lines.append(f"{'  ' if exp == act else '!!'} {exp!s:<48} | {act}")
    return "\n".join(lines)


def assert_same_frames(expected: list[FrameKey], actual: list[FrameKey]) -> None:
    assert actual == expected, "\n" + diff_text(expected, actual)


def without_input(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Frame/session rows minus the fields that name the input file (which differs between a
    capture and its gzip/pcapng copy)."""
    return [{k: v for k, v in row.items() if k not in ("input", "input_index")} for row in rows]


# --------------------------------------------------------------------------------------------
# The samples are the hard cases their READMEs claim (so a re-recording cannot quietly
# turn a test into an easy one)
# --------------------------------------------------------------------------------------------


def test_ipv6_sample_is_cooked_v2_pcapng_over_ipv6() -> None:
    assert IPV6.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a", "not pcapng"
    packets = list(iw.read_packets(IPV6))
    assert {p.linktype for p in packets} == {LINKTYPE_LINUX_SLL2}
    ip_versions = {(iw.link_payload(p.linktype, p.data) or b"\0")[0] >> 4 for p in packets}
    assert ip_versions == {6}


def test_vlan_sample_tags_every_packet_with_id_42() -> None:
    packets = list(iw.read_packets(VLAN))
    assert len(packets) == len(list(iw.read_packets(CLEAN))) == 132
    for pkt in packets:
        tpid, tci, inner = struct.unpack_from(">HHH", pkt.data, 12)
        fields = (pkt.linktype, tpid, tci & 0x0FFF, tci >> 13, inner)
        assert fields == (LINKTYPE_ETHERNET, 0x8100, 42, 0, 0x0800)


def test_mid_session_sample_is_the_tail_of_clean_close() -> None:
    """Packet for packet (bytes and timestamps), mid-session is clean-close from packet 52:
    no SYN, no HTTP; the independent decoder therefore finds no upgrade in it."""
    full, tail = list(iw.read_packets(CLEAN)), list(iw.read_packets(MID))
    assert [(p.time_ns, p.data) for p in tail] == [
        (p.time_ns, p.data) for p in full[MID_FIRST_PACKET - 1 :]
    ]
    segments = [s for p in tail if (s := iw.tcp_segment(p)) is not None]
    assert not any(s.syn for s in segments)
    assert iw.websocket_connections(MID) == []


def test_lossy_sample_really_lost_and_reordered_client_data() -> None:
    """The oracle sees segments that arrived beyond a hole and frames completed by a packet
    other than the one carrying their last byte, i.e. by a retransmission filling a hole."""
    conn = oracle(LOSSY)
    assert conn.client_stream.out_of_order_segments >= 5
    assert conn.client_stream.hole_at is None  # every hole was repaired in the capture
    late = [f.frame_no for f in conn.frames if f.frame_no != _last_byte_packet(conn, f)]
    assert late == [17, 35, 57, 75, 115, 208, 219], late


def _last_byte_packet(conn: iw.Connection, frame: iw.WsFrame) -> int:
    """The packet that carried the frame's last byte (RFC 6455 header size from its length)."""
    stream = conn.client_stream if frame.from_client else conn.server_stream
    header = 2 + (4 if frame.masked else 0) + (2 if 126 <= frame.payload_len < 65536 else 0)
    header += 8 if frame.payload_len >= 65536 else 0
    return stream.delivered_by(frame.stream_offset + header + frame.payload_len - 1)


# --------------------------------------------------------------------------------------------
# ipv6-cooked
# --------------------------------------------------------------------------------------------


def test_ipv6_cooked_frames_equal_the_independent_decoder() -> None:
    session = only_session(IPV6)
    assert_same_frames(oracle_keys(oracle(IPV6)), engine_keys(IPV6, session["id"]))


def test_ipv6_nanosecond_timestamps_survive() -> None:
    """dumpcap writes if_tsresol = 9 (ns); each frame's time must be the packet's to within a
    microsecond (a reader assuming the pcapng default, us, would be off by a factor 1000)."""
    session = only_session(IPV6)
    frames = sorted(
        (f for f in engine_frames(str(IPV6)) if f["session"] == session["id"]),
        key=lambda f: f["frame"],
    )
    expected_ns = [f.time_ns for f in oracle(IPV6).frames]
    assert None not in expected_ns and len(frames) == len(expected_ns)
    for frame, ns in zip(frames, expected_ns, strict=True):
        got = dt.datetime.fromisoformat(frame["time"].replace("Z", "+00:00"))
        got_ns = int(got.timestamp()) * 1_000_000_000 + got.microsecond * 1000
        assert abs(got_ns - ns) < 1000, (frame["frame"], frame["time"], ns)


def test_ipv6_endpoints_are_bracketed_with_port() -> None:
    session, conn = only_session(IPV6), oracle(IPV6)
    assert re.fullmatch(r"\[::1\]:\d+", session["client"]), session["client"]
    assert session["server"] == "[::1]:8080"
    assert (session["client"], session["server"]) == (conn.client, conn.server)


def test_ipv6_cooked_session_is_a_complete_clean_close() -> None:
    """Facts from the README (tshark): 101 on /v1/listen, 30 audio frames, server close 1000
    first then the client's 1000, FIN both ways, nothing lost."""
    session = only_session(IPV6)
    assert session["kind"] == "websocket"
    assert (session["handshake"]["status"], session["handshake"]["path"]) == (101, "/v1/listen")
    assert session["traffic"]["binary_frames_client"] == 30
    close = session["close"]
    assert (close["close_first_by"], close["close_server_code"], close["close_client_code"]) == (
        "server",
        1000,
        1000,
    )
    assert (close["close_handshake"], close["tcp_end"], close["tcp_ended_by"]) == (
        "complete",
        "fin",
        "server",
    )
    assert session["tcp"]["syn_seen"] is True
    assert session["tcp"]["retransmission_count"] == session["tcp"]["lost_segment_count"] == 0


# --------------------------------------------------------------------------------------------
# lossy-stream
# --------------------------------------------------------------------------------------------


def test_lossy_frames_equal_the_independent_decoder() -> None:
    """Including the audio frames that straddle a lost segment: each must be reported once,
    whole, at the packet that completed it (e.g. the retransmission in packet 57)."""
    session = only_session(LOSSY)
    assert_same_frames(oracle_keys(oracle(LOSSY)), engine_keys(LOSSY, session["id"]))


def test_lossy_tcp_counters_match_tshark() -> None:
    """README facts (tshark expert markers): 7 lost_segment, 5 retransmission (4 of them
    fast), 2 out_of_order."""
    tcp = only_session(LOSSY)["tcp"]
    assert tcp["lost_segment_count"] > 0 and tcp["retransmission_count"] > 0
    counts = (tcp["lost_segment_count"], tcp["retransmission_count"], tcp["out_of_order_count"])
    assert counts == (7, 5, 2)


def test_lossy_session_still_ends_cleanly() -> None:
    """Loss slowed nothing down enough to matter: 50 audio frames, close 1000 both ways, and
    TCP ended with FINs (server FIN packet 252, client FIN 253); every address in 127/8."""
    session = only_session(LOSSY)
    assert session["client"].startswith("127.0.0.11:")
    assert session["server"] == "127.0.0.21:8080"
    assert session["traffic"]["binary_frames_client"] == 50
    close = session["close"]
    assert (close["close_server_code"], close["close_client_code"]) == (1000, 1000)
    assert (close["close_handshake"], close["tcp_end"]) == ("complete", "fin")
    assert session["tcp"]["fin_client_frame"] == 253


# --------------------------------------------------------------------------------------------
# vlan-tagged
# --------------------------------------------------------------------------------------------


def test_vlan_tag_changes_no_frame() -> None:
    """Same packets, four more bytes each: the frame timeline must be identical, field for
    field, to the untagged original's."""
    assert without_input(engine_frames(str(VLAN))) == without_input(engine_frames(str(CLEAN)))
    assert_same_frames(oracle_keys(oracle(VLAN)), engine_keys(VLAN))


def test_vlan_tag_changes_no_session_fact() -> None:
    assert without_input(engine_sessions(str(VLAN))) == without_input(engine_sessions(str(CLEAN)))


# --------------------------------------------------------------------------------------------
# mid-session
# --------------------------------------------------------------------------------------------


def expected_mid_session_frames() -> list[FrameKey]:
    """clean-close's frames from packet 52 on, renumbered: what a late capture contains. Taken
    from the independent decoding of clean-close and checked equal to the engine's there, so
    this expectation does not rest on the engine alone."""
    full = oracle_keys(oracle(CLEAN))
    assert_same_frames(full, engine_keys(CLEAN))
    shift = MID_FIRST_PACKET - 1
    return [(*k[:5], k[5] - shift) for k in full if k[5] >= MID_FIRST_PACKET]


def test_mid_session_expectation_matches_tshark_facts() -> None:
    """README facts (tshark -o tcp.try_heuristic_first:TRUE --enable-heuristic websocket_tcp):
    39 frames; 30 client audio frames in packets 1..67; client text (KeepAlive, KeepAlive,
    CloseStream) in 23, 25, 71; server text (3 Results, Metadata) in 21, 47, 69, 73; server
    close 1000 in 75, client close 1000 in 77."""
    expected = expected_mid_session_frames()
    assert len(expected) == 39
    audio = [k for k in expected if k[:4] == (True, True, "binary", 3200)]
    assert (len(audio), audio[0][5], audio[-1][5]) == (30, 1, 67)
    texts = [(k[0], k[5]) for k in expected if k[2] == "text"]
    client_texts = [frame for from_client, frame in texts if from_client]
    server_texts = [frame for from_client, frame in texts if not from_client]
    assert (client_texts, server_texts) == ([23, 25, 71], [21, 47, 69, 73])
    closes = [(k[0], k[4], k[5]) for k in expected if k[2] == "close"]
    assert closes == [(False, 1000, 75), (True, 1000, 77)]


def test_mid_session_frames_are_recovered_without_a_handshake() -> None:
    sessions = engine_sessions(str(MID))
    assert len(sessions) == 1, f"expected 1 recovered session, engine found {len(sessions)}"
    assert_same_frames(expected_mid_session_frames(), engine_keys(MID, sessions[0]["id"]))


def test_mid_session_is_marked_recovered_without_syn() -> None:
    session = only_session(MID)
    assert session["kind"] == "recovered"
    assert session["tcp"]["syn_seen"] is False
    assert (session["client"], session["server"]) == ("127.0.0.11:33553", "127.0.0.21:8080")


# --------------------------------------------------------------------------------------------
# Containers: gzip and pcapng copies of real samples
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", [CLEAN, IPV6, LOSSY], ids=lambda p: p.parent.name)
def test_gzip_copy_gives_the_same_frames_and_sessions(tmp_path: Path, sample: Path) -> None:
    packed = tmp_path / f"{sample.name}.gz"
    packed.write_bytes(gzip.compress(sample.read_bytes()))
    assert engine_frames(str(sample)), f"no frames in {sample}: nothing to compare"
    assert without_input(engine_frames(str(packed))) == without_input(engine_frames(str(sample)))
    assert without_input(engine_sessions(str(packed))) == without_input(
        engine_sessions(str(sample))
    )


@pytest.mark.parametrize("sample", [CLEAN, LOSSY, VLAN], ids=lambda p: p.parent.name)
def test_pcapng_conversion_gives_the_same_frames(tmp_path: Path, sample: Path) -> None:
    editcap = shutil.which("editcap")
    assert editcap, "editcap (wireshark-common) is needed to convert the sample"
    converted = tmp_path / "capture.pcapng"
    subprocess.run([editcap, "-F", "pcapng", str(sample), str(converted)], check=True)
    assert converted.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert without_input(engine_frames(str(converted))) == without_input(engine_frames(str(sample)))
    assert_same_frames(oracle_keys(oracle(converted)), engine_keys(converted))


# --------------------------------------------------------------------------------------------
# every plaintext recording, frame by frame (TLS and mid-session ones are covered above)
# --------------------------------------------------------------------------------------------

PLAIN = ["clean-close", "idle-1011", "client-killed", "deflate-stream"]


@pytest.mark.parametrize("name", PLAIN)
def test_recorded_sample_frames_equal_the_independent_decoder(name: str) -> None:
    """deflate-stream included: compression changes payloads, not the framing the decoder
    reads, so lengths must be the on-the-wire (compressed) ones."""
    capture = SAMPLES / name / "capture.pcap"
    session = only_session(capture)
    assert_same_frames(oracle_keys(oracle(capture)), engine_keys(capture, session["id"]))
