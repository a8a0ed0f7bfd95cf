"""Each closed vocabulary is declared once (analyzer/vocab.py, analyzer/schema.py `_enum`,
analyzer/protocol.py's close codes) and every list, check and text is derived from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from analyzer import vocab
from analyzer.features import anomalies
from analyzer.ingest.logpacks import load_pack, load_packs
from analyzer.protocol import CLOSE_CODE_NAMES
from analyzer.rules.condition import Scope, parse
from analyzer.rules.templates import RENDERER
from analyzer.schema import ANOMALIES, FRAMES, LOG_EVENTS, SESSION_LOG_EVENTS, TCP_EVENTS
from analyzer.session_schema import SESSIONS

from conftest import REPO, SAMPLES, loaded, run_cli, sample

TABLES = (FRAMES, TCP_EVENTS, ANOMALIES, SESSIONS, LOG_EVENTS, SESSION_LOG_EVENTS)


def problems(condition: dict[str, Any], params: dict[str, Any] | None = None) -> list[str]:
    """The validator's messages for a `when` over the session table."""
    columns = dict(SESSIONS.polars)
    tables = {"frames": dict(FRAMES.polars), "anomalies": dict(ANOMALIES.polars)}
    scope = Scope(columns, params or {}, tables, [], [])
    parse(condition, ("when",), scope)
    return [f"{'.'.join(map(str, p.where))}: {p.message}" for p in scope.problems]


# --- the rule validator ---------------------------------------------------------------------


def test_an_unknown_session_value_is_rejected_with_a_guess() -> None:
    assert problems({"feature": "close_first_by", "eq": "sever"}) == [
        "when.eq: unknown value 'sever' for close_first_by (did you mean 'server'?)"
    ]
    assert problems({"feature": "kind", "in": ["websocket", "rejectd"]}) == [
        "when.in.1: unknown value 'rejectd' for kind (did you mean 'rejected'?)"
    ]
    # nothing near: the allowed values are listed instead
    assert problems({"feature": "source", "ne": "pcap"}) == [
        "when.ne: unknown value 'pcap' for source (one of: capture, har, log)"
    ]


def test_a_param_default_is_held_to_the_column_values() -> None:
    found = problems({"feature": "tcp_end", "not_in": ["fin"]}) + problems(
        {"feature": "tcp_end", "eq": {"param": "how"}}, {"how": "rts"}
    )
    assert found == ["when.eq: param 'how': unknown value 'rts' for tcp_end (did you mean 'rst'?)"]


def test_aggregate_fields_are_held_to_their_table_values() -> None:
    bad_kind = {"anomalies": {"where": {"field": "kind", "eq": "ws_control_frame_to_long"}}}
    assert problems(bad_kind) == [
        "when.anomalies.where.eq: unknown value 'ws_control_frame_to_long' for kind "
        "(did you mean 'ws_control_frame_too_long'?)"
    ]
    bad_opcode = {"frames": {"where": {"field": "opcode", "in": ["close", "clsoe"]}}}
    assert problems(bad_opcode) == [
        "when.frames.where.in.1: unknown value 'clsoe' for opcode (did you mean 'close'?)"
    ]
    reserved = {"frames": {"where": {"field": "opcode", "eq": "reserved-3"}}}
    assert problems(reserved) == []


def test_operators_without_literals_and_open_columns_are_not_checked() -> None:
    assert problems({"feature": "close_first_by", "matches": "serv"}) == []
    assert problems({"feature": "close_first_by", "eq": {"feature": "tcp_ended_by"}}) == []
    assert problems({"feature": "server_software", "eq": "sever"}) == []


RULE = """\
id: misspelt
title: A rule with a misspelt value
category: server-error
severity: low
confidence: low
rationale: none
when:
  all:
    - feature: close_first_by
      eq: sever
    - anomalies:
        where: {field: kind, eq: ws_bogus_kind}
summary: s
fix: f
references: [https://example.com]
tests:
  - features: {close_first_by: server}
    hit: true
  - features: {close_first_by: client}
    hit: false
"""


def test_rules_validate_names_file_line_and_the_guess(tmp_path: Path) -> None:
    path = tmp_path / "misspelt.yaml"
    path.write_text(RULE)
    done = run_cli("rules", "validate", path)
    assert done.returncode == 2
    assert (
        f"{path}:10: when.all[0].eq: unknown value 'sever' for close_first_by "
        "(did you mean 'server'?)" in done.stderr
    ), done.stderr
    assert f"{path}:12: when.all[1].anomalies.where.eq: unknown value 'ws_bogus_kind'" in (
        done.stderr
    )


