"""The JSON report against its published JSON Schema (analyzer/report/report.schema.json).

Three things are kept in step here: the schema file, the report's TypedDicts
(analyzer/report/json_types.py, which json_report builds from) and the declarations they
come from (analyzer/session_schema.py's session columns, the category / severity / confidence
vocabularies). Then every sample's report must validate: each sample folder's capture
(with its key log), each folder's logs and HAR files alone, a capture with its logs and
HAR, and some shared Zeek traces and external captures. The analyses run in process on
conftest's cached datasets, so a sample another module already read costs no second
tshark pass.

The published schema leaves objects open (contract: "add fields freely") and requires
only the keys the contract lists. The samples are validated against a strict copy as
well: every object closed and every declared key required, so a key the report writes is
documented in the schema, and a key the schema documents is written.

After a change to analyzer/session_schema.py's columns, rewrite the schema's session part:
    .venv/bin/python tests/report/test_json_schema.py --write
"""

from __future__ import annotations

import copy
import functools
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

import jsonschema
import polars as pl
import pytest

from analyzer.ingest.logs import not_a_log, read_log
from analyzer.report import json_report, json_types
from analyzer.rules.model import CONFIDENCES, ID, SEVERITIES, SOURCES
from analyzer.schema import CATEGORIES, HEADER
from analyzer.session_schema import SESSION_GROUPS, SESSIONS

from conftest import (
    EXTERNAL,
    REPO,
    SAMPLES,
    ZEEK,
    analysis_of,
    cli_json,
    loaded,
    loaded_together,
    sample,
)

SCHEMA_PATH = REPO / "analyzer" / "report" / "report.schema.json"
ZEEK_PICKS = ["broker-websocket.pcap", "oversized-close-frame.pcapng", "wrong-accept-header.pcap"]
EXTERNAL_PICKS = ["arkime-websocket.pcap", "ndpi-websocket-midstream.pcap"]
# Files in sample folders that are not inputs: the key log goes with its capture, the
# others are the recorder's own logs.
NOT_INPUTS = {"keys.log", "record.log", "tcpdump.log"}

# $defs name of each session group, the same as its TypedDict in json_types.
GROUP_DEFS = {
    "handshake": "Handshake",
    "close": "Close",
    "traffic": "Traffic",
    "liveness": "Liveness",
    "tcp": "Tcp",
    "log": "SessionLog",
    "har": "SessionHar",
}
# What the contract lists for a session (its `close` "who closed, codes and reasons each
# way, how the TCP connection ended" read as these columns).
SESSION_REQUIRED = ["id", "client", "server", "source", "start", "end", "handshake", "close"]
GROUP_REQUIRED = {
    "handshake": ["path", "status"],
    "close": [
        "close_first_by",
        "close_handshake",
        "close_client_code",
        "close_server_code",
        "close_client_reason",
        "close_server_reason",
        "tcp_end",
        "tcp_ended_by",
    ],
}
# "ip:port" as the capture shows it, IPv6 as "[addr]:port" (contract).
ADDRESS = r"^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$"
# TypedDict -> its $defs entry (the report itself is the schema's root).
RECORDS: dict[str, type] = {
    "Tool": json_types.Tool,
    "Input": json_types.Input,
    "CaptureFile": json_types.CaptureFile,
    "CaptureFacts": json_types.CaptureFacts,
    "LogFile": json_types.LogFile,
    "HarFile": json_types.HarFile,
    "NameValue": json_types.NameValue,
    **{name: getattr(json_types, name) for name in GROUP_DEFS.values()},
    "Session": json_types.Session,
    "Evidence": json_types.Evidence,
    "Finding": json_types.Finding,
    "IncidentMeasure": json_types.IncidentMeasure,
    "Incident": json_types.Incident,
    "RuleUsed": json_types.RuleUsed,
}


