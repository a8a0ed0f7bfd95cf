"""Time the engine against tshark alone and against pyshark iteration on a large capture.

The engine's design bet is that streaming `tshark -T fields` into polars costs little
more than tshark itself and far less than walking pyshark packet objects. This script
puts numbers on both claims: wall time and peak memory for the engine's `sessions`
and `frames` commands, for the exact tshark command the engine runs (output discarded),
and for a pyshark slice extrapolated to the whole capture. It prints numbers and
asserts nothing; the bars live in benchmarks/README.md.

Usage: .venv/bin/python benchmarks/bench_engine.py [--capture PATH] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_CAPTURE = HERE / "out" / "large.pcap"
SAMPLE_INTERVAL_S = 0.05
MEASUREMENTS = ("engine-sessions", "engine-frames", "tshark", "pyshark")


@dataclass
class Run:
    """One measured subprocess: wall time, memory as seen three ways, and its outcome."""

    wall_s: float
    maxrss_kib: int  # wait4 ru_maxrss: largest single process (child or waited-for descendant)
    tree_kib: int  # max over samples of the summed VmRSS of the whole process tree
    tshark_hwm_kib: int  # max VmHWM sampled for processes named tshark (0 if none seen)
    tsharks_at_once: int  # most tshark processes alive in one sample: did sharding happen?
    returncode: int
    stdout: str = ""
    stderr_tail: str = ""


@dataclass
class Row:
    """A table line: the median of the repeated runs, or why there are none."""

    label: str
    argv: list[str] | None = None  # None: nothing to run (unavailable or computed)
    runs: list[Run] = field(default_factory=list)
    note: str = ""
    wall_override: float | None = None  # for the extrapolated pyshark line
    keep_stdout: bool = False  # only the pyshark slice reports on stdout; the rest -> /dev/null
    extra_roots: tuple[int, ...] = ()  # more process trees to sum (a Dask cluster's)

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.returncode == 0 for r in self.runs)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)

    @property
    def wall(self) -> float:
        return self.wall_override if self.wall_override is not None else self.median("wall_s")


# --- process-tree memory sampling -------------------------------------------------


def _children_via_task(pid: int) -> list[int] | None:
    """Direct children from /proc/<pid>/task/*/children (needs CONFIG_PROC_CHILDREN)."""
    task_dir = Path(f"/proc/{pid}/task")
    try:
        files = list(task_dir.glob("*/children"))
    except OSError:
        return []
    if not files:
        return None
    kids: list[int] = []
    for path in files:
        try:
            kids.extend(int(x) for x in path.read_text().split())
        except OSError:
            continue
    return kids


def _ppid_map() -> dict[int, list[int]]:
    """parent -> children for every process, for kernels without the children file."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may contain spaces and parentheses; the fields after the last ')' do not.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def process_tree(root: int) -> list[int]:
    """The root and all its live descendants."""
    use_task_files = _children_via_task(root) is not None
    tree = {} if use_task_files else _ppid_map()
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend((_children_via_task(pid) or []) if use_task_files else tree.get(pid, []))
    return found


def read_status(pid: int) -> tuple[str, int, int] | None:
    """(name, VmRSS KiB, VmHWM KiB) of a live process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    if "VmRSS" not in fields:  # zombie: memory already released
        return None
    rss, hwm = (int(fields.get(key, "0 kB").split()[0]) for key in ("VmRSS", "VmHWM"))
    return fields["Name"].strip(), rss, hwm


