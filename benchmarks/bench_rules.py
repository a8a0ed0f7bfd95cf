"""How long the whole built-in rule pack takes over 10,000 sessions.

The session tables of every recorded sample (real features, real frames and anomalies)
are replicated under fresh session ids until there are --sessions of them, so the pack
sees the mix of healthy and failing sessions the samples contain. Two numbers:

* match: aggregates over frames/anomalies + every `when` condition (the vectorised part)
* findings: match + rendering summary, evidence and fix text for every hit
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import polars as pl
import yaml

from analyzer.pipeline import load
from analyzer.rules.engine import evaluate, match, with_aggregates
from analyzer.rules.loader import load_rules
from analyzer.sessions.dataset import Dataset

REPO = Path(__file__).resolve().parents[1]


def sample_datasets() -> list[Dataset]:
    out = []
    for spec_path in sorted((REPO / "sample_captures").glob("*/expected.yaml")):
        capture = yaml.safe_load(spec_path.read_text())["captures"][0]
        keylog = spec_path.parent / capture["keylog"] if "keylog" in capture else None
        out.append(load([spec_path.parent / capture["path"]], keylog))
    return out


def replicate(datasets: list[Dataset], target: int) -> dict[str, pl.DataFrame]:
    """`target` sessions: copies of the samples' sessions, ids made unique per copy."""
    tables = {
        name: pl.concat(
            [getattr(d, name).with_columns(pl.col(key) + f"@{i}") for i, d in enumerate(datasets)]
        )
        for name, key in (("sessions", "id"), ("frames", "session"), ("anomalies", "session"))
    }
    copies = -(-target // tables["sessions"].height)
    out = {}
    for name, key in (("sessions", "id"), ("frames", "session"), ("anomalies", "session")):
        out[name] = pl.concat(
            [tables[name].with_columns(pl.col(key) + f"#{c}") for c in range(copies)]
        )
    keep = out["sessions"]["id"].head(target)
    out["sessions"] = out["sessions"].head(target)
    out["frames"] = out["frames"].filter(pl.col("session").is_in(keep.implode()))
    out["anomalies"] = out["anomalies"].filter(pl.col("session").is_in(keep.implode()))
    return out


def timed(fn, repeat: int) -> tuple[float, object]:
    runs, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rules = load_rules([])
    t = replicate(sample_datasets(), args.sessions)
    tables = {"frames": t["frames"], "anomalies": t["anomalies"]}
    print(
        f"{len(rules)} rules; {t['sessions'].height:,} sessions, {t['frames'].height:,} frames,"
        f" {t['anomalies'].height:,} anomalies (medians of {args.repeat} runs)"
    )
    match_s, masks = timed(
        lambda: match(rules, with_aggregates(rules, t["sessions"], tables)), args.repeat
    )
    hits = int(masks.select(pl.sum_horizontal(pl.exclude("id"))).to_series().sum())
    print(f"match     {match_s * 1000:8.1f} ms  ({hits:,} (session, rule) hits)")
    full_s, found = timed(lambda: evaluate(rules, t["sessions"], tables), args.repeat)
    print(f"findings  {full_s * 1000:8.1f} ms  ({len(found):,} findings rendered)")


if __name__ == "__main__":
    main()
