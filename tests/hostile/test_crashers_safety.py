"""Output safety against hostile inputs (../shared/crashers, read in place): secrets are
redacted in every output, nothing from an input can act on a terminal, and no output
overwrites an input. Real tshark, the real CLI in a subprocess."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import redact
from analyzer.report import outputs

from conftest import CRASHERS, REPO, SAMPLES, run_cli

LEAKS = CRASHERS / "D-secret-leaks"
ANSI = CRASHERS / "D-terminal-escapes" / "ansi.pcap"
IDLE = SAMPLES / "idle-1011"
# Anything that acts on a terminal: C0 but newline and tab, DEL, C1.
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# Secrets -------------------------------------------------------------------------------


def _leaks(text: str) -> list[str]:
    """Each leaked value with some context, for the failure message."""
    return re.findall(r".{0,40}LEAK\w*", text)


def test_hostile_inputs_do_carry_the_marked_secrets() -> None:
    for name in ("hostile.pcap", "hostile.log", "hostile.har"):
        assert b"LEAK" in (LEAKS / name).read_bytes(), name


def test_no_secret_in_any_report_or_on_stderr(tmp_path: Path) -> None:
    inputs = [LEAKS / n for n in ("hostile.pcap", "hostile.log", "hostile.har")]
    proc = run_cli("analyze", *inputs, "--format", "html,md,json", "-o", tmp_path / "all")
    assert proc.returncode == 0, proc.stderr
    texts = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("all.*")}
    assert set(texts) == {"all.html", "all.md", "all.json"}
    texts["stderr"] = proc.stderr
    for name, text in texts.items():
        assert "LEAK" not in text, (name, _leaks(text))
    report = json.loads(texts["all.json"])
    # Every kind the issue names was there and is masked, not dropped.
    shown = json.dumps(report, ensure_ascii=False)
    for masked in (
        '"value": "abcd…redacted"',  # X-Goog-Api-Key / X-Amz-Security-Token
        "key abcd…redacted token=abcd…redacted",  # capture close reason
        "onerror=alert(1)> abcd…redacted https://dpgr.am/net0001",  # log close reason
    ):
        assert masked in shown, masked


@pytest.mark.parametrize("command", ["sessions", "frames"])
@pytest.mark.parametrize("fmt", ["table", "json"])
@pytest.mark.parametrize("name", ["hostile.pcap", "hostile.har"])
def test_no_secret_in_sessions_or_frames(command: str, fmt: str, name: str) -> None:
    proc = run_cli(command, LEAKS / name, "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert "LEAK" not in proc.stdout + proc.stderr, _leaks(proc.stdout + proc.stderr)


def test_no_redact_keeps_the_secrets() -> None:
    proc = run_cli("frames", LEAKS / "hostile.har", "--format", "json")
    assert "abcd…redacted" in proc.stdout
    proc = run_cli("analyze", LEAKS / "hostile.log", "--no-redact", "--format", "json", "-o", "-")
    assert "abcdLEAKLOGCLOSE" in proc.stdout and "--no-redact" in proc.stderr


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("X-Goog-Api-Key", True),
        ("X-Amz-Security-Token", True),
        ("x-client-secret", True),
        ("Proxy-Authorization", True),
        ("Set-Cookie", True),
        ("X-Amz-Credential", True),
        ("Sec-WebSocket-Key", False),  # the handshake nonce, needed to check the accept
        ("WWW-Authenticate", False),
        ("Keep-Alive", False),
        ("keywords", False),
        ("token_type", False),
    ],
)
def test_secret_names_are_a_rule_on_the_name(name: str, secret: bool) -> None:
    assert redact.secret_name(name) is secret
    value = redact.header_value(name, "abcdefghijkl")
    assert (value == "abcd…redacted") is secret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"api_key": "abcdefgh", "n": 1}', '{"api_key": "abcd…redacted", "n": 1}'),
        ('{"apiKey":"ab","type":"x"}', '{"apiKey":"ab…redacted","type":"x"}'),
        ('log {\\"token\\": \\"abcdefgh\\"}', 'log {\\"token\\": \\"abcd…redacted\\"}'),
        ('{"keywords": "nova", "token_type": "bearer"}', None),
        ("GET /x?token=abcdefgh&model=nova", "GET /x?token=abcd…redacted&model=nova"),
        ("Authorization: Bearer abcdefgh", "Authorization: Bearer abcd…redacted"),
        ("key abcdefghijklm used", "key abcd…redacted used"),
        ("invalid token provided; token expired", None),
        ("WWW-Authenticate: Bearer realm=x", None),
    ],
)
def test_free_text_python_and_polars_agree(text: str, expected: str | None) -> None:
    expected = text if expected is None else expected
    assert redact.free_text(text) == expected
    column = pl.DataFrame({"t": [text]}).select(redact.text_expr(pl.col("t")))
    assert column.item() == expected
    assert redact.free_text(expected) == expected, "redacting twice changes nothing"


def test_close_reasons_mask_random_looking_words_not_error_names() -> None:
    reason = "ConnectionClosedError abcdLEAKLOGCLOSE 3f2a9b8c7d6e5f4a 8c7d6e5f-1234-4abc"
    assert redact.close_reason(reason) == (
        "ConnectionClosedError abcd…redacted 3f2a…redacted 8c7d6e5f-1234-4abc"
    )
    with redact.disabled():
        assert redact.close_reason(reason) == reason


def test_a_preview_is_redacted_before_it_is_cut() -> None:
    text = "x" * 150 + ' {"token": "abcdefghijklmnop"}'
    assert "efgh" not in redact.preview(text, 170)
    column = pl.DataFrame({"t": [text]}).select(redact.preview_expr(pl.col("t"), 170))
    assert column.item() == redact.preview(text, 170)


def test_long_text_is_redacted_alike_and_in_linear_time(monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = "a-" * 50_000 + '"x-key": "abcdefgh"'  # each word start once rescanned it all
    assert redact.free_text(hostile).endswith('"x-key": "abcd…redacted"')
    text = "x y" * 2000 + ' {"token": "abcdefgh"} key abcdefghijklmnop Bearer eyJa.b.c'
    polars_path = redact.free_text(text)
    monkeypatch.setattr(redact, "PYTHON_MAX", len(text))
    assert redact.free_text(text) == polars_path
    assert polars_path.endswith('"abcd…redacted"} key abcd…redacted Bearer eyJa…redacted')


# Terminal escapes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("sessions", ANSI),
        ("frames", ANSI),
        ("analyze", ANSI, "--format", "md", "-o", "-"),
        ("analyze", ANSI, "--format", "html", "-o", "-"),
    ],
    ids=["sessions", "frames", "analyze-md", "analyze-html"],
)
def test_nothing_from_a_capture_acts_on_the_terminal(args: tuple) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    found = RAW_CONTROL.findall(proc.stdout + proc.stderr)
    assert not found, f"raw control characters reach the terminal: {found}"


def test_control_characters_are_shown_written_out() -> None:
    sessions = run_cli("sessions", ANSI).stdout
    assert "/v1/\\x1b[2J\\x1b]0;PWNED-TITLE\\x07" in sessions
    assert "\\x9b31m" in run_cli("frames", ANSI).stdout


def test_json_escapes_c1_and_still_says_the_same() -> None:
    proc = run_cli("frames", ANSI, "--format", "json")
    assert not RAW_CONTROL.search(proc.stdout)
    assert any("\x9b" in (f["text_preview"] or "") for f in json.loads(proc.stdout))


def test_report_files_carry_no_raw_control_characters(tmp_path: Path) -> None:
    proc = run_cli("analyze", ANSI, "--format", "html,md,json", "-o", tmp_path / "r")
    assert proc.returncode == 0, proc.stderr
    for path in tmp_path.glob("r.*"):
        text = path.read_text(encoding="utf-8")
        assert not RAW_CONTROL.search(text.replace("\r", "")), path.name
    assert "\\x1b[2J" in (tmp_path / "r.md").read_text(encoding="utf-8")
    json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))


def test_a_hostile_file_name_is_echoed_inert(tmp_path: Path) -> None:
    bad = tmp_path / "x\x1b]0;TITLE\x07\u009b2J.pcap"
    bad.write_bytes(b"not a capture at all\n" * 4)
    proc = run_cli("sessions", bad)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "\\x1b]0;TITLE\\x07\\x9b2J" in proc.stderr
    assert not RAW_CONTROL.search(proc.stderr)


def test_rule_text_is_printed_inert(tmp_path: Path) -> None:
    """A rule pack is user input too: `rules list/show/test` print its title, file text
    and test details; an escape written into a YAML string ("\\e") must not act."""
    pack = tmp_path / "pack"
    pack.mkdir()
    source = (REPO / "rules" / "idle-timeout" / "idle-before-1011.yaml").read_text()
    title = 'title: "x\\e[2J\\e]0;PWNED\\a y"'
    hostile = re.sub(r"(?m)^title: .*$", lambda _: title, source)
    hostile = re.sub(r"(?m)^id: .*$", "id: hostile-title", hostile)
    (pack / "hostile.yaml").write_text(hostile)
    for args in (("list",), ("show", "hostile-title"), ("test", "hostile-title")):
        proc = run_cli("rules", *args, "--rules", pack)
        assert proc.returncode == 0, proc.stderr
        assert not RAW_CONTROL.search(proc.stdout + proc.stderr), args
    assert "\\x1b[2J" in run_cli("rules", "list", "--rules", pack).stdout


def test_bidi_controls_are_written_out() -> None:
    assert outputs.visible_line("a\u202eb\tc") == "a\\u202eb\\x09c"
    text = json.dumps("\u202e\x9b", ensure_ascii=False)
    assert json.loads(outputs.json_safe(text.encode())) == "\u202e\x9b"


_UNSAFE = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]"
# Every character json_safe escapes, one by one, and neighbours it must leave alone.
UNSAFE = [chr(c) for c in range(0x2070) if re.fullmatch(_UNSAFE, chr(c))]
NEIGHBOURS = ["\t", "\n", "\r", " ", "\xa0", "\u061b", "\u200d", "\u2027", "\u202f", "\u206a"]


def _unescaped(safe: str) -> str:
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m[1], 16)), safe)


@pytest.mark.parametrize("head", ["é", "a"], ids=["in non-ASCII", "in ASCII"])
@pytest.mark.parametrize("char", UNSAFE + NEIGHBOURS, ids=lambda c: f"U+{ord(c):04X}")
def test_json_safe_escapes_each_control_character_alone(char: str, head: str) -> None:
    """One character in otherwise safe text, ASCII or not: escaped, or (a neighbour)
    left, whether json_safe's quick check passes it on to the regex or not."""
    text = f"{head}{char}x"
    safe = outputs.json_safe(text.encode("utf-8", "surrogatepass")).decode()
    assert (safe != text) == (char in UNSAFE)
    assert _unescaped(safe) == text