def _json_type(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "number"
    return {pl.String: "string", pl.Boolean: "boolean"}[dtype]


def _literal(annotation: Any) -> list[Any] | None:
    """The values of a Literal annotation (also inside `Literal[...] | None`)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return list(args)
    for arg in args:
        if typing.get_origin(arg) is typing.Literal:
            return list(typing.get_args(arg))
    return None


def _column(name: str, hint: Any) -> dict[str, Any]:
    """A session column's schema: its polars type, nullable unless its TypedDict says
    otherwise, the TypedDict's Literal as an enum, analyzer/session_schema.py's text."""
    dtype, doc = SESSIONS.columns[name]
    nullable = type(None) in typing.get_args(hint)
    if isinstance(dtype, pl.Datetime):
        out: dict[str, Any] = {"$ref": "#/$defs/time_or_null" if nullable else "#/$defs/time"}
    elif dtype == HEADER:
        out = {"type": ["array", "null"], "items": {"$ref": "#/$defs/NameValue"}}
    elif dtype == pl.List(pl.String):
        out = {"type": ["array", "null"], "items": {"type": "string"}}
    else:
        out = {"type": [_json_type(dtype), "null"] if nullable else _json_type(dtype)}
    if (values := _literal(hint)) is not None:
        out["enum"] = values + [None] * nullable
    return {"description": doc, **out}


def session_defs() -> dict[str, dict[str, Any]]:
    """The schema's Session and session-group $defs, from analyzer/session_schema.py's columns
    (types, text) and json_types' TypedDicts (nullability, enums)."""
    defs: dict[str, dict[str, Any]] = {}
    for group, cols in SESSION_GROUPS.items():
        name = GROUP_DEFS[group]
        hints = typing.get_type_hints(RECORDS[name])
        defs[name] = {
            "type": "object",
            "required": GROUP_REQUIRED.get(group, []),
            "properties": {c: _column(c, hints[c]) for c in cols},
        }
    hints = typing.get_type_hints(json_types.Session)
    grouped = {c for cols in SESSION_GROUPS.values() for c in cols}
    top = {c: _column(c, hints[c]) for c in SESSIONS.columns if c not in grouped}
    groups = {g: {"$ref": f"#/$defs/{name}"} for g, name in GROUP_DEFS.items()}
    capture_address = {"type": "string", "pattern": ADDRESS}
    defs["Session"] = {
        "type": "object",
        "required": SESSION_REQUIRED,
        "properties": {**top, **groups},
        "if": {"properties": {"source": {"const": "capture"}}, "required": ["source"]},
        "then": {"properties": {"client": capture_address, "server": capture_address}},
    }
    return {"Session": defs.pop("Session"), **defs}


@functools.cache
def published() -> dict[str, Any]:
    return json.loads(json_types.schema_file().read_text(encoding="utf-8"))


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy with every record closed and every declared key required (except a
    NotRequired one): the report's exact key set."""
    out = copy.deepcopy(schema)
    for name, node in [("", out), *out["$defs"].items()]:
        if "properties" in node:
            optional = RECORDS[name].__optional_keys__ if name in RECORDS else frozenset()
            node["additionalProperties"] = False
            node["required"] = [k for k in node["properties"] if k not in optional]
    return out


@functools.cache
def validators() -> tuple[jsonschema.Draft202012Validator, ...]:
    schema = published()
    jsonschema.Draft202012Validator.check_schema(schema)
    return tuple(jsonschema.Draft202012Validator(s) for s in (schema, strict(schema)))


def check(report: Any) -> None:
    for validator in validators():
        errors = sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:20]
        )


def _no_constant(name: str) -> Any:
    raise AssertionError(f"the report holds {name}, which is not JSON")


def rendered(data: Any) -> Any:
    """The report as its bytes read back: what a consumer validates (NaN is refused)."""
    return json.loads(json_report.render(analysis_of(data)), parse_constant=_no_constant)


# -- the inputs ----------------------------------------------------------------------------


def _folders() -> list[Path]:
    inputs = (".pcap", ".pcapng", ".log", ".har")
    return sorted({p.parent for p in SAMPLES.rglob("*") if p.is_file() and p.suffix in inputs})


def _side(folder: Path) -> list[Path]:
    """A folder's logs and HAR files: what `analyze` would read beside its capture (a
    recorder's notes or a proxy's own stdout are no log it reads: it refuses them)."""
    return [
        p
        for p in sorted(folder.iterdir())
        if p.suffix in (".log", ".har") and p.name not in NOT_INPUTS and p.stat().st_size
        if p.suffix == ".har" or not_a_log(read_log(p)) is None
    ]