class TreeSampler(threading.Thread):
    """Polls the child's process tree every ~50 ms while the main thread waits on it.

    `extra_roots` adds trees that are not the child's descendants but work for it, such
    as the Dask workers an `analyze --scheduler` run hands its shards to.
    """

    def __init__(self, root: int, extra_roots: Sequence[int] = ()) -> None:
        super().__init__(daemon=True)
        self.roots = (root, *extra_roots)
        self.stop = threading.Event()
        self.tree_kib = 0
        self.tshark_hwm_kib = 0
        self.tsharks_at_once = 0

    def run(self) -> None:
        while not self.stop.is_set():
            total = tsharks = 0
            for pid in (pid for root in self.roots for pid in process_tree(root)):
                status = read_status(pid)
                if status is None:
                    continue
                name, rss, hwm = status
                total += rss
                if name == "tshark":
                    self.tshark_hwm_kib = max(self.tshark_hwm_kib, hwm)
                    tsharks += 1
            self.tree_kib = max(self.tree_kib, total)
            self.tsharks_at_once = max(self.tsharks_at_once, tsharks)
            self.stop.wait(SAMPLE_INTERVAL_S)


def measure(argv: Sequence[str], keep_stdout: bool = False, extra_roots: Sequence[int] = ()) -> Run:
    """Run argv once; wall time from spawn to reap, memory from wait4 and the sampler.

    stdout goes to /dev/null unless kept: tshark's field text written to a file would
    add disk writes the engine (reading a pipe) never pays.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out if keep_stdout else subprocess.DEVNULL,
            stderr=err,
        )
        sampler = TreeSampler(proc.pid, extra_roots)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
        sampler.stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stderr_lines = [
            line for line in err.read().decode(errors="replace").splitlines() if line.strip()
        ]
        return Run(
            wall_s=wall,
            maxrss_kib=usage.ru_maxrss,
            tree_kib=sampler.tree_kib,
            tshark_hwm_kib=sampler.tshark_hwm_kib,
            tsharks_at_once=sampler.tsharks_at_once,
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr_tail=stderr_lines[-1] if stderr_lines else "",
        )


def run_rounds(rows: Sequence[Row], times: int) -> None:
    """Run every row once per round, `times` rounds, so load drift hits all rows alike.

    A row that fails is not retried: failures repeat, and the note says why.
    """
    for round_no in range(1, times + 1):
        for row in rows:
            if row.argv is None or row.note:
                continue
            run = measure(row.argv, row.keep_stdout, row.extra_roots)
            row.runs.append(run)
            if run.returncode != 0:
                row.note = f"FAILED (exit {run.returncode}): {run.stderr_tail[:160]}"
            print(f"  round {round_no}/{times}: {row.label}: {run.wall_s:.2f} s", file=sys.stderr)


# --- what is measured ---------------------------------------------------------------


def engine_argv(python: str, command: str, capture: Path) -> list[str]:
    return [python, "-m", "analyzer", command, str(capture), "--format", "json", "-o", os.devnull]


def tshark_argv(capture: Path) -> list[str]:
    """The engine's own tshark command, so 'tshark alone' is exactly the engine's input."""
    sys.path.insert(0, str(REPO))
    try:
        from analyzer.ingest.tshark_argv import fields_command  # type: ignore[import-not-found]
    except ImportError as exc:
        raise LookupError(
            f"analyzer.ingest.tshark_argv.fields_command unavailable ({exc})"
        ) from exc
    finally:
        sys.path.remove(str(REPO))
    argv = fields_command(str(capture))
    if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
        raise LookupError(f"fields_command returned {type(argv).__name__}, not list[str]")
    return argv


def pyshark_worker(capture: Path, limit: int) -> None:
    """Child-process body: iterate `limit` packets touching what a row-by-row engine reads.

    Prints JSON timing the loop from the first packet on, so the parent can separate
    the one-off startup (imports, tshark spawn, first packet) from per-packet cost.
    """
    import pyshark

    cap = pyshark.FileCapture(str(capture), keep_packets=False)
    rows = frames = 0
    first_at = 0.0
    try:
        for packet in cap:
            row = [packet.number, packet.sniff_timestamp]
            if "IP" in packet:
                row += [packet.ip.src, packet.ip.dst]
            if "TCP" in packet:
                tcp = packet.tcp
                row += [tcp.stream, tcp.srcport, tcp.dstport, tcp.flags, tcp.len]
            for ws in packet.get_multiple_layers("websocket"):
                row += [ws.opcode, ws.fin, ws.payload_length]
                frames += 1
            rows += 1
            if rows == 1:
                first_at = time.perf_counter()
            if rows >= limit:
                break
        loop_s = time.perf_counter() - first_at if rows else 0.0
    finally:
        cap.close()
    print(json.dumps({"packets": rows, "websocket_layers": frames, "loop_s": loop_s}))


def packet_count(capture: Path) -> int | None:
    """Total packets, from capinfos (or the generator's manifest if capinfos is missing)."""
    try:
        out = subprocess.run(
            ["capinfos", "-c", "-M", str(capture)], capture_output=True, text=True, check=True
        ).stdout
        match = re.search(r"Number of packets:\s*(\d+)", out)
        if match:
            return int(match.group(1))
    except (OSError, subprocess.CalledProcessError):
        pass
    manifest = capture.with_name(capture.name + ".manifest.json")
    if manifest.exists():
        return int(json.loads(manifest.read_text())["packets"])
    return None


def pyshark_row(capture: Path, limit: int) -> Row:
    argv = [sys.executable, str(Path(__file__).resolve()), "--capture", str(capture)]
    argv += ["--pyshark-packets", str(limit), "--pyshark-worker"]
    return Row(f"pyshark, first {limit} pkts (measured)", argv, keep_stdout=True)


def extrapolate(measured: Row, total: int | None) -> Row | None:
    """Scale the measured slice linearly to the whole capture (computed, never run)."""
    if not measured.ok or not total:
        return None
    reports = [json.loads(r.stdout.strip().splitlines()[-1]) for r in measured.runs]
    done = reports[0]["packets"]
    measured.label = f"pyshark, first {done} pkts (measured)"
    # Startup (interpreter, imports, tshark spawn, first packet) is paid once; the loop
    # over packets 2..N is what scales, so only it is multiplied out.
    loop = statistics.median(r["loop_s"] for r in reports)
    startup = max(0.0, measured.wall - loop)
    scale = (total - 1) / max(done - 1, 1)
    return Row(
        f"pyshark, all {total} pkts (EXTRAPOLATED)",
        wall_override=startup + loop * scale,
        note=f"= startup {startup:.2f} s + loop {loop:.2f} s x {total - 1}/{done - 1}",
    )


# --- report -----------------------------------------------------------------------


def mib(kib: float) -> str:
    return f"{kib / 1024:8.1f}" if kib else "       -"


def print_table(rows: list[Row]) -> None:
    header = f"{'measurement':44} {'wall s':>8} {'maxRSS':>8} {'treeRSS':>8} {'tshark':>8}"
    print(header)
    print(f"{'':44} {'median':>8} {'MiB':>8} {'MiB':>8} {'HWM MiB':>8}")
    print("-" * len(header))
    for row in rows:
        if row.wall_override is not None:
            print(f"{row.label:44} {row.wall:8.2f} {'':8} {'':8} {'':8}  {row.note}")
        elif row.ok:
            cells = [mib(row.median(a)) for a in ("maxrss_kib", "tree_kib", "tshark_hwm_kib")]
            print(f"{row.label:44} {row.wall:8.2f} {' '.join(cells)}")
        else:
            print(f"{row.label:44} {'n/a':>8}  {row.note}")


def ratio_line(label: str, num: Row | None, den: Row | None, bar: str) -> str:
    if num is None or den is None or not (num.wall_override is not None or num.ok) or not den.ok:
        return f"  {label:52} n/a      (bar: {bar})"
    return f"  {label:52} {num.wall / den.wall:7.2f}x (bar: {bar})"


def print_ratios(rows: dict[str, Row]) -> None:
    tshark, extrapolated = rows.get("tshark"), rows.get("pyshark-extrapolated")
    print("\nratios (median wall time):")
    for name in ("engine-sessions", "engine-frames"):
        engine = rows.get(name)
        print(ratio_line(f"{name} / tshark alone", engine, tshark, "<= 1.1x as analyze"))
        print(ratio_line(f"pyshark EXTRAPOLATED / {name}", extrapolated, engine, ">= 50x"))


def print_legend(repeats: int) -> None:
    ms = f"{SAMPLE_INTERVAL_S * 1000:.0f} ms"
    print(
        f"""
what is measured (each subprocess run {repeats}x, round-robin, median shown):
  wall s   spawn to reap of the subprocess, interpreter startup included.
  maxRSS   os.wait4 ru_maxrss of the direct child: Linux reports the larger of the
           child's own peak and its waited-for descendants' peaks, i.e. the biggest
           single process (for the engine: python or its tshark child). Exact.
  treeRSS  max over {ms} samples of the SUM of VmRSS over the child and all its
           descendants (/proc): the concurrent footprint; can miss spikes < {ms}.
  tshark   max VmHWM (per-process peak) sampled for descendants named tshark.
  pyshark  pyshark.FileCapture(keep_packets=False) in a child process reading frame
           number/time, ip src/dst, tcp stream/ports/flags/len and websocket
           opcode/fin/payload length per packet; extrapolated lines are computed, not run."""
    )


def build_rows(args: argparse.Namespace) -> dict[str, Row]:
    """The selected measurements, in table order; unavailable ones carry a note."""
    rows: dict[str, Row] = {}
    for command in ("sessions", "frames"):
        if f"engine-{command}" in args.only:
            argv = engine_argv(args.python, command, args.capture)
            rows[f"engine-{command}"] = Row(f"engine: {command} --format json", argv)
    if "tshark" in args.only:
        label = "tshark -T fields alone (engine's argv)"
        try:
            rows["tshark"] = Row(label, tshark_argv(args.capture))
        except LookupError as exc:
            rows["tshark"] = Row(label, note=str(exc))
    if "pyshark" in args.only and args.pyshark_packets > 0:
        rows["pyshark"] = pyshark_row(args.capture, args.pyshark_packets)
    return rows


def run_all(args: argparse.Namespace) -> None:
    capture: Path = args.capture
    total = packet_count(capture)
    size = capture.stat().st_size / 1e6
    print(f"capture: {capture} ({size:.1f} MB, {total or '?'} packets)")
    print(f"python:  {args.python}")
    rows = build_rows(args)
    if rows.get("tshark") and rows["tshark"].argv:
        print(f"tshark argv: {shlex.join(rows['tshark'].argv or [])}")
    load_before = os.getloadavg()[0]
    run_rounds(list(rows.values()), args.repeat)
    load_after = os.getloadavg()[0]
    extrapolated = extrapolate(rows["pyshark"], total) if "pyshark" in rows else None
    if extrapolated:
        rows["pyshark-extrapolated"] = extrapolated
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after")
    print(f"cpus: {os.cpu_count()}; a load above that means the timings were contended\n")
    print_table(list(rows.values()))
    print_ratios(rows)
    print_legend(args.repeat)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", type=Path, default=DEFAULT_CAPTURE, help="pcap to analyse")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (3)")
    parser.add_argument("--pyshark-packets", type=int, default=3000, help="slice size (3000)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the engine")
    parser.add_argument(
        "--only",
        type=lambda s: set(s.split(",")),
        default=set(MEASUREMENTS),
        help=f"comma-separated subset of {','.join(MEASUREMENTS)}",
    )
    parser.add_argument("--pyshark-worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.capture.exists():
        print(
            f"no capture at {args.capture}; run benchmarks/make_capture.py first", file=sys.stderr
        )
        return 2
    if args.pyshark_worker:
        pyshark_worker(args.capture, args.pyshark_packets)
    else:
        run_all(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
