"""Does a capture show what its scenario is for? Plain tshark display filters decide.

Some scenarios depend on randomness that cannot be seeded (packet loss); the recorder
re-records them until these checks pass instead of keeping a capture that misses the point.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def missing_evidence(capture: Path, filters: tuple[str, ...], extra: tuple[str, ...]) -> list[str]:
    """The required display filters that match no packet of ``capture`` (plain tshark)."""
    missing = []
    for display_filter in filters:
        argv = ["tshark", "-r", str(capture), *extra, "-Y", display_filter]
        out = subprocess.run(
            [*argv, "-T", "fields", "-e", "frame.number"], capture_output=True, text=True
        )
        if out.returncode != 0 or not out.stdout.strip():
            missing.append(display_filter)
    return missing


def present_evidence(capture: Path, filters: tuple[str, ...], extra: tuple[str, ...]) -> list[str]:
    """The display filters that do match some packet of ``capture``."""
    missing = missing_evidence(capture, filters, extra)
    return [display_filter for display_filter in filters if display_filter not in missing]


def frames_completed_out_of_order(capture: Path) -> list[int]:
    """Packets that complete a WebSocket frame some of whose later bytes arrived earlier.

    With ``tcp.reassemble_out_of_order`` on, tshark lists a reassembled frame's segments in
    sequence order; when a retransmission fills a hole, the packet that completes the frame is
    not the last segment listed. A decoder without out-of-order reassembly loses these frames.
    """
    argv = [
        "tshark", "-r", str(capture), "-o", "tcp.reassemble_out_of_order:TRUE",
        "-Y", "websocket", "-T", "fields", "-e", "frame.number", "-e", "tcp.segment",
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    return [int(frame) for frame, segments in rows if segments.split(",")[-1] not in ("", frame)]
