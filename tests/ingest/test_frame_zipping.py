"""The rank-based zipping of tshark's per-packet field lists (pure functions, small tables).

The inputs mimic what `tshark -T fields -E aggregator=0x1f` prints for one packet carrying
several WebSocket frames; the end-to-end proof on real captures is test_zeek_conformance.
"""

from __future__ import annotations

import polars as pl

from analyzer.ingest.frames import explode_frames
from analyzer.ingest.packets import normalise
from analyzer.ingest.tshark_argv import AGGREGATOR, FIELDS

SEP = AGGREGATOR


def _packet(frame_no: int, **ws: str) -> dict[str, str | None]:
    row: dict[str, str | None] = dict.fromkeys(FIELDS)
    row.update(
        frame_no=str(frame_no),
        ts="1700000000.123456789",
        stream="0",
        ip_src="127.0.0.21",
        ip_dst="127.0.0.11",
        sport="8080",
        dport="40000",
        tcp_len="100",
        tcp_flags="0x0018",
        ttl="64",
        ip_id="0x1234",
    )
    row.update({f"ws_{k}": v for k, v in ws.items()})
    return row


def _frames(*packets: dict[str, str | None]) -> tuple[pl.DataFrame, pl.DataFrame]:
    raw = pl.DataFrame(list(packets), schema=dict.fromkeys(FIELDS, pl.String))
    return explode_frames(normalise(raw, 0))


def test_three_frames_in_one_segment_get_their_own_lengths_texts_and_code() -> None:
    frames, bad = _frames(
        _packet(
            7,
            fin=SEP.join("111"),
            rsv=SEP.join(["0x00"] * 3),
            opcode=SEP.join("118"),
            mask=SEP.join("000"),
            len7=SEP.join(["5", "126", "4"]),
            len16="300",
            text=SEP.join(['{"type": "Results"}', "second"]),
            close_code="1011",
            close_reason="ok",
        )
    )
    assert bad.height == 0
    assert frames["payload_len"].to_list() == [5, 300, 4]
    assert frames["opcode"].to_list() == ["text", "text", "close"]
    assert frames["json_type"].to_list() == ["Results", None, None]
    assert frames["text_preview"].to_list() == ['{"type": "Results"}', "second", None]
    assert frames["close_code"].to_list() == [None, None, 1011]
    assert frames["close_reason"].to_list() == [None, None, "ok"]


def test_extended_lengths_are_matched_by_rank_not_position() -> None:
    frames, _ = _frames(
        _packet(
            3,
            fin=SEP.join("1111"),
            rsv=SEP.join(["0x00"] * 4),
            opcode=SEP.join("2222"),
            mask=SEP.join("1111"),
            len7=SEP.join(["127", "10", "126", "127"]),
            len16="3200",
            len64=SEP.join(["70000", "80000"]),
        )
    )
    assert frames["payload_len"].to_list() == [70000, 10, 3200, 80000]


def test_text_counts_that_disagree_are_left_empty_and_flagged() -> None:
    frames, _ = _frames(
        _packet(
            9,
            fin=SEP.join("11"),
            rsv=SEP.join(["0x00"] * 2),
            opcode=SEP.join("11"),
            mask=SEP.join("11"),
            len7=SEP.join(["5", "5"]),
            text="only-one",
        )
    )
    assert frames["text_preview"].to_list() == [None, None]
    assert frames["text_unassigned"].to_list() == [True, True]


def test_a_lone_text_containing_the_aggregator_is_kept_whole() -> None:
    frames, _ = _frames(
        _packet(
            4,
            fin="1",
            rsv="0x00",
            opcode="1",
            mask="1",
            len7="9",
            text=f"unit{SEP}sep",
        )
    )
    # The control character itself is replaced so it cannot reach a terminal raw.
    assert frames["text_preview"].to_list() == ["unit\ufffdsep"]
    assert frames["text_unassigned"].to_list() == [False]


def test_close_without_payload_has_no_code_and_two_byte_close_no_reason() -> None:
    frames, _ = _frames(
        _packet(5, fin="1", rsv="0x00", opcode="8", mask="0", len7="0"),
        _packet(6, fin="1", rsv="0x00", opcode="8", mask="1", len7="2", close_code="1000"),
    )
    assert frames["close_code"].to_list() == [None, 1000]
    assert frames["close_reason"].to_list() == [None, None]


def test_reserved_opcode_is_named() -> None:
    frames, _ = _frames(_packet(2, fin="1", rsv="0x00", opcode="3", mask="1", len7="0"))
    assert frames["opcode"].to_list() == ["reserved-3"]


def test_misaligned_header_lists_are_reported_not_guessed() -> None:
    frames, bad = _frames(
        _packet(
            8,
            fin=SEP.join("11"),
            rsv="0x00",
            opcode=SEP.join("12"),
            mask=SEP.join("11"),
            len7=SEP.join(["1", "2"]),
        )
    )
    assert frames.height == 0
    assert bad["frame_no"].to_list() == [8]


def test_epoch_keeps_nanoseconds() -> None:
    frames, _ = _frames(_packet(1, fin="1", rsv="0x00", opcode="2", mask="1", len7="1"))
    assert frames["ts"].dt.nanosecond().to_list() == [123456789]


def test_key_looking_strings_in_text_frames_are_redacted_but_uuids_kept() -> None:
    text = (
        '{"type": "Auth", "key": "9f8e7d6c5b4a39281706f5e4d3c2b1a0ffee1234", '
        '"request_id": "3f2a1b4c-1111-2222-3333-444455556666"}'
    )
    frames, _ = _frames(
        _packet(4, fin="1", rsv="0x00", opcode="1", mask="1", len7="100", text=text)
    )
    preview = frames["text_preview"].item()
    assert "9f8e…redacted" in preview and "39281706" not in preview
    assert "3f2a1b4c-1111-2222-3333-444455556666" in preview
