"""The session features the YAML rules read, checked against independent evidence.

Expected values come from plain tshark queries (explicit fields and display filters, run
here in a subprocess), from `openssl x509` on the certificate bytes tshark extracts, or
from the samples' READMEs; never from the engine itself. Small synthetic tables check the
pure expressions (reason windows) and the attribution of binary payloads to frames.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from analyzer.features.closing import reason_window_s
from analyzer.ingest import tshark_argv
from analyzer.ingest.frames import explode_frames
from analyzer.ingest.packets import normalise
from analyzer.ingest.tshark_argv import AGGREGATOR, FIELDS
from analyzer.pipeline import load

from conftest import SAMPLES, ZEEK, loaded

KEEPALIVE = SAMPLES / "keepalive-binary" / "capture.pcap"
IDLE = SAMPLES / "idle-1011" / "capture.pcap"
FORGED = SAMPLES / "forged-rst" / "capture.pcap"
PING = SAMPLES / "client-ping-timeout" / "capture.pcap"
HAPROXY = SAMPLES / "haproxy-tunnel-timeout" / "capture.pcap"
WSS = SAMPLES / "wss-keylog"
KEEPALIVE_JSON = '{"type": "KeepAlive"}'
# The options the samples' expected.yaml facts were computed with.
OPTIONS = (
    "-n",
    "-o",
    "tcp.desegment_tcp_streams:TRUE",
    "-o",
    "tcp.reassemble_out_of_order:TRUE",
    "-o",
    "websocket.decompress:TRUE",
)


def tshark_rows(
    path: Path, display: str, *fields: str, keylog: Path | None = None
) -> list[list[str]]:
    """Plain `tshark -T fields`, one list of values per packet (occurrences joined by ';')."""
    argv = ["tshark", "-r", str(path), *OPTIONS, "-Y", display, "-T", "fields"]
    argv += ["-E", "occurrence=a", "-E", "aggregator=;"]
    if keylog:
        argv += ["-o", f"tls.keylog_file:{keylog}"]
    argv += [arg for f in fields for arg in ("-e", f)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def epoch(text: str) -> datetime:
    return datetime.fromtimestamp(float(text), UTC)


def same_time(engine: datetime | None, text: str) -> bool:
    """frame.time_epoch through a float is good to about a microsecond."""
    return engine is not None and abs((engine - epoch(text)).total_seconds()) < 2e-6


def only_session(path: Path, keylog: Path | None = None) -> dict[str, Any]:
    sessions = loaded(path, keylog).sessions
    assert sessions.height == 1
    return sessions.row(0, named=True)


# --------------------------------------------------------------------------------------------
# 1. JSON in small binary frames
# --------------------------------------------------------------------------------------------


def test_keepalive_sent_as_binary_is_counted_from_its_first_frame() -> None:
    rows = tshark_rows(
        KEEPALIVE,
        "websocket.opcode == 2 && websocket.payload_length == 21",
        "frame.number",
        "data.data",
    )
    assert rows, "the sample's README promises 21-byte binary KeepAlives"
    assert {bytes.fromhex(data).decode() for _, data in rows} == {KEEPALIVE_JSON}
    row = only_session(KEEPALIVE)
    assert row["keepalive_binary_client"] == len(rows) > 0
    assert row["keepalive_binary_client_frame"] == int(rows[0][0])
    assert row["control_json_binary_client"] == len(rows)
    assert row["keepalive_client"] == 0  # the text-frame count is untouched
    binary = tshark_rows(KEEPALIVE, "websocket.opcode == 2 && websocket.mask == 1", "frame.number")
    assert row["audio_frames_client"] == len(binary) - len(rows)


def test_binary_frames_get_their_json_type_in_the_frames_table() -> None:
    frames = loaded(KEEPALIVE).frames.filter(pl.col("opcode") == "binary")
    small = tshark_rows(KEEPALIVE, "websocket.payload_length == 21", "frame.number")
    typed = frames.filter(pl.col("json_type") == "KeepAlive")["frame"].to_list()
    assert typed == [int(r[0]) for r in small]
    assert frames.filter(pl.col("payload_len") > 125)["json_type"].null_count() == 20


def test_payload_pass_runs_only_when_small_binary_frames_exist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[str]] = []
    real = tshark_argv.payload_command

    def spy(*args: Any, **kwargs: Any) -> list[str]:
        argv = real(*args, **kwargs)
        calls.append(argv)
        return argv

    monkeypatch.setattr(tshark_argv, "payload_command", spy)
    idle = load([IDLE])
    assert calls == []
    load([KEEPALIVE])
    assert len(calls) == 1
    # Run beside the first pass, it asks by display filter, not by frame list: the filter
    # must keep exactly the packets of the capture's small JSON binary frames.
    asked = calls[0][calls[0].index("-Y") + 1]
    assert asked == tshark_argv.SMALL_BINARY_FILTER
    small = tshark_rows(KEEPALIVE, "websocket.payload_length == 21", "frame.number")
    assert tshark_rows(KEEPALIVE, asked, "frame.number") == small
    row = idle.sessions.row(0, named=True)
    client_binary = tshark_rows(
        IDLE, "websocket.opcode == 2 && websocket.mask == 1", "frame.number"
    )
    assert row["keepalive_binary_client"] == row["control_json_binary_client"] == 0
    assert row["audio_frames_client"] == len(client_binary) == row["binary_frames_client"]


SEP = AGGREGATOR
KEEPALIVE_HEX = KEEPALIVE_JSON.encode().hex()
CLOSESTREAM_HEX = b'{"type": "CloseStream"}'.hex()  # 23 bytes


def _packet_frames(ws: dict[str, str], payloads: list[str] | None) -> pl.DataFrame:
    """One packet as tshark's fields print it, plus the payload pass's data.data values."""
    row: dict[str, str | None] = dict.fromkeys(FIELDS)
    row.update(frame_no="9", ts="1700000000.5", stream="0", ip_src="10.0.0.1", ip_dst="10.0.0.2")
    row.update(sport="40000", dport="443", tcp_len="999", tcp_flags="0x0018")
    row.update({f"ws_{k}": v for k, v in ws.items()})
    packets = normalise(pl.DataFrame([row], schema=dict.fromkeys(FIELDS, pl.String)), 0)
    packets = packets.with_columns(pl.lit(payloads, pl.List(pl.String)).alias("ws_binary"))
    frames, bad = explode_frames(packets)
    assert bad.height == 0
    return frames


def test_payloads_are_matched_by_length_and_rank_when_a_packet_has_several_frames() -> None:
    audio = "00" * 3200
    frames = _packet_frames(
        dict(
            fin=SEP.join("111"),
            rsv=SEP.join(["0x00"] * 3),
            opcode=SEP.join("222"),
            mask=SEP.join("111"),
            len7=SEP.join(["126", "21", "23"]),
            len16="3200",
        ),
        [audio, KEEPALIVE_HEX, CLOSESTREAM_HEX],
    )
    assert frames["json_type"].to_list() == [None, "KeepAlive", "CloseStream"]


def test_payloads_that_cannot_be_attributed_stay_null() -> None:
    # Two 21-byte frames but one 21-byte value (a subdissector took the other): no guess.
    frames = _packet_frames(
        dict(
            fin=SEP.join("11"),
            rsv=SEP.join(["0x00"] * 2),
            opcode=SEP.join("22"),
            mask=SEP.join("11"),
            len7=SEP.join(["21", "21"]),
        ),
        [KEEPALIVE_HEX],
    )
    assert frames["json_type"].to_list() == [None, None]


def test_a_fragmented_message_does_not_shift_the_small_frame_payload() -> None:
    # binary fin=0 (5 B) + continuation fin=1 (7 B) -> one 12-byte reassembled value; then a
    # whole 21-byte binary frame with its own value.
    frames = _packet_frames(
        dict(
            fin=SEP.join("011"),
            rsv=SEP.join(["0x00"] * 3),
            opcode=SEP.join("202"),
            mask=SEP.join("111"),
            len7=SEP.join(["5", "7", "21"]),
        ),
        ["7b" * 12, KEEPALIVE_HEX],
    )
    assert frames["json_type"].to_list() == [None, None, "KeepAlive"]


def test_a_lone_compressed_frame_takes_its_decompressed_payload() -> None:
    frames = _packet_frames(
        dict(fin="1", rsv="0x04", opcode="2", mask="1", len7="19"), [KEEPALIVE_HEX]
    )
    assert frames["json_type"].to_list() == ["KeepAlive"]


# --------------------------------------------------------------------------------------------
# 2. The server's certificate
# --------------------------------------------------------------------------------------------


def _openssl_names(path: Path, keylog: Path | None) -> tuple[str, str]:
    """Subject and issuer of the server's first certificate, as openssl prints them."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed as the independent certificate parser")
    rows = tshark_rows(
        path, "tls.handshake.certificate", "tls.handshake.certificate", keylog=keylog
    )
    der = bytes.fromhex(rows[0][0].split(";")[0])
    out = subprocess.run(
        [
            "openssl",
            "x509",
            "-inform",
            "DER",
            "-noout",
            "-subject",
            "-issuer",
            "-nameopt",
            "RFC2253",
        ],
        input=der,
        capture_output=True,
        check=True,
    ).stdout.decode()
    fields = dict(line.split("=", 1) for line in out.splitlines())
    return fields["subject"], fields["issuer"]


