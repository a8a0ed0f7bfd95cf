"""Logging shared by the emulator and the client, so their logs line up with the capture.

UTC ISO timestamps with milliseconds; root at DEBUG so the `websockets` library's
frame-by-frame lines (`> TEXT ...`, `< CLOSE ...`) are kept: later log parsers read them.
"""

from __future__ import annotations

import logging
import time


def setup_logging(path: str | None) -> None:
    formatter = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    logging.getLogger("websockets").setLevel(logging.DEBUG)
