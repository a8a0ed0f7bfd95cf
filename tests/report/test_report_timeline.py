"""The per-session SVG timeline: what it marks on real samples, that it stays bounded
for a one-hour 500k-frame session, and that capture text in it is escaped."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import polars as pl

from analyzer.pipeline import diagnose
from analyzer.report import html, timeline, timeline_bars
from analyzer.schema import FRAMES
from analyzer.sessions.dataset import Dataset

from conftest import analysis_of, builtin_rules, sample

SVG = "{http://www.w3.org/2000/svg}"
HOUR_S = 3600.0
BIG_FRAMES = 500_000


def draw(data: Dataset, sid: str = "s1", window_s: float | None = None) -> str:
    row = data.sessions.filter(pl.col("id") == sid).row(0, named=True)
    frames = data.frames.filter(pl.col("session") == sid)
    events = data.tcp_events.filter(pl.col("session") == sid)
    found = [f for f in diagnose(builtin_rules(), data) if f["session"] == sid]
    return timeline.svg(row, frames, events, found, window_s)


def parse(svg: str) -> ET.Element:
    """Well-formed XML in the SVG namespace, or the test fails here."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def tooltips(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}title")]


def test_idle_1011_marks_silence_window_closes_and_fins() -> None:
    root = parse(draw(sample("idle-1011"), window_s=10.0))
    labels = texts(root)
    assert "client → server" in labels and "server → client" in labels
    assert labels.count("close 1011") == 2, "a close marker per side, labelled with the code"
    assert labels.count("FIN") == 2
    assert "client silent 10.0 s" in labels, "the measured silence, with its duration"
    assert "server inactivity window 10 s" in labels
    assert any("20 data frames" in t or "data frame" in t for t in tooltips(root))
    assert any(t.startswith("server close 1011") and "frame #52" in t for t in tooltips(root))
    assert {"0", "2", "4", "6", "8", "10"} <= set(labels), "axis ticks in seconds"


def test_keepalives_and_misuse_have_their_own_colour() -> None:
    clean = parse(draw(sample("clean-close")))
    assert any(e.get("class") == "tl-k" for e in clean.iter(f"{SVG}rect"))
    binary = parse(draw(sample("keepalive-binary")))
    assert any(e.get("class") == "tl-kb" for e in binary.iter(f"{SVG}rect"))
    assert any("KeepAlive as binary" in t for t in tooltips(binary))


def test_two_way_silence_rst_and_pings() -> None:
    nginx = parse(draw(sample("nginx-read-timeout")))
    assert "no traffic 60.0 s" in texts(nginx)
    forged = parse(draw(sample("forged-rst")))
    assert "RST" in texts(forged)
    assert any("TTL" in t for t in tooltips(forged))
    pings = parse(draw(sample("client-ping-timeout")))
    assert any(e.get("class") == "tl-c" for e in pings.iter(f"{SVG}rect"))


def test_session_without_frames_still_draws() -> None:
    root = parse(draw(sample("handshake-401")))
    assert "no WebSocket frames" in texts(root)


def test_binning_keeps_every_frame() -> None:
    data = sample("clean-close")
    row = data.sessions.row(0, named=True)
    frames = data.frames.filter(pl.col("session") == "s1")
    for bin_px in timeline_bars.BIN_PX:
        bars = timeline_bars.binned(frames, row["start"], row["duration_s"], bin_px)
        assert bars["n"].sum() == frames.filter(pl.col("opcode") != "close").height


def test_close_reason_is_escaped() -> None:
    data = sample("idle-1011")
    evil = "<script>alert(1)</script>\"'&"
    frames = data.frames.with_columns(
        close_reason=pl.when(pl.col("opcode") == "close").then(pl.lit(evil))
    )
    svg = draw(dataclasses.replace(data, frames=frames))
    assert "<script" not in svg
    root = parse(svg)
    assert any(evil in t for t in tooltips(root)), "the text survives, escaped"


def hour_long(data: Dataset, n: int = BIG_FRAMES) -> Dataset:
    """idle-1011 stretched to one hour with n synthetic frames: audio both ways, text
    KeepAlives and pings, spread over the hour (a pure-function stress input)."""
    start = data.sessions["start"][0]
    i = pl.int_range(n, dtype=pl.Int64)
    side, kind = i.hash(7) % 5, i.hash(11) % 100
    opcode = (
        pl.when(kind < 90)
        .then(pl.lit("binary"))
        .when(kind < 97)
        .then(pl.lit("text"))
        .when(kind < 99)
        .then(pl.lit("ping"))
        .otherwise(pl.lit("pong"))
    )
    frames = pl.select(
        session=pl.lit("s1"),
        time=pl.lit(start) + pl.duration(microseconds=i * int(HOUR_S * 1e6) // n),
        frame=i + 100,
        from_client=side != 0,
        opcode=opcode,
    ).with_columns(
        fin=pl.lit(True),
        rsv=pl.lit(0, pl.Int8),
        message_opcode=pl.col("opcode"),
        payload_len=pl.lit(3200),
        masked=pl.col("from_client"),
        close_code=pl.lit(None, pl.Int32),
        close_reason=pl.lit(None, pl.String),
        text_preview=pl.lit(None, pl.String),
        json_type=pl.when(pl.col("opcode") == "text").then(pl.lit("KeepAlive")),
        input=pl.lit(str(data.sessions["input"][0])),
        tcp_stream=pl.lit(0),
    )
    end = pl.lit(start + timedelta(seconds=HOUR_S)).cast(data.sessions.schema["end"])
    sessions = data.sessions.with_columns(end=end, duration_s=pl.lit(HOUR_S))
    return dataclasses.replace(data, sessions=sessions, frames=FRAMES.conform(frames))


def test_hour_long_500k_frame_session_draws_a_bounded_svg() -> None:
    data = hour_long(sample("idle-1011"))
    assert data.frames.height == BIG_FRAMES
    svg = draw(data, window_s=10.0)
    root = parse(svg)
    elements = sum(1 for e in root.iter() if e.tag != f"{SVG}title") - 1
    bars = [e for e in root.iter(f"{SVG}rect") if e.get("class", "").startswith("tl-")]
    assert elements <= 400, elements
    assert len(bars) <= timeline_bars.MAX_BARS + 10
    assert len(svg) <= 60_000, len(svg)
    shown = sum(
        int(re.search(r": ([\d,]+) ", t)[1].replace(",", ""))
        for t in tooltips(root)
        if re.search(r"\d+ (data|KeepAlive|ping)", t)
    )
    assert shown == BIG_FRAMES, "every frame is counted in some bar's tooltip"


def test_report_for_the_hour_long_session_stays_under_2_mb(tmp_path: Path) -> None:
    text = html.render(analysis_of(hour_long(sample("idle-1011"))))
    size = len(text.encode())
    assert size <= 2_000_000, size
    assert text.count("<svg") == 1 and "<script" not in text
    (tmp_path / "report.html").write_text(text)