@pytest.mark.parametrize("at", [0, 1, (8 << 20) - 1, 8 << 20, (16 << 20) + 3])
def test_json_safe_finds_a_control_character_in_any_slice(at: int) -> None:
    """The quick check reads a long text in slices: a DEL anywhere is escaped, in ASCII
    text and beside a character that takes several UTF-8 bytes."""
    for other in ("b", "\u2026"):
        text = ("a" * at + "\x7f" + other * 10).encode()
        assert outputs.json_safe(text).decode() == "a" * at + "\\u007f" + other * 10


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters() | st.sampled_from(UNSAFE + NEIGHBOURS)))
def test_json_safe_leaves_no_control_character_and_changes_nothing_else(text: str) -> None:
    """Whatever the text (lone surrogates too), no control or bidi character is left,
    and writing the escapes back gives the text."""
    safe = outputs.json_safe(text.encode("utf-8", "surrogatepass")).decode("utf-8", "surrogatepass")
    assert not re.search(_UNSAFE, safe)
    assert "\\u" in text or _unescaped(safe) == text


# Outputs never overwrite inputs --------------------------------------------------------


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """Copies of the reproducer's inputs (../shared/crashers is read-only)."""
    shutil.copy(IDLE / "capture.pcap", tmp_path / "in.pcap")
    shutil.copy(SAMPLES / "browser-har" / "session.har", tmp_path / "sess.json")
    shutil.copy(IDLE / "client.log", tmp_path / "c.log")
    (tmp_path / "keys.log").write_text("CLIENT_RANDOM aa bb\n")
    (tmp_path / "hard.html").hardlink_to(tmp_path / "in.pcap")
    (tmp_path / "link.html").symlink_to("in.pcap")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "victim"),
    [
        (("analyze", "in.pcap", "-o", "in.pcap"), "in.pcap"),
        (("analyze", "in.pcap", "-o", "./in.pcap", "--format", "json"), "in.pcap"),
        (("analyze", "sess.json", "--format", "html,md,json", "-o", "sess"), "sess.json"),
        (
            ("analyze", IDLE / "capture.pcap", "--log", "c.log", "--format", "md", "-o", "c.log"),
            "c.log",
        ),
        (("analyze", "in.pcap", "-o", "link.html"), "in.pcap"),
        (("analyze", "in.pcap", "-o", "hard.html"), "in.pcap"),
        (
            ("analyze", "in.pcap", "--keylog", "keys.log", "--format", "json", "-o", "keys.log"),
            "keys.log",
        ),
        (("sessions", "in.pcap", "-o", "in.pcap"), "in.pcap"),
        (("frames", "in.pcap", "--format", "json", "-o", "link.html"), "in.pcap"),
        (("frames", "in.pcap", "--keylog", "keys.log", "-o", "keys.log"), "keys.log"),
    ],
    ids=lambda v: " ".join(map(str, v)) if isinstance(v, tuple) else v,
)
def test_an_output_never_overwrites_an_input(work: Path, args: tuple, victim: str) -> None:
    before = (work / victim).read_bytes()
    proc = run_cli(*args, cwd=work)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "refusing to overwrite" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (work / victim).read_bytes() == before
    assert not list(work.glob(".*.tmp"))


def test_the_config_file_is_an_input_too(work: Path) -> None:
    config = work / "wsdoctor.yaml"
    config.write_text("rules: {}\n")
    proc = run_cli("analyze", "in.pcap", "--format", "json", "-o", config.name, cwd=work)
    assert proc.returncode == 2
    assert "refusing to overwrite" in proc.stderr.splitlines()[-1]
    assert config.read_text() == "rules: {}\n"


def test_a_symlinked_output_is_replaced_not_written_through(tmp_path: Path) -> None:
    (tmp_path / "target.txt").write_text("precious\n")
    (tmp_path / "link.json").symlink_to("target.txt")
    shutil.copy(IDLE / "capture.pcap", tmp_path / "in2.pcap")
    proc = run_cli("analyze", "in2.pcap", "--format", "json", "-o", "link.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "target.txt").read_text() == "precious\n"
    assert not (tmp_path / "link.json").is_symlink()
    assert json.loads((tmp_path / "link.json").read_text())["schema"] == "wsdoctor.report/1"


def test_a_replaced_report_keeps_its_mode_and_leaves_no_temporary(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    report.write_text("old")
    report.chmod(0o640)
    outputs.write(b"new", str(report))
    assert report.read_text() == "new" and report.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