# --- log event kinds ------------------------------------------------------------------------


PACK = """\
pack: mine
patterns:
  - id: gone
    kind: proxy_timout
    literal: timed out
    regex: timed out
    examples: ["upstream timed out"]
"""


def test_a_log_pack_kind_must_be_declared(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(PACK)
    pack, found = load_pack(path)
    kind = [p for p in found if ".kind: " in p]
    assert pack is None and len(kind) == 1
    assert kind[0].startswith(f"{path}:4: patterns[0].kind: must be one of the event kinds")
    assert "not 'proxy_timout' (did you mean 'proxy_timeout', 'ping_timeout'?)" in kind[0]


def test_the_built_in_packs_use_exactly_the_declared_kinds() -> None:
    used = {p.kind for pack in load_packs() for p in pack.patterns}
    assert used == set(vocab.LOG_KINDS), "a declared kind no pack emits is dead vocabulary"


def test_every_log_kind_list_is_derived_from_the_declarations() -> None:
    from analyzer.features import logs as log_features
    from analyzer.ingest import logpacks
    from analyzer.report import timeline_logs
    from analyzer.sessions import correlate, log_only

    kinds = set(vocab.LOG_KINDS)
    assert len(vocab.LOG_KINDS) == len(kinds) == len(vocab.PRIORITY)
    assert kinds == logpacks.KINDS and LOG_EVENTS.values["kind"] == vocab.LOG_KINDS
    assert log_features.PRIORITY is vocab.PRIORITY
    assert log_features.CLOSE_PRIORITY == ["close_received", "close_sent", "abnormal_close"]
    assert log_only.CONNECTION_KINDS is vocab.CONNECTION_KINDS
    assert correlate.OPENERS is vocab.OPENERS and correlate.REFUSALS is vocab.REFUSALS
    assert set(timeline_logs.TELLING) | set(timeline_logs.ROUTINE) <= kinds
    assert {k.anchor for k in vocab.LOG_EVENT_KINDS} - {None} == set(vocab.ANCHORS)
    assert {k.mark for k in vocab.LOG_EVENT_KINDS} <= set(vocab.MARKS)
    for kind in vocab.FLAGGED:  # each flag is a boolean session column a rule can read
        assert SESSIONS.polars[f"log_{kind}"] == pl.Boolean
    assert all(k.doc for k in vocab.LOG_EVENT_KINDS)


def test_the_timeline_labels_a_kind_by_its_declaration() -> None:
    from analyzer.report.timeline_logs import _tip

    class Canvas:
        def offset(self, at: datetime) -> float:
            return 1.5

    row = {"kind": "close_received", "close_code": 1011, "close_reason": None}
    row |= {"status": None, "input": "/x/client.log", "line": 7, "at": datetime.now(UTC)}
    assert _tip(row, Canvas()) == "log client.log:7 at +1.500 s: close received 1011"


# --- anomaly kinds --------------------------------------------------------------------------


def _frames() -> pl.DataFrame:
    """One frame per frame detector, in one session (the data frame after the close too)."""
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        # opcode, payload_len, fin, from_client, masked, close_code, unassigned, failed
        ("close", 200, True, True, True, None, False, False),
        ("binary", 1 << 41, True, True, True, None, False, False),
        ("ping", 4, False, True, True, None, False, False),
        ("text", 4, True, True, False, None, False, False),
        ("text", 4, True, False, True, None, False, False),
        ("reserved-3", 4, True, True, True, None, False, False),
        ("close", 2, True, False, False, 1006, False, False),
        ("text", 4, True, False, False, None, True, False),
        ("text", 4, True, False, False, None, False, True),
    ]
    names = ["opcode", "payload_len", "fin", "from_client", "masked", "close_code"]
    names += ["text_unassigned", "decompress_failed"]
    df = pl.DataFrame(rows, schema=names, orient="row")
    return df.with_columns(
        session=pl.lit("s1"),
        frame=pl.int_range(1, df.height + 1),
        time=pl.Series([t0 + timedelta(seconds=i) for i in range(df.height)]),
    )


