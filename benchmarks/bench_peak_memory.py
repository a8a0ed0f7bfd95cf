"""Peak memory and wall time of `wsdoctor analyze` on hostile inputs.

Why: a 1 MB capture once took 2.4 GB and a 47 MB gzip ran for minutes; these are the
inputs that find super-linear memory and missing limits, and the number that matters is
the whole process tree's (wsdoctor plus its tshark and capinfos children), which no
in-process counter sees. Each case runs the real CLI as a subprocess, sampling the summed
VmRSS of the tree every 50 ms (bench_engine's sampler), and is killed after --timeout.
It prints numbers and asserts nothing; the bars live in benchmarks/README.md.

Usage: .venv/bin/python benchmarks/bench_peak_memory.py [--cases a,b] [--har-mb N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench_engine import TreeSampler

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CRASHERS = REPO.parent / "shared" / "crashers"
CACHE = HERE / "out" / "hostile"
WSDOCTOR = Path(sys.executable).with_name("wsdoctor")


@dataclass
class Result:
    """What one case cost: peak tree RSS, wall time, exit code and the last stderr line."""

    peak_mb: float
    wall_s: float
    returncode: int | None  # None: killed at the timeout
    stderr_tail: str


def crasher(*parts: str) -> Callable[[argparse.Namespace], Path]:
    return lambda _args: CRASHERS.joinpath(*parts)


def gzip_bomb(args: argparse.Namespace) -> Path:
    """A pcap header then --bomb-mb MiB of zeros, gzip -1: D-gzip-bomb-time, any size."""
    path = CACHE / f"bomb-{args.bomb_mb}mb.pcap.gz"
    if not path.exists():
        header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
        zeros = bytes(1 << 20)
        with gzip.open(path, "wb", compresslevel=1) as fh:
            fh.write(header)
            for _ in range(args.bomb_mb):
                fh.write(zeros)
    return path


def big_har(args: argparse.Namespace) -> Path:
    """D-har-memory's generator: one Chrome WebSocket entry with --har-mb MB of messages."""
    path = CACHE / f"har-{args.har_mb}mb.har"
    if path.exists():
        return path
    entry = {
        "startedDateTime": "2026-11-21T20:25:49.600Z",
        "time": 600000,
        "request": {"method": "GET", "url": "wss://api.example.com/v1/listen",
                    "httpVersion": "HTTP/1.1", "headers": [
                        {"name": "Upgrade", "value": "websocket"}],
                    "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
        "response": {"status": 101, "statusText": "Switching Protocols",
                     "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                     "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "",
                     "headersSize": -1, "bodySize": 0},
        "cache": {},
        "timings": {"blocked": 1, "dns": -1, "connect": -1, "send": 0, "wait": 2, "receive": 0},
        "_resourceType": "websocket",
    }  # fmt: skip
    head = json.dumps(entry)[:-1] + ', "_webSocketMessages": ['
    payload = json.dumps(
        {"type": "Results", "channel_index": [0, 1], "duration": 0.5, "start": 1.0,
         "is_final": True, "channel": {"alternatives": [
             {"transcript": "hello world hello world", "confidence": 0.98}]}}
    )  # fmt: skip
    target, size, n = args.har_mb * 1_000_000, 0, 0
    with path.open("w") as fh:
        fh.write('{"log": {"version": "1.2", "creator": {"name": "WebInspector", '
                 '"version": "537.36"}, "pages": [], "entries": [' + head)  # fmt: skip
        while size < target:
            message = json.dumps(
                {"type": "receive", "time": round(1795311950.0 + n * 0.01, 3), "opcode": 1,
                 "data": payload}
            )  # fmt: skip
            fh.write(("," if n else "") + message)
            size, n = size + len(message) + 1, n + 1
        fh.write("]}]}}")
    return path


CASES: dict[str, Callable[[argparse.Namespace], Path]] = {
    "c02a-100k-text": crasher("D-mem-text-frames", "c02a-100k-frames-packed.pcap"),
    "c02c-300k-text": crasher("D-mem-text-frames", "c02c-300k-frames-packed.pcap"),
    "c02f-100k-binary": crasher("D-mem-text-frames", "c02f-100k-binary-packed.pcap"),
    "gzip-bomb": gzip_bomb,
    "har": big_har,
}


def measure(path: Path, timeout: float) -> Result:
    """Run `wsdoctor analyze PATH --format json` once, its own session so a kill takes all."""
    argv = [str(WSDOCTOR), "analyze", str(path), "--format", "json", "-o", os.devnull]
    with tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True,
        )  # fmt: skip
        sampler = TreeSampler(proc.pid)
        sampler.start()
        try:
            returncode: int | None = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            returncode = None
        wall = time.perf_counter() - began
        sampler.stop.set()
        sampler.join()
        err.seek(0)
        lines = [ln for ln in err.read().decode(errors="replace").splitlines() if ln.strip()]
    return Result(sampler.tree_kib / 1024, wall, returncode, lines[-1] if lines else "")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"subset of {','.join(CASES)}")
    parser.add_argument("--har-mb", type=int, default=500, help="size of the generated HAR")
    parser.add_argument("--bomb-mb", type=int, default=10240, help="zeros in the gzip bomb, MiB")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a kill")
    args = parser.parse_args(argv)
    args.cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"{'case':<18} {'input MB':>9} {'peak MB':>8} {'wall s':>7} {'exit':>6}  last stderr")
    for name in args.cases:
        path = CASES[name](args)
        result = measure(path, args.timeout)
        code = "killed" if result.returncode is None else str(result.returncode)
        size = path.stat().st_size / 1e6
        print(
            f"{name:<18} {size:>9.1f} {result.peak_mb:>8.0f} {result.wall_s:>7.1f} {code:>6}  "
            f"{result.stderr_tail[:100]}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
