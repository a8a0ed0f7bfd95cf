"""Re-record the sample captures from scratch, on loopback or in private namespaces only.

Each scenario (the tables: ``scenarios_*.py``; how to add one: ``kinds.py``) is recorded
live (``recording.py``: emulator, helpers, capture, scripted client), derived from another
scenario's capture (``derive.py``: tcprewrite/editcap), is the plain HTTP download that is
not WebSocket (``download.py``), or a headless Chromium run (``har_chromium.py
--capture``). After each one, ``expected.py`` writes the folder's ``expected.yaml`` from
plain tshark queries. A lossy scenario runs across three private
network namespaces (``lossy_path.py``, ``namespaces.py``), addresses in 127.0.0.0/8 only.

Usage, from the repository root: ``python -m tools.recorder record [--out DIR] [--facts-only]
[scenario ...]`` (default: all scenarios, in table order, derived ones after their source).
``--facts-only`` (or the ``facts`` command) records nothing: it rewrites ``expected.yaml``
from the capture already in each folder. Recording needs root for the capture and the
namespaces; ``record.sh`` is the wrapper that installs the tools and picks the venv.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from . import expected, har_chromium
from .derive import derive
from .download import record_download
from .kinds import CLIENT_COMMANDS, DEFAULT_OUT, AnyScenario, BrowserRun, Derived, PlainDownload
from .recording import record
from .registry import SCENARIOS


def required_tools(scenario: AnyScenario) -> list[str]:
    """The external programs a scenario runs (record.sh installs them)."""
    if isinstance(scenario, PlainDownload):
        return ["tcpdump", "curl", "editcap", "capinfos", "tshark"]
    if isinstance(scenario, BrowserRun):
        return ["tcpdump", "chromium", "tshark"]
    if isinstance(scenario, Derived):
        rewrite = "tcprewrite" if scenario.transform == "vlan" else "editcap"
        return [rewrite, "tshark", "capinfos"]
    tools = ["dumpcap" if scenario.capture == "dumpcap-any" else "tcpdump"]
    tools += ["openssl", "editcap"] if scenario.tls else []
    tools += ["ip", "iptables", "sysctl"] if scenario.lossy else []
    tools += [CLIENT_COMMANDS["node"][0]] if scenario.client == "node" else []
    return [*tools, "tshark"]  # tshark: the require checks and expected.yaml


def check_tools(scenarios: list[AnyScenario], facts_only: bool) -> None:
    """Fail before anything runs: a missing tool or root would fail mid-way otherwise."""
    needed = {"tshark"} if facts_only else {t for s in scenarios for t in required_tools(s)}
    missing = [tool for tool in sorted(needed) if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing tools: {', '.join(missing)} (record.sh installs them)")
    live = not all(isinstance(s, Derived) for s in scenarios)
    if not facts_only and live and os.geteuid() != 0:
        sys.exit("capturing (and network namespaces) need root; run as root")


def produce(scenario: AnyScenario, out: Path) -> None:
    """Record, derive or download one scenario into ``out/<name>``."""
    folder = out / scenario.name
    if isinstance(scenario, Derived):
        derive(scenario, folder, out)
    elif isinstance(scenario, PlainDownload):
        record_download(scenario, folder)
    elif isinstance(scenario, BrowserRun):
        har_chromium.record(folder, capture=True)
    else:
        record(scenario, folder)
    size = (folder / scenario.capture_file).stat().st_size
    print(f"[{scenario.name}] {scenario.capture_file} {size} bytes", flush=True)


def parse_args(argv: list[str] | None, prog: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", help=f"any of: {' '.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="parent of scenario dirs")
    parser.add_argument(
        "--facts-only",
        action="store_true",
        help="record nothing; rewrite expected.yaml from each folder's existing capture",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    return args


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    # Table order, whatever the command line's: derived scenarios come after their source.
    chosen = [s for name, s in SCENARIOS.items() if not args.scenarios or name in args.scenarios]
    check_tools(chosen, args.facts_only)
    for scenario in chosen:
        if not args.facts_only:
            produce(scenario, args.out)
        path = expected.write_expected(scenario, args.out / scenario.name)
        print(f"[{scenario.name}] wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
