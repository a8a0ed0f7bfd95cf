"""Run one input kind's property for a number of examples (CI) or for a time (campaign).

Profiles (WSDOCTOR_FUZZ_PROFILE):

- `ci` (default): a fixed, small number of examples per kind, derandomized and without a
  database, so a push sees the same mutants every time and a correct engine never flakes;
  no shrinking (each example is a whole CLI run): the first broken promise fails the test
  with the reproducer folder it saved.
- `campaign` (scripts/fuzz.sh): WSDOCTOR_FUZZ_MINUTES split by weight across the kinds
  in WSDOCTOR_FUZZ_KINDS (default all),
  random seeds, hypothesis's example database in fuzz-findings/.hypothesis/<kind> (failures
  replay first next time) and shrinking, bounded to WSDOCTOR_FUZZ_SHRINK_S seconds per
  failure. Examples run in slices; a failure whose signature was already reported in an
  earlier slice is counted and its smallest input kept, but does not stop the search, so
  one known defect does not hide the next. Counts go to fuzz-findings/campaign-stats.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from . import oracle

PROFILE = os.environ.get("WSDOCTOR_FUZZ_PROFILE", "ci")
MINUTES = float(os.environ.get("WSDOCTOR_FUZZ_MINUTES", "5"))
SHRINK_S = int(os.environ.get("WSDOCTOR_FUZZ_SHRINK_S", "90"))
# share of a campaign's time per kind, and CI examples per kind
WEIGHTS = {"pcap": 0.25, "pcapng": 0.25, "log": 0.2, "har": 0.15, "rules": 0.15}
CI_EXAMPLES = {"pcap": 12, "pcapng": 12, "log": 10, "har": 8, "rules": 5}
STATS = oracle.FINDINGS / "campaign-stats.json"

SLOW = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
    HealthCheck.filter_too_much,
]


def ci_settings(kind: str) -> settings:
    scale = float(os.environ.get("WSDOCTOR_FUZZ_CI_SCALE", "1"))
    return settings(
        max_examples=max(1, round(CI_EXAMPLES[kind] * scale)),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=SLOW,
        print_blob=True,
    )


def run_ci(kind: str, strategy) -> None:
    @ci_settings(kind)
    @given(case=strategy)
    def prop(case):
        oracle.execute(case)

    prop()


def run_campaign(kind: str, strategy) -> dict:
    """Run `kind` for its share of WSDOCTOR_FUZZ_MINUTES; returns its stats."""
    try:  # hypothesis's own bound on shrinking (default 300 s) is too long here
        from hypothesis.internal.conjecture import engine

        engine.MAX_SHRINKING_SECONDS = SHRINK_S
    except (ImportError, AttributeError):
        pass
    kinds = [k for k in os.environ.get("WSDOCTOR_FUZZ_KINDS", "").split(",") if k in WEIGHTS]
    budget = MINUTES * 60 * WEIGHTS[kind] / sum(WEIGHTS[k] for k in kinds or WEIGHTS)
    end = time.monotonic() + budget
    stats = {"kind": kind, "seconds": 0.0, "cases": 0, "failing_cases": 0, "failures": {}}
    reported: set[str] = set()
    seen: Counter = Counter()
    durations: list[float] = []
    t0 = time.monotonic()

    def body(case):
        if time.monotonic() > end:
            return  # out of time: the slice's remaining examples are no-ops
        t = time.monotonic()
        try:
            oracle.execute(case)
        except oracle.Failure as f:
            stats["failing_cases"] += 1
            seen[f.signature] += 1
            stats["failures"][f.signature] = str(f.folder)
            if f.signature not in reported:
                raise
        finally:
            stats["cases"] += 1
            durations.append(time.monotonic() - t)

    db = DirectoryBasedExampleDatabase(str(oracle.FINDINGS / ".hypothesis" / kind))
    while time.monotonic() < end - 5:
        avg = sum(durations[-20:]) / len(durations[-20:]) if durations else 5.0
        n = int(max(1, min(50, (end - time.monotonic()) / max(avg, 0.5))))
        prop = settings(
            max_examples=n,
            database=db,
            deadline=None,
            derandomize=False,
            suppress_health_check=SLOW,
            print_blob=True,
        )(given(case=strategy)(body))
        try:
            prop()
        except Exception as e:  # a failure (or a group of them) ends the slice
            new = set(stats["failures"]) - reported
            for sig in sorted(new):
                print(f"\nfuzz {kind}: NEW {sig}\n  -> {stats['failures'][sig]}", file=sys.stderr)
            if not new:
                print(f"\nfuzz {kind}: error outside the oracle: {e!r}", file=sys.stderr)
                stats["failures"][f"{kind}: harness error {type(e).__name__}"] = repr(e)[:300]
                new = {f"{kind}: harness error {type(e).__name__}"}
            reported |= new
    stats["seconds"] = round(time.monotonic() - t0, 1)
    stats["seen"] = dict(seen)
    _save(stats)
    return stats


def _save(stats: dict) -> None:
    STATS.parent.mkdir(parents=True, exist_ok=True)
    all_stats = json.loads(STATS.read_text()) if STATS.exists() else {}
    all_stats[stats["kind"]] = stats
    STATS.write_text(json.dumps(all_stats, indent=1))


def summary(path: Path = STATS) -> int:
    """Print cases per kind and the failures saved; 1 if anything failed."""
    if not path.exists():
        print("fuzz: no campaign statistics (did the campaign run?)")
        return 1
    data = json.loads(path.read_text())
    total_failures = 0
    print("\nfuzz campaign summary")
    print(f"{'kind':8} {'cases':>6} {'minutes':>7} {'cases/min':>9} {'failing':>7} classes")
    for kind, s in data.items():
        rate = s["cases"] / (s["seconds"] / 60) if s["seconds"] else 0
        print(
            f"{kind:8} {s['cases']:6d} {s['seconds'] / 60:7.1f} {rate:9.1f} "
            f"{s['failing_cases']:7d} {len(s['failures'])}"
        )
        total_failures += len(s["failures"])
    if total_failures:
        print("\nfailures saved (signature -> reproducer, times seen):")
        for s in data.values():
            for sig, folder in sorted(s["failures"].items()):
                print(f"  {sig}\n      {folder}  (x{s.get('seen', {}).get(sig, '?')})")
    else:
        print("\nno failures")
    return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(summary(Path(sys.argv[1]) if len(sys.argv) > 1 else STATS))