def test_tls13_certificate_is_read_with_the_key_log_only() -> None:
    keys = WSS / "keys.log"
    subject, issuer = _openssl_names(WSS / "capture.pcap", keys)
    assert subject == "CN=api.deepgram.test"  # the README's openssl -subj
    row = only_session(WSS / "capture.pcap", keys)
    assert (row["tls_cert_subject"], row["tls_cert_issuer"]) == (subject, issuer)
    # TLS 1.3 encrypts the Certificate message: without keys tshark shows none.
    assert tshark_rows(WSS / "capture.pcap", "tls.handshake.certificate", "frame.number") == []
    plain = only_session(WSS / "capture.pcap")
    assert plain["tls_cert_subject"] is None and plain["tls_cert_issuer"] is None
    embedded = only_session(WSS / "capture-with-secrets.pcapng")
    assert embedded["tls_cert_subject"] == subject


def test_plain_websocket_has_no_certificate() -> None:
    row = only_session(IDLE)
    assert row["tls_cert_subject"] is None and row["tls"] is False


# --------------------------------------------------------------------------------------------
# 3. Two-way idle before teardown, session age
# --------------------------------------------------------------------------------------------


def test_idle_before_end_counts_payload_in_both_directions() -> None:
    data = loaded(HAPROXY)
    for row in data.sessions.to_dicts():
        stream = f"tcp.stream == {row['tcp_stream']}"
        payload = tshark_rows(
            HAPROXY,
            f"{stream} && tcp.len > 0 && !tcp.analysis.retransmission",
            "frame.time_epoch",
        )
        ends = tshark_rows(
            HAPROXY, f"{stream} && (tcp.flags.fin == 1 || tcp.flags.reset == 1)", "frame.time_epoch"
        )
        upgraded = tshark_rows(
            HAPROXY, f"{stream} && http.response.code == 101", "frame.time_epoch"
        )
        last, end = epoch(payload[-1][0]), epoch(ends[0][0])
        assert same_time(row["last_payload_time"], payload[-1][0])
        assert row["idle_before_end_s"] == pytest.approx((end - last).total_seconds(), abs=1e-5)
        # The README: HAProxy's `timeout tunnel 30s`.
        assert 29.9 < row["idle_before_end_s"] < 30.2
        age = (end - epoch(upgraded[0][0])).total_seconds()
        assert row["session_age_s"] == pytest.approx(age, abs=1e-5)


