"""Write every report of every shipped and shared input into OUTDIR, to diff two trees.

A refactor that must keep the output byte-identical is checked by running this before and
after and comparing the folders (`diff -r BEFORE AFTER`). For each sample folder it
analyses the capture alone (with its key log), the capture with every log and HAR beside
it, and the logs and HARs alone; each shared Zeek trace and external capture alone. Paths
are relative to the repository, so both runs cite the same ones.

    .venv/bin/python scripts/snapshot.py /tmp/before [--jobs 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def _runs() -> dict[str, list[str]]:
    """Name -> INPUT arguments, relative to the repository."""
    runs: dict[str, list[str]] = {}
    for folder in sorted(p for p in (REPO / "sample_captures").iterdir() if p.is_dir()):
        rel = folder.relative_to(REPO)
        captures = sorted(folder.glob("capture.pcap*"))
        keys = ["--keylog", str(rel / "keys.log")] if (folder / "keys.log").exists() else []
        side = [str(rel / p.name) for p in sorted(folder.iterdir()) if p.suffix in (".log", ".har")]
        side = [s for s in side if not s.endswith(("keys.log", "record.log", "tcpdump.log"))]
        if captures:
            runs[f"{folder.name}.capture"] = [str(rel / captures[0].name), *keys]
        if captures and side:
            runs[f"{folder.name}.all"] = [str(rel / captures[0].name), *keys, *side]
        if side:
            runs[f"{folder.name}.side"] = side
    for corpus in ("zeek-traces", "external-captures"):
        for path in sorted((SHARED / corpus).glob("*.pcap*")):
            runs[f"{corpus}.{path.stem}"] = [str(Path("..") / "shared" / corpus / path.name)]
    return runs


def _one(name: str, args: list[str], out: Path) -> str:
    cmd = [sys.executable, "-m", "analyzer", "analyze", *args]
    done = subprocess.run(
        [*cmd, "--format", "html,md,json", "-o", str(out / name)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    (out / f"{name}.exit").write_text(f"{done.returncode}\n{done.stderr}", encoding="utf-8")
    return f"{name}: {done.returncode}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    opts = parser.parse_args()
    out = opts.outdir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    runs = _runs()
    with ThreadPoolExecutor(opts.jobs) as pool:
        for line in pool.map(lambda kv: _one(*kv, out), runs.items()):
            print(line, flush=True)


if __name__ == "__main__":
    main()
