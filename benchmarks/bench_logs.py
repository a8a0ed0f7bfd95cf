"""Log ingestion throughput: MB/s and peak memory on a large log built from corpus lines.

Why: customers attach multi-GB application logs; read_log must keep up (target >= 50 MB/s
on 2 cores) without holding the file in memory. Usage:
    .venv/bin/python benchmarks/bench_logs.py [--mb 500]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from analyzer.ingest.logpacks import load_packs
from analyzer.ingest.logs import read_log

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def corpus_lines() -> list[bytes]:
    """Every line of the corpus client/server/proxy logs (their ISO timestamps vary below)."""
    lines: list[bytes] = []
    for pattern in ("*/client.log", "*/server.log", "*/nginx-*.log", "*/haproxy.log"):
        for path in sorted((ROOT / "sample_captures").glob(pattern)):
            lines += path.read_bytes().splitlines()
    return lines


def generate(path: Path, megabytes: int) -> None:
    """Repeat the corpus with shifted seconds and ports so no two copies are identical."""
    lines, target, written, rep = corpus_lines(), megabytes << 20, 0, 0
    with path.open("wb") as fh:
        while written < target:
            sec, port = b"%02d" % (rep % 60), b"%05d" % (20000 + rep % 40000)
            block = (
                b"\n".join(
                    ln.replace(b":49.", b":" + sec + b".").replace(b"37477", port) for ln in lines
                )
                + b"\n"
            )
            fh.write(block)
            written += len(block)
            rep += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=500)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"bench-{args.mb}mb.log"
    if not path.exists() or path.stat().st_size < args.mb << 20:
        generate(path, args.mb)
    packs = load_packs()
    start = time.perf_counter()
    data = read_log(path, packs)
    elapsed = time.perf_counter() - start
    size = path.stat().st_size / 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{size:.0f} MB, {data.lines_total} lines, {data.lines_matched} events "
        f"in {elapsed:.1f}s: {size / elapsed:.1f} MB/s; peak RSS {peak:.0f} MB"
    )


if __name__ == "__main__":
    main()
