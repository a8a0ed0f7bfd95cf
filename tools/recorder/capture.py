"""Starting and stopping the packet capture of a live recording (tcpdump or dumpcap).

The capture must really be listening before the client connects (or the SYN is lost), and
must be stopped with SIGINT so it flushes the file and prints its drop counters.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .journal import Journal, wait_for_line
from .kinds import Scenario
from .lossy_path import Role

Spawn = Callable[..., subprocess.Popen[str]]


def capture_filter(scenario: Scenario) -> str:
    """BPF filter: the server's host (and any extra hosts, e.g. a proxy's).

    dumpcap on ``any`` also sees unrelated loopback traffic, hence its port restriction;
    with extra hosts the ports differ per hop, so it keeps all TCP of those hosts.
    """
    hosts = (scenario.server_addr, *scenario.capture_hosts)
    either = " or ".join(f"host {h}" for h in hosts)
    if scenario.capture != "dumpcap-any":
        return either
    if not scenario.capture_hosts:
        return f"{either} and tcp port {scenario.port}"
    return f"({either}) and tcp"


def start_capture(scenario: Scenario, folder: Path, spawn: Spawn) -> subprocess.Popen[str]:
    """Start tcpdump or dumpcap and return once its filter is attached."""
    if scenario.capture == "dumpcap-any":
        return start_dumpcap(scenario, folder, spawn)
    return start_tcpdump(scenario, folder, spawn)


def start_tcpdump(scenario: Scenario, folder: Path, spawn: Spawn) -> subprocess.Popen[str]:
    """``-U`` writes each packet at once; ``-Z root`` keeps the output file writable."""
    argv = [
        "tcpdump", "-i", scenario.capture_iface, "-U", "-Z", "root",
        *(["-s", str(scenario.snaplen)] if scenario.snaplen else []),
        "-w", str(folder / "capture.pcap"), capture_filter(scenario),
    ]  # fmt: skip
    role: Role = "server"
    tcpdump = spawn(argv, role, stderr=subprocess.PIPE)
    # tcpdump prints "tcpdump: listening on lo, …" once the filter is attached.
    first = wait_for_line(tcpdump, tcpdump.stderr, "tcpdump: listening on", timeout=10)
    (folder / "tcpdump.log").write_text(first)
    time.sleep(0.3)
    return tcpdump


def start_dumpcap(scenario: Scenario, folder: Path, spawn: Spawn) -> subprocess.Popen[str]:
    """``-i any`` sees loopback as a Linux cooked capture; ``-y LINUX_SLL2`` picks v2,
    which is what tcpdump 4.99 writes for ``-i any`` too. dumpcap writes pcapng; ``-q``
    keeps its running packet counter out of the log."""
    argv = [
        "dumpcap", "-q", "-i", "any", "-y", "LINUX_SLL2",
        "-w", str(folder / "capture.pcapng"), "-f", capture_filter(scenario),
    ]  # fmt: skip
    dumpcap = spawn(argv, "server", stderr=subprocess.PIPE)
    first = wait_for_line(dumpcap, dumpcap.stderr, "Capturing on", timeout=10)
    (folder / "dumpcap.log").write_text(first)
    time.sleep(0.5)
    return dumpcap


def stop_capture(
    scenario: Scenario, folder: Path, capture: subprocess.Popen[str], journal: Journal
) -> None:
    """SIGINT, not SIGTERM/kill: tcpdump/dumpcap then flush and print packet counts."""
    capture.send_signal(signal.SIGINT)
    _, stderr = capture.communicate(timeout=10)
    stderr = stderr.replace("\r", "")  # dumpcap rewrites its counter line in place
    log = "dumpcap.log" if scenario.capture == "dumpcap-any" else "tcpdump.log"
    with (folder / log).open("a") as fh:
        fh.write(stderr)
    tool = log.removesuffix(".log")
    journal.note(f"{tool} stopped: {' / '.join(stderr.strip().splitlines())}")
