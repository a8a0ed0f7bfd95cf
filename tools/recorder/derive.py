"""Derived scenarios: another scenario's real capture, rewritten; no new traffic.

Rewriting a real capture (an 802.1Q tag, a late capture start) tests the capture engine on
link layers and situations that loopback cannot produce, while every packet stays real.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .evidence import missing_evidence
from .journal import Journal
from .kinds import Derived
from .recording import prepare_folder


class Derivation:
    """Makes a derived scenario's capture from its source scenario's capture.pcap."""

    def __init__(self, derived: Derived, folder: Path, source: Path) -> None:
        self.derived = derived
        self.folder = folder
        self.source = source
        self.journal = Journal(derived.name, folder)

    def run(self) -> None:
        try:
            if not (self.source / "capture.pcap").is_file():
                raise RuntimeError(f"record {self.derived.source} first: no {self.source}")
            src = os.path.relpath(self.source / "capture.pcap", self.folder)
            self.journal.note(f"derived from {self.derived.source}/capture.pcap (real traffic)")
            if self.derived.transform == "vlan":
                self.add_vlan_tag(src)
            elif self.derived.transform == "client-leg":
                self.keep_client_leg(src)
            else:
                self.cut_late_start(src)
            for log in ("client.log", "server.log"):
                shutil.copyfile(self.source / log, self.folder / log)
            self.journal.note(f"copied client.log and server.log from {self.derived.source}")
        finally:
            self.journal.close()

    def add_vlan_tag(self, src: str) -> None:
        """The same packets with an 802.1Q header (priority 0, CFI 0) after the MAC addresses."""
        tag = self.derived.vlan_tag
        argv = [
            "tcprewrite", "--enet-vlan=add", f"--enet-vlan-tag={tag}",
            "--enet-vlan-cfi=0", "--enet-vlan-pri=0",
            f"--infile={src}", f"--outfile={self.derived.capture_file}",
        ]  # fmt: skip
        self.journal.run(argv, cwd=self.folder)

    def keep_client_leg(self, src: str) -> None:
        """Only the packets to or from ``keep_host`` (as pcap), every one of them unchanged."""
        argv = [
            "tshark", "-r", src, "-Y", f"ip.addr == {self.derived.keep_host}",
            "-F", "pcap", "-w", self.derived.capture_file,
        ]  # fmt: skip
        self.journal.run(argv, cwd=self.folder)

    def cut_late_start(self, src: str) -> None:
        """Keep packets from the first client audio frame at or after ``start_after`` s (as
        pcap: editcap would write pcapng by default)."""
        argv = [
            "tshark", "-r", src, "-Y", "websocket.opcode == 2 and websocket.mask == 1",
            "-T", "fields", "-e", "frame.number", "-e", "frame.time_relative",
        ]  # fmt: skip
        fields = self.journal.run(argv, cwd=self.folder)
        rows = [line.split("\t") for line in fields.splitlines()]
        first = next(int(n) for n, t in rows if float(t) >= self.derived.start_after)
        count = self.journal.run(["capinfos", "-c", "-M", "-T", "-r", src], cwd=self.folder)
        last = int(count.split()[-1])
        self.journal.note(f"first client audio frame at >= {self.derived.start_after}s: {first}")
        argv = ["editcap", "-F", "pcap", "-r", src, self.derived.capture_file, f"{first}-{last}"]
        self.journal.run(argv, cwd=self.folder)


def derive(derived: Derived, folder: Path, out: Path) -> None:
    """Rewrite the source scenario's capture and check the result still shows the point."""
    prepare_folder(folder)
    Derivation(derived, folder, out / derived.source).run()
    capture = folder / derived.capture_file
    missing = missing_evidence(capture, derived.require, derived.tshark_args)
    if missing:
        raise SystemExit(f"{derived.name}: no packet matches {missing}")