# --------------------------------------------------------------------------------------------
# 4. Windows named in close reasons
# --------------------------------------------------------------------------------------------


def test_reason_window_parsing() -> None:
    reasons = {
        "idle timeout 30s": 30.0,
        "no data for 30 seconds": 30.0,
        "within 10000 ms": 10.0,
        "session exceeded 2.5 min": 150.0,
        "Timeout: 1 hour": 3600.0,
        "Deepgram did not receive audio data or a text message within the timeout window. "
        "See https://dpgr.am/net0001": None,
        "keepalive ping timeout": None,
        "sent 3 messages": None,
        "frame over 10MB": None,
        "": None,
        None: None,
    }
    df = pl.DataFrame({"reason": list(reasons)}, schema={"reason": pl.String})
    got = df.select(reason_window_s(pl.col("reason")).alias("w"))["w"].to_list()
    assert got == list(reasons.values())


def test_deepgram_close_reasons_name_no_window() -> None:
    row = only_session(IDLE)
    assert row["close_server_reason"].endswith("net0001")
    assert row["close_server_reason_window_s"] is None
    assert row["close_client_reason_window_s"] is None


# --------------------------------------------------------------------------------------------
# 5. Deepgram endpoint
# --------------------------------------------------------------------------------------------


def test_deepgram_flag_on_the_samples_and_not_on_zeek_traces(zeek_traces: list[Path]) -> None:
    assert only_session(IDLE)["deepgram"] is True
    for trace in zeek_traces:
        sessions = loaded(trace).sessions
        assert sessions.height > 0, trace
        assert not sessions["deepgram"].any(), trace


