"""Report sizes and timings on a frame-heavy capture: the ≤ 2 MB bound for 500k frames.

Make the capture first (about 10 s, 256 MB, 516,000 WebSocket frames in 200 sessions):

    .venv/bin/python benchmarks/make_capture.py --sessions 200 --chunks 2300 \\
        --chunk-bytes 320 -o benchmarks/out/frames500k.pcap

Then `.venv/bin/python benchmarks/bench_report.py [--capture PATH]` runs one analysis and
prints, per format, the render time and the size of what would be written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from analyzer import config, pipeline
from analyzer.report import outputs

DEFAULT = Path(__file__).resolve().parent / "out" / "frames500k.pcap"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", type=Path, default=DEFAULT)
    args = parser.parse_args()
    began = time.perf_counter()
    result = pipeline.run([args.capture], config.Settings())
    frames = result.data.frames.height
    print(
        f"{args.capture.name}: {result.data.sessions.height} sessions, {frames:,} frames, "
        f"{len(result.findings)} findings; analysis {time.perf_counter() - began:.1f} s"
    )
    for fmt in outputs.FORMATS:
        start = time.perf_counter()
        size = len(outputs.safe(outputs.writer(fmt)(result)))
        print(
            f"{fmt:<5} {size / 1e6:7.2f} MB  {(time.perf_counter() - start) * 1000:7.0f} ms"
            f"  ({'within' if size <= 2_000_000 else 'OVER'} the 2 MB bound)"
        )


if __name__ == "__main__":
    main()