CAPTURES = sorted({f.name for f in _folders() if list(f.glob("capture.pcap*"))})
SIDES = sorted({str(f.relative_to(SAMPLES)) for f in _folders() if _side(f)})


@pytest.mark.parametrize("name", CAPTURES)
def test_sample_capture_report_validates(name: str) -> None:
    check(rendered(sample(name)))


@pytest.mark.parametrize("folder", SIDES)
def test_sample_logs_and_hars_report_validates(folder: str) -> None:
    check(rendered(loaded_together(*_side(SAMPLES / folder))))


@pytest.mark.parametrize("folder", ["browser-har-capture", "envoy-idle-1011"])
def test_capture_with_logs_and_har_report_validates(folder: str) -> None:
    """HAR folding and log correlation fill the sessions' `har` and `log` groups."""
    capture = SAMPLES / folder / "capture.pcap"
    check(rendered(loaded_together(capture, *_side(SAMPLES / folder))))


SHARED_PICKS = [ZEEK / n for n in ZEEK_PICKS] + [EXTERNAL / n for n in EXTERNAL_PICKS]


@pytest.mark.parametrize("path", SHARED_PICKS, ids=[p.name for p in SHARED_PICKS])
def test_shared_capture_report_validates(path: Path) -> None:
    assert path.exists(), f"{path}: ../shared must sit beside the repo"
    check(rendered(loaded(path)))


def test_cli_report_validates() -> None:
    """The bytes `analyze --format json -o -` writes, not just the in-process report."""
    folder = SAMPLES / "idle-1011"
    check(cli_json("analyze", folder / "capture.pcap", *_side(folder)))


# -- the schema against its declarations ----------------------------------------------------


def test_vocabularies_are_the_declared_ones() -> None:
    defs = published()["$defs"]
    assert defs["category"]["enum"] == list(CATEGORIES)
    assert defs["severity"]["enum"] == list(SEVERITIES)
    assert defs["confidence"]["enum"] == list(CONFIDENCES)
    assert defs["Session"]["properties"]["source"]["enum"] == list(SOURCES)
    kinds = ["pcap", "pcapng", *(k for k in SOURCES if k != "capture")]
    assert defs["Input"]["properties"]["kind"]["enum"] == kinds
    assert defs["rule_id"]["pattern"] == f"^{ID.pattern}$"
    assert published()["properties"]["schema"]["const"] == json_report.SCHEMA
    assert list(typing.get_args(json_types.Category)) == list(CATEGORIES)
    assert list(typing.get_args(json_types.Severity)) == list(SEVERITIES)
    assert list(typing.get_args(json_types.Confidence)) == list(CONFIDENCES)
    assert list(typing.get_args(json_types.Source)) == list(SOURCES)


def test_session_part_follows_analyzer_schema() -> None:
    """Columns, their order, types and text as analyzer/session_schema.py declares them; after a
    change there: `.venv/bin/python tests/report/test_json_schema.py --write`."""
    defs = published()["$defs"]
    for name, expected in session_defs().items():
        assert defs[name] == expected, (
            f"$defs/{name} differs from analyzer/session_schema.py: "
            "run tests/report/test_json_schema.py --write"
        )


def _session_properties() -> dict[str, dict[str, Any]]:
    """Every session column's schema, the groups' columns flattened."""
    defs = published()["$defs"]
    out = {k: v for k, v in defs["Session"]["properties"].items() if k not in GROUP_DEFS}
    for name in GROUP_DEFS.values():
        out.update(defs[name]["properties"])
    return out


def test_session_enums_are_the_declared_values() -> None:
    """A session column has an enum exactly when analyzer/session_schema.py declares its closed
    set of values (`enumerated`), and it is that set."""
    declared = SESSIONS.values
    for column, prop in _session_properties().items():
        values = [v for v in prop.get("enum", []) if v is not None]
        assert values == list(declared.get(column, ())), column


