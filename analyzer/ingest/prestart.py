"""The capture's tshark, started before the rest of wsdoctor is imported.

Importing the engine (polars, the rule model, click) takes 0.3-0.4 s, during which a
capture read in one piece (`--jobs 1`, or one too small to cut) could already be
dissected. So the console script (analyzer/launch.py) guesses, from the command line and
the config file's `jobs` and `scheduler`, the argv the engine will run for
`analyze CAPTURE`, starts that tshark, and only then imports the rest. It is a guess:
tshark_run adopts the process only when the engine asks for exactly that argv, and any
other guess is killed then, or at exit. Only the light modules that build the argv (and
find and read the config file) are imported here.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import threading
from pathlib import Path

from analyzer import config_file
from analyzer.errors import InputError
from analyzer.ingest import executor, shard_plan, tshark_argv
from analyzer.ingest.capture_magic import opens_like_capture
from analyzer.ingest.tshark import find_tshark

# `analyze` options that take a value (tests/cli/test_prestart.py holds this to the CLI).
VALUED = frozenset({
    "-o", "--output", "--keylog", "--tshark", "--har", "--log", "--log-tz", "--format",
    "--rules", "--config", "--select", "--exclude", "--severity", "--param", "--fail-on",
    "--min-severity", "-j", "--jobs", "--scheduler", "--work-dir", "--color",
})  # fmt: skip

_STARTED: dict[tuple[str, ...], subprocess.Popen[bytes]] = {}
_LOCK = threading.Lock()  # several captures' dissections may ask at once


def speculate(args: list[str]) -> None:
    """Start the tshark `analyze` would start first, when the command line names it."""
    try:
        argv = guess(args)
    except (InputError, OSError, ValueError):  # the engine will say what is wrong
        return
    if argv is None:
        return
    try:
        proc = spawn(argv)
    except OSError:
        return
    if not _STARTED:
        atexit.register(discard)
    _STARTED[tuple(argv)] = proc


def spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    """A dissection's tshark, as both a guess and the engine start it: an adopted guess
    must be the very process the engine would have started."""
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )


def guess(args: list[str]) -> list[str] | None:
    """The first pass's argv of `analyze` with these arguments: one capture file read in
    one piece, with its `--keylog` and `--tshark`; None when the run is anything else.
    The config file's `jobs` and `scheduler` count as the engine counts them (a flag wins);
    one the engine would refuse makes no guess."""
    if not args or args[0] != "analyze":
        return None
    inputs, options = _split(args[1:])
    if len(inputs) != 1 or not os.path.isfile(inputs[0]):
        return None
    options = _run_keys(options.get("--config")) | options
    if "--scheduler" in options:
        return None
    capture = Path(inputs[0])
    with capture.open("rb") as fh:
        if not opens_like_capture(fh.read(4)):  # a HAR or a log: no tshark
            return None
    jobs = options.get("--jobs")
    count = shard_plan.shard_count(
        capture.stat().st_size, int(jobs) if jobs else None, executor.cores()
    )
    if count != 1:
        return None
    binary = find_tshark(options.get("--tshark"))
    keylog = options.get("--keylog")
    return tshark_argv.fields_command(capture, Path(keylog) if keylog else None, binary)


def _run_keys(explicit: str | None) -> dict[str, str]:
    """The config file's `jobs` and `scheduler`, spelled as their flags would be; checked
    as the engine checks them (InputError for one it would refuse)."""
    found = config_file.find_config(Path(explicit) if explicit else None, Path.cwd())
    if found is None:
        return {}
    data, where = config_file.contents(found)
    if not isinstance(data, dict):
        raise ValueError("not a mapping: the engine will say so")
    jobs = config_file.jobs(data.get("jobs"), where("jobs"))
    scheduler = config_file.scheduler(data.get("scheduler"), where("scheduler"))
    keys = {"--jobs": str(jobs)} if jobs is not None else {}
    return keys | ({"--scheduler": scheduler} if scheduler is not None else {})


def _split(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional arguments, and the valued options by long name (`-j` is `--jobs`)."""
    inputs: list[str] = []
    options: dict[str, str] = {}
    rest = iter(args)
    for arg in rest:
        name, has_value, value = arg.partition("=")
        if arg.startswith("-j") and arg[2:].isdigit():
            name, has_value, value = "--jobs", "=", arg[2:]
        name = "--jobs" if name == "-j" else name
        if arg == "--":
            inputs.extend(rest)
        elif name in VALUED:
            options[name] = value if has_value else next(rest, "")
        elif not arg.startswith("-") or arg == "-":
            inputs.append(arg)
    return inputs, options


def adopt(argv: list[str]) -> subprocess.Popen[bytes] | None:
    """The process started for exactly `argv`, if any; every other guess is wrong."""
    with _LOCK:
        proc = _STARTED.pop(tuple(argv), None)
    discard()
    return proc


def discard() -> None:
    """Kill the guesses nobody adopted."""
    with _LOCK:
        wrong = list(_STARTED.values())
        _STARTED.clear()
    for proc in wrong:
        proc.kill()
        proc.wait()
