"""Where `wsdoctor analyze CAPTURE --format json` spends its time, stage by stage.

tshark's dissection is the floor; everything else (rule loading before it, sessions,
features, rules, findings and the report after it) is what this measures, so that the
work around tshark can be cut where it is largest. The pipeline is run as `analyze` runs
it (`pipeline.run`, then the JSON render and the terminal summary), with each stage's
functions wrapped by a timer from outside, so nothing in the engine changes to be measured.

A stage's time is its own (self) time: a wrapped function called inside another wrapped
function counts for its own stage, not for its caller's. Each function is replaced in
every loaded module that holds it, so `from x import f` call sites are timed too; a
function the engine no longer has is reported as missing, not an error. `before tshark`
is the wall time from the start of the run to the first tshark start, `after tshark`
from the last tshark exit to the end of the report; `imports` is importing the engine.
CPU is the process's (polars' worker threads included, and any other thread running
at the same time, such as a reader beside the rule loading); tshark's own CPU is the
children's line. On a loaded machine read the CPU columns: wall time then mostly
measures the wait for a core.

Usage: .venv/bin/python benchmarks/profile_stages.py CAPTURE [--keylog FILE] [--repeat N] [--jobs N]
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()  # before the engine's imports, which `imports` measures

import argparse  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import pkgutil  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from analyzer import config, features, pipeline  # noqa: E402
from analyzer.ingest import logpacks  # noqa: E402
from analyzer.ingest.capture import Parallel  # noqa: E402
from analyzer.inputs import Inputs  # noqa: E402
from analyzer.report import json_report, outputs, terminal_run  # noqa: E402

IMPORTS_S = time.perf_counter() - _T0

TSHARK = "tshark run"
# (module, function, stage), in the order the stages run. Each function is timed wherever
# it is called from; a stage named twice adds up.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("analyzer.pipeline", "select_rules", "rule loading"),
    ("analyzer.ingest.logpacks", "load_packs", "log pack loading"),
    ("analyzer.ingest.tshark", "find_tshark", "tshark discovery"),
    ("analyzer.ingest.sniff", "sniff_capture", "sniff"),
    ("analyzer.ingest.tshark_run", "start_census", TSHARK),
    ("analyzer.ingest.tshark_run", "read_packets", TSHARK),
    ("analyzer.ingest.tshark_run", "stream_packets", TSHARK),
    ("analyzer.ingest.tshark_run", "finish_census", TSHARK),
    # one capture at a time (before issue 15), or all at once with tshark started first
    ("analyzer.ingest.capture", "load_capture", "normalise"),
    ("analyzer.ingest.capture", "load_captures", "normalise"),
    ("analyzer.pipeline", "build", "sessions build"),
    ("analyzer.ingest.frames", "explode_frames", "frames explode"),
    ("analyzer.ingest.handshakes", "handshake_rows", "handshake table"),
    ("analyzer.ingest.tcp_events", "tcp_events", "tcp events"),
    ("analyzer.rules.engine", "evaluate", "rules evaluation"),
    ("analyzer.pipeline", "diagnose", "findings link"),
    ("analyzer.incidents", "build", "incidents"),
    ("analyzer.pipeline", "describe_inputs", "input hashing"),
    ("analyzer.report.json_report", "report", "JSON report records"),
    ("analyzer.report.json_report", "render", "JSON encode"),
    ("analyzer.report.outputs", "safe", "JSON escape"),
    ("analyzer.report.terminal_run", "tell", "terminal summary"),
)


class Clock:
    """Self wall and CPU time per stage, and when tshark first started and last ended."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.tshark_span: list[float] = []  # perf_counter of every tshark call's start and end
        self._local = threading.local()

    def timed(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            stack = self._local.__dict__.setdefault("stack", [])
            stack.append([0.0, 0.0])  # wall and CPU of the timed calls inside this one
            wall0, cpu0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                wall1, cpu1 = time.perf_counter(), time.process_time()
                inner_wall, inner_cpu = stack.pop()
                self.wall[stage] += wall1 - wall0 - inner_wall
                self.cpu[stage] += cpu1 - cpu0 - inner_cpu
                self.calls[stage] += 1
                if stack:
                    stack[-1][0] += wall1 - wall0
                    stack[-1][1] += cpu1 - cpu0
                if stage == TSHARK:
                    self.tshark_span += [wall0, wall1]

        return wrapper


def _feature_functions() -> list[tuple[str, str, str]]:
    """Every public function of analyzer/features/: the per-session feature columns."""
    found = []
    for info in pkgutil.iter_modules(features.__path__, "analyzer.features."):
        module = importlib.import_module(info.name)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == info.name and not name.startswith("_"):
                found.append((info.name, name, "features"))
    return found


def instrument(clock: Clock) -> list[str]:
    """Wrap every stage function in every module that holds it; the ones not found."""
    missing = []
    for module_name, name, stage in (*STAGES, *_feature_functions()):
        try:
            fn = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            missing.append(f"{module_name}.{name}")
            continue
        wrapped = clock.timed(stage, fn)
        for module in list(sys.modules.values()):
            for attr, value in list(getattr(module, "__dict__", {}).items()):
                if value is fn:
                    setattr(module, attr, wrapped)
    return missing


def one_run(capture: Path, keylog: Path | None, jobs: int | None) -> dict[str, float]:
    """One `analyze CAPTURE --format json -o - [--jobs N]`: seconds per stage, spans and
    totals."""
    clock = Clock()
    missing = instrument(clock)
    if missing:
        print(f"not found (not timed): {', '.join(missing)}", file=sys.stderr)
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start, cpu0 = time.perf_counter(), time.process_time()
    parallel = Parallel(jobs=jobs)
    result = pipeline.run(
        Inputs({"capture": [capture]}), config.Settings(), keylog, None, None, parallel
    )
    text = outputs.safe(json_report.render(result))
    with contextlib.redirect_stdout(io.StringIO()):
        terminal_run.tell(result, ["-"], "never", False, None)
    end, cpu1 = time.perf_counter(), time.process_time()
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    timed_in_run = sum(clock.wall.values())
    if not clock.calls["log pack loading"]:  # a capture alone loads none: what a log would
        logpacks.load_packs(pipeline.log_pack_dirs([]))
    del text
    out = {f"{stage} wall": s for stage, s in clock.wall.items()}
    out |= {f"{stage} cpu": s for stage, s in clock.cpu.items()}
    total = end - start
    out["run wall"], out["run cpu"] = total, cpu1 - cpu0
    out["tshark children cpu"] = (children1.ru_utime + children1.ru_stime) - (
        children0.ru_utime + children0.ru_stime
    )
    if clock.tshark_span:
        out["before tshark wall"] = min(clock.tshark_span) - start
        out["after tshark wall"] = end - max(clock.tshark_span)
    out["other wall"] = total - timed_in_run
    out["imports wall"] = IMPORTS_S
    return out


def in_fresh_process(capture: Path, keylog: Path | None, jobs: int | None) -> dict[str, float]:
    """One run in a process of its own, as `analyze` runs: no cache of an earlier run."""
    argv = [sys.executable, __file__, str(capture), "--json"]
    argv += ["--keylog", str(keylog)] if keylog else []
    argv += ["--jobs", str(jobs)] if jobs else []
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def table(runs: list[dict[str, float]]) -> str:
    """Median over the runs of each measure, stages first in run order, then the spans."""
    keys = list(dict.fromkeys(k for run in runs for k in run))
    stages = list(dict.fromkeys(k[: -len(" wall")] for k in keys if k.endswith(" wall")))
    lines = [f"{'stage':<26}{'wall s':>9}{'cpu s':>9}"]
    for stage in stages:
        wall = statistics.median(r.get(f"{stage} wall", 0.0) for r in runs)
        cpu = [r[f"{stage} cpu"] for r in runs if f"{stage} cpu" in r]
        cpu_text = f"{statistics.median(cpu):9.3f}" if cpu else f"{'':>9}"
        lines.append(f"{stage:<26}{wall:9.3f}{cpu_text}")
    child = statistics.median(r["tshark children cpu"] for r in runs)
    lines.append(f"{'tshark children cpu':<26}{'':>9}{child:9.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--keylog", type=Path)
    parser.add_argument("--repeat", type=int, default=1, help="runs, each in a fresh process")
    parser.add_argument("--json", action="store_true", help="one run here, printed as JSON")
    parser.add_argument("--jobs", type=int, help="as analyze --jobs (default: one per core)")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(one_run(args.capture, args.keylog, args.jobs)))
        return
    runs = [in_fresh_process(args.capture, args.keylog, args.jobs) for _ in range(args.repeat)]
    print(f"{args.capture} ({args.repeat} run(s), medians)")
    print(table(runs))


if __name__ == "__main__":
    main()