# --------------------------------------------------------------------------------------------
# 6. Forged RST evidence
# --------------------------------------------------------------------------------------------


def test_forged_rst_evidence_matches_plain_tshark() -> None:
    server = "127.0.0.21"  # the README: the RST claims to come from 127.0.0.21:8080
    fields = ("frame.number", "ip.ttl", "ip.id", "tcp.len", "tcp.flags.reset")
    rows = tshark_rows(FORGED, f"ip.src == {server}", *fields)
    rst = next(r for r in rows if r[4] in ("1", "True"))
    before = [r for r in rows if int(r[0]) < int(rst[0])]
    usual_ttl = statistics.mode(int(r[1]) for r in rows if r[4] not in ("1", "True"))
    row = only_session(FORGED)
    assert row["rst_server_ttl_delta"] == int(rst[1]) - usual_ttl == 47 - 64
    after = [r for r in rows if int(r[0]) > int(rst[0]) and int(r[3]) > 0]
    assert row["payload_after_rst_server"] == len(after)
    # The engine reads packets with payload or flags; pure ACKs are not among them.
    kept = [r for r in before if int(r[3]) > 0]
    assert row["ip_id_gap_rst_server"] == int(rst[2], 16) - int(kept[-1][2], 16)
    assert row["rst_client_ttl_delta"] == 0  # the client host's own RST (frame 77)


def test_no_rst_means_no_rst_evidence() -> None:
    row = only_session(IDLE)
    assert row["rst_server_ttl_delta"] is None and row["ip_id_gap_rst_server"] is None
    assert row["payload_after_rst_server"] == 0 and row["payload_after_rst_client"] == 0


# --------------------------------------------------------------------------------------------
# 7. Unanswered pings
# --------------------------------------------------------------------------------------------


def test_first_unanswered_ping_is_the_one_after_the_last_pong() -> None:
    pings = tshark_rows(
        PING, "websocket.opcode == 9 && websocket.mask == 1", "frame.number", "frame.time_epoch"
    )
    pongs = tshark_rows(PING, "websocket.opcode == 10 && websocket.mask == 0", "frame.number")
    last_pong = max(int(r[0]) for r in pongs)
    frame, time = next(r for r in pings if int(r[0]) > last_pong)
    row = only_session(PING)
    assert row["first_unanswered_ping_client_frame"] == int(frame) == 79  # the README's ping
    assert same_time(row["first_unanswered_ping_client_time"], time)
    assert row["first_unanswered_ping_server_frame"] is None


def test_answered_pings_leave_no_unanswered_ping(zeek_traces: list[Path]) -> None:
    trace = next(t for t in zeek_traces if t.name == "reply-ping-separate.pcap")
    assert ZEEK in trace.parents
    row = loaded(trace).sessions.row(0, named=True)
    pongs = tshark_rows(trace, "websocket.opcode == 10", "frame.number")
    assert pongs, "the trace answers its ping"
    assert row["first_unanswered_ping_client_frame"] is None
    assert row["first_unanswered_ping_server_frame"] is None
