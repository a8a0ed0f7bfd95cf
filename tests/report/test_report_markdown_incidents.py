"""Markdown for tickets tells incidents and connections (issue 14, items 1-2): the two legs
of a proxied connection are one line, a symptom its cause explains is one line of the
cause's block (never a block of its own), and a capture of several causes lists its
incidents, each with one block and one fix."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from analyzer.report import markdown

from conftest import SAMPLES, analysis_of, loaded_together

BLOCK = re.compile(r"^\*\*(?:CRITICAL|HIGH|MEDIUM|LOW|INFO)\*\* .*\(`([a-z0-9-]+)`;", re.M)


def test_a_proxied_connection_is_one_line_and_one_block() -> None:
    result = analysis_of(loaded_together(SAMPLES / "nginx-read-timeout/capture.pcap"))
    text = markdown.render(result)
    legs = [(s["id"], s["other_leg"]) for s in result.data.sessions.to_dicts()]
    assert sorted(legs) == [("s1", "s2"), ("s2", "s1")], "the recording is one proxied pair"
    sessions = text.split("#### Sessions")[1].split("####")[0]
    assert [ln for ln in sessions.splitlines() if ln.startswith("- ")] == [
        "- **s1 ⇄ s2** 127.0.0.11:56413 → 127.0.0.31:8080: the server side ended TCP with a "
        "FIN and no close frame after 60.0 s of two-way silence (an intermediary's idle timer) "
        "— proxy interference, high (medium confidence)."
    ]
    folded = {f["rule"] for f in result.findings if f["explained_by"]}
    assert "no-close-after-idle" in folded
    assert BLOCK.findall(text) == ["proxy-idle-teardown"], "the symptom has no block"
    assert re.search(
        r"_Also seen, explained by this cause:_ .*\(`no-close-after-idle`; s1, s2\)", text
    )


def test_several_causes_list_their_incidents_each_with_one_block(tmp_path: Path) -> None:
    names = ["idle-1011", "client-killed", "envoy-stream-idle", "clean-close", "forged-rst"]
    merged = tmp_path / "merged.pcap"
    captures = [str(SAMPLES / n / "capture.pcap") for n in names]
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(merged), *captures], check=True)
    result = analysis_of(loaded_together(merged))
    text = markdown.render(result)
    failed = {f["session"] for f in result.findings if f["severity"] in ("high", "critical")}
    named = [i for i in result.incidents if failed & set(i["sessions"])]
    assert len(named) >= 3
    listed = re.findall(r"^\d\. \*\*[A-Z]+\*\* .* \(`([a-z0-9-]+)`\)$", text, re.M)
    assert listed == [i["rule"] for i in named]
    assert text.startswith("### wsdoctor: ") and "failed." in text.splitlines()[0]
    blocks = BLOCK.findall(text)
    assert blocks[: len(named)] == listed, "one block per incident, in the incidents' order"
    assert len(set(blocks)) == len(blocks)
    assert "2026-11-21 20:25:35 → 2026-" in text, "a range over two dates names both"