def test_every_declared_anomaly_kind_is_produced_and_nothing_else() -> None:
    sessions = pl.DataFrame(
        {"id": ["s1"], "response_frame": [3], "response_time": [datetime(2024, 1, 1, tzinfo=UTC)]}
    ).with_columns(accept_valid=pl.lit(False), accept=pl.lit("x"), ws_key=pl.lit("y"))
    parts = anomalies.frame_anomalies(_frames()) + anomalies.handshake_anomalies(sessions)
    produced = set(anomalies.collect(parts)["kind"])
    assert produced == set(vocab.ANOMALY_KIND)
    assert ANOMALIES.values["kind"] == tuple(vocab.ANOMALY_KIND)
    assert all(a.doc and a.source in ("frames", "handshakes") for a in vocab.ANOMALY_KINDS)


# --- enumerated columns ---------------------------------------------------------------------


def test_enumerated_docs_name_their_values() -> None:
    for table in TABLES:
        for column, values in table.values.items():
            assert values and len(set(values)) == len(values)
            doc = table.doc(column)
            assert all(v in doc for v in values if not v.startswith("reserved-")), (column, doc)


def test_declared_sets_agree_with_their_other_users() -> None:
    from analyzer.rules.model import SOURCES
    from analyzer.sessions.har_fold import NAMES

    assert set(SOURCES) == set(SESSIONS.values["source"])
    assert set(NAMES.values()) == set(SESSIONS.values["har_match"])
    assert SESSIONS.values["log_source_side"] == LOG_EVENTS.values["side"] == vocab.LOG_SIDES


def _with_logs(folder: str, *logs: str) -> Any:
    from analyzer.inputs import classify
    from analyzer.pipeline import load

    paths = [SAMPLES / folder / "capture.pcap", *(SAMPLES / folder / n for n in logs)]
    return load(classify(paths), None)


@pytest.mark.parametrize(
    "data",
    [
        lambda: sample("forged-rst"),
        lambda: loaded(SAMPLES / "browser-har" / "session.har"),
        lambda: loaded(SAMPLES / "idle-1011" / "client.log"),
        lambda: _with_logs("envoy-idle-1011", "client.log", "envoy-access.log", "server.log"),
    ],
    ids=["capture", "har", "log", "capture+logs"],
)
def test_the_pipeline_emits_only_declared_values(data: Any) -> None:
    ds = data()
    tables = [(SESSIONS, ds.sessions), (FRAMES, ds.frames), (ANOMALIES, ds.anomalies)]
    tables += [(TCP_EVENTS, ds.tcp_events), (SESSION_LOG_EVENTS, ds.log_events)]
    for table, df in tables:
        for column, values in table.values.items():
            seen = set(df[column].drop_nulls().unique()) if column in df.columns else set()
            assert seen <= set(values), (table.name, column, seen - set(values))


# --- close codes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "row", "text"),
    [
        ("{{ c | close_name }}", {"c": 1011}, "1011 (internal error)"),
        ("{{ c | close_name }}", {"c": 1001}, "1001 (going away)"),
        ("{{ c | close_name }}", {"c": 4001}, "4001 (private use)"),
        ("{{ c | close_name }}", {"c": 3000}, "3000 (registered)"),
        ("{{ c | close_name }}", {"c": 2000}, "2000 (unassigned)"),
        ("{{ c | close_name }}", {"c": None}, "n/a"),
        ("({{ c | close_meaning }})", {"c": 1015}, "(TLS handshake failure)"),
        ("({{ c | close_meaning }})", {"c": 1005}, "(no status received)"),
        ("{{ c | close_name }}", {"c": "a_b"}, "a\\_b"),  # not a code: escaped as any text
    ],
)
def test_close_code_filters(template: str, row: dict[str, Any], text: str) -> None:
    assert RENDERER.render(template, row) == text


def test_rules_name_codes_with_the_filter_as_they_typed_them() -> None:
    import yaml

    rule = yaml.safe_load((REPO / "rules/server-error/server-going-away.yaml").read_text())
    names = RENDERER.names(rule["summary"])
    row: dict[str, Any] = dict.fromkeys(names) | {"close_server_code": 1012}
    assert RENDERER.render(rule["summary"], row).startswith(
        "The server closed with 1012 (service restart) in frame n/a"
    )
    # the table holds the names rule texts have always used
    assert [CLOSE_CODE_NAMES[c] for c in (1001, 1012, 1013, 1014)] == [
        "going away",
        "service restart",
        "try again later",
        "bad gateway",
    ]
