"""Write a scenario folder's expected.yaml from plain tshark, never from the wsdoctor engine.

``tests/sessions/test_sample_facts.py`` checks the engine against these files, so they must come
from somewhere else: ``tshark_rows.py`` runs plain ``tshark -T fields`` queries and
``session_facts.py`` turns them into facts named like the SESSIONS columns. The scenario
adds what tshark cannot know: exactly the findings each session must produce, as contract
category -> highest severity (``tests/rules/test_sample_findings.py`` checks them against
the rules).

The recorder calls :func:`write_expected` after every recording or derivation
(``python -m tools.recorder facts`` rewrites the files from the captures already committed;
``tests/project/test_recorder_facts.py`` checks that doing so changes nothing). A TLS
scenario is read three ways: with ``keys.log``, from the secrets-embedded pcapng (both must
agree fact for fact) and without keys (``without_keys``).

As a module it prints the facts of any capture:
``python -m tools.recorder.expected CAPTURE [--keylog FILE] [-- TSHARK_OPTION ...]``.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml

from .kinds import AnyScenario, BrowserRun, Derived, Findings, PlainDownload, Scenario
from .session_facts import TIME_SLACK_S, Facts, build, session_facts
from .tshark_rows import (
    BASE_OPTIONS,
    Reading,
    read_frames,
    read_http,
    read_packets,
    read_tls,
    tshark_version,
)

INTRO = (
    "expected.yaml of {name}: written by tools/recorder/expected.py from plain tshark, never "
    "by the wsdoctor engine. Regenerate: `python -m tools.recorder facts {name}` (do not "
    "edit by hand: change the scenario or expected.py instead)."
)
HEADER = """\
{intro}
{options}
# captures: files (with their key log, if any) that must each yield `sessions`.
# sessions: one per TCP connection with a WebSocket upgrade attempt, WebSocket frames or
#   undecrypted TLS, in start order. `facts` are SESSIONS columns (analyzer/schema.py) that
#   tests/sessions/test_sample_facts.py compares with the engine; a two-item list is an inclusive
#   [min, max] (a measured time +- {slack} s); null means "none seen". `findings`: exactly
#   the contract categories the session's findings fall in, each with the highest severity
#   among them ({{}}: no finding at all), declared by the scenario and checked by
#   tests/rules/test_sample_findings.py.
# without_keys: the same TLS capture read without its keys, and what that must yield.
"""


def session_list(reading: Reading) -> list[Facts]:
    """The facts of every session of one reading, in start order."""
    conns = build(
        read_packets(reading), read_frames(reading), read_http(reading), read_tls(reading)
    )
    return [session_facts(conn) for conn in conns]


def readings(scenario: AnyScenario, folder: Path) -> list[tuple[dict[str, str], Reading]]:
    """The ways the engine is asked to read the folder (entries of ``captures``)."""
    options = scenario.tshark_args
    if isinstance(scenario, Scenario) and scenario.tls:
        return [
            (
                {"path": "capture.pcap", "keylog": "keys.log"},
                Reading(folder / "capture.pcap", folder / "keys.log", options),
            ),
            (
                {"path": "capture-with-secrets.pcapng"},
                Reading(folder / "capture-with-secrets.pcapng", None, options),
            ),
        ]
    return [
        ({"path": scenario.capture_file}, Reading(folder / scenario.capture_file, None, options))
    ]


class FlowMap(dict[str, str]):
    """A mapping written on one line in flow style (``{idle-timeout: high}``, ``{}``)."""


def with_findings(
    name: str, facts: list[Facts], expect: tuple[Findings, ...]
) -> list[dict[str, Any]]:
    """Pair each session's facts with its declared findings; the counts must agree."""
    if len(facts) != len(expect):
        raise SystemExit(
            f"{name}: tshark finds {len(facts)} session(s), the scenario declares findings "
            f"for {len(expect)} (``expect``)"
        )
    return [
        {"facts": f, "findings": FlowMap(e.as_dict())} for f, e in zip(facts, expect, strict=True)
    ]


def document(scenario: AnyScenario, folder: Path) -> dict[str, Any]:
    """expected.yaml's content: captures, sessions and (TLS) without_keys."""
    entries = readings(scenario, folder)
    results = [session_list(reading) for _, reading in entries]
    for (entry, _), other in zip(entries[1:], results[1:], strict=True):
        if other != results[0]:
            raise SystemExit(f"{scenario.name}: {entry['path']} disagrees with {entries[0][0]}")
    doc: dict[str, Any] = {
        "captures": [entry for entry, _ in entries],
        "sessions": with_findings(scenario.name, results[0], scenario.expect),
    }
    if isinstance(scenario, Scenario) and scenario.tls:
        plain = session_list(Reading(folder / "capture.pcap", None, scenario.tshark_args))
        doc["without_keys"] = {
            "path": "capture.pcap",
            "sessions": with_findings(
                f"{scenario.name} without keys", plain, scenario.expect_without_keys
            ),
        }
    return doc


class FactsDumper(yaml.SafeDumper):
    """Block mappings, but short scalar lists ([min, max]) and findings on one line."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        """Indent block sequences under their key, as people write YAML."""
        return super().increase_indent(flow, False)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_flow_map(dumper: yaml.SafeDumper, data: FlowMap) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


FactsDumper.add_representer(list, _represent_list)
FactsDumper.add_representer(FlowMap, _represent_flow_map)


def origin_note(scenario: AnyScenario) -> str:
    """One comment line on where the capture comes from, for a reader of the YAML."""
    if isinstance(scenario, Derived):
        return f"# Derived ({scenario.transform}) from {scenario.source}/capture.pcap.\n"
    if isinstance(scenario, PlainDownload):
        return "# Mid-stream TCP that is not WebSocket: no session may come out.\n"
    if isinstance(scenario, BrowserRun):
        return "# Headless Chromium's own connection (har_chromium.py --capture).\n"
    return ""


def comment(text: str, indent: str = "") -> str:
    """``text`` as wrapped YAML comment lines."""
    lines = textwrap.wrap(text, width=90, initial_indent="# ", subsequent_indent="# " + indent)
    return "\n".join(lines)


def options_comment(scenario: AnyScenario) -> str:
    """Which tshark and which options produced the facts."""
    words = [*BASE_OPTIONS, *scenario.tshark_args]
    # Keep each option with its value on one line ("\0" is no whitespace to textwrap).
    units = " ".join(words).replace(" ", "\0").replace("\0-", " -").split(" ")
    text = " ".join((f"{tshark_version()} options:", *units))
    return comment(text, indent="  ").replace("\0", " ")


def render(scenario: AnyScenario, doc: dict[str, Any]) -> str:
    header = HEADER.format(
        intro=comment(INTRO.format(name=scenario.name)),
        options=options_comment(scenario),
        slack=TIME_SLACK_S,
    )
    body = yaml.dump(doc, Dumper=FactsDumper, sort_keys=False, allow_unicode=True, width=1000)
    return header + origin_note(scenario) + body


def write_expected(scenario: AnyScenario, folder: Path) -> Path:
    """Compute and write ``folder/expected.yaml``; return its path."""
    path = folder / "expected.yaml"
    path.write_text(render(scenario, document(scenario, folder)))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--keylog", type=Path)
    parser.add_argument("tshark_options", nargs="*", help="after --, e.g. --enable-heuristic …")
    args = parser.parse_args(argv)
    reading = Reading(args.capture, args.keylog, tuple(args.tshark_options))
    sessions = session_list(reading)
    print(yaml.dump(sessions, Dumper=FactsDumper, sort_keys=False, width=1000), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