def _allowed(prop: dict[str, Any]) -> set[str]:
    """The JSON types a property's schema admits."""
    if "$ref" in prop:
        return _allowed(published()["$defs"][prop["$ref"].removeprefix("#/$defs/")])
    if "anyOf" in prop:
        return set().union(*map(_allowed, prop["anyOf"]))
    if "type" in prop:
        return {prop["type"]} if isinstance(prop["type"], str) else set(prop["type"])
    values = prop["enum"] if "enum" in prop else [prop["const"]]
    return {_of(v) for v in values}


def _of(value: Any) -> str:
    return {str: "string", bool: "boolean", int: "integer", type(None): "null"}[type(value)]


def _python(hint: Any) -> set[str]:
    """The JSON types a TypedDict annotation admits."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return set().union(*map(_python, typing.get_args(hint)))
    if origin is typing.Literal:
        return {_of(v) for v in typing.get_args(hint)}
    if origin in (list, dict):
        return {"array" if origin is list else "object"}
    if typing.is_typeddict(hint):
        return {"object"}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
    return {simple[hint]}


@pytest.mark.parametrize("name", ["", *RECORDS])
def test_schema_records_are_the_typeddicts(name: str) -> None:
    """Same keys in the same order, same required keys, same types and enums."""
    record = json_types.Report if name == "" else RECORDS[name]
    node = published() if name == "" else published()["$defs"][name]
    hints = typing.get_type_hints(record)
    assert list(node["properties"]) == list(hints)
    assert set(strict(published())["$defs"].get(name, {}).get("required", [])) <= set(hints)
    for key, hint in hints.items():
        prop = node["properties"][key]
        assert _allowed(prop) == _python(hint), f"{name}.{key}"
        values = _literal(hint)
        if values is not None:
            target = prop
            if "$ref" in prop:
                target = published()["$defs"][prop["$ref"].removeprefix("#/$defs/")]
            allowed = target.get("enum", [target.get("const")])
            assert [v for v in allowed if v is not None] == values, f"{name}.{key}"


# -- the schema refuses what is not a report -------------------------------------------------


@functools.cache
def _good() -> bytes:
    return json_report.render(analysis_of(sample("idle-1011")))


def _set(path: str, value: Any) -> Any:
    def change(report: Any) -> None:
        *parents, last = path.split("/")
        node = report
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return change


def _drop(path: str) -> Any:
    def change(report: Any) -> None:
        *parents, last = path.split("/")
        node = report
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        del node[last]

    return change


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (_set("findings/0/category", "timeout"), "findings/0/category"),
        (_set("findings/0/severity", "fatal"), "findings/0/severity"),
        (_set("findings/0/confidence", "certain"), "findings/0/confidence"),
        (_drop("findings"), ""),
        (_drop("findings/0/rule"), "findings/0"),
        (_drop("sessions/0/handshake/status"), "sessions/0/handshake"),
        (_drop("tool/version"), "tool"),
        (_set("sessions/0/start", 1764000000), "sessions/0/start"),
        (_set("sessions/0/start", "yesterday"), "sessions/0/start"),
        (_set("findings/0/evidence/0/frame", "95"), "findings/0/evidence/0/frame"),
        (_set("capture/packets", "115"), "capture/packets"),
        (_set("sessions/0/source", "pcap"), "sessions/0/source"),
        (_set("sessions/0/client", "localhost"), "sessions/0/client"),
        (_set("schema", "wsdoctor.report/2"), "schema"),
        (_set("inputs/0/sha256", "not-a-digest"), "inputs/0/sha256"),
        (_set("findings/0/references", []), "findings/0/references"),
    ],
)
def test_schema_refuses_a_broken_report(change: Any, where: str) -> None:
    report = json.loads(_good())
    check(report)
    change(report)
    errors = list(validators()[0].iter_errors(report))
    assert errors, "the published schema accepted a broken report"
    assert where in {"/".join(map(str, e.absolute_path)) for e in errors}


def test_strict_copy_refuses_an_undocumented_key() -> None:
    report = json.loads(_good())
    report["findings"][0]["undocumented"] = ["x"]
    assert validators()[0].is_valid(report)  # the contract lets fields be added
    assert not validators()[1].is_valid(report)


def _write() -> None:
    """Rewrite the schema file's session $defs from analyzer/session_schema.py."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema["$defs"].update(session_defs())
    SCHEMA_PATH.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", "utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: {sys.argv[0]} --write")
    _write()
