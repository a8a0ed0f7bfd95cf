"""JSON-lines logs seen as text: the fields a field-mapping pack names, joined into the
`time level message` line its patterns read (pino, python-json-logger, ECS...)."""

from __future__ import annotations

import re

import polars as pl

from analyzer.ingest.logpacks import PARAMS, LogPack

_DOTTED = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")


def jsonl_view(lines: pl.DataFrame, packs: list[LogPack]) -> tuple[pl.DataFrame, bool]:
    """Add `match`: the text patterns see. JSON lines become `time level message`.
    Also says whether any line is JSON (with a field-mapping pack loaded).

    Each of the three is the first of the pack's candidate keys present in the line
    (pino's `msg`, python-json-logger's `message`). JSON paths run only on the lines that
    start with `{`: a block without any costs one `starts_with` scan, so plain-text logs
    are no slower. With several field-mapping packs, the last one loaded wins.
    """
    jsonl = [p for p in packs if p.is_jsonl]
    is_json = lines["raw"].str.starts_with("{") if jsonl else None
    if is_json is None or not is_json.any():
        return lines.with_columns(match=pl.col("raw")), False
    rows = None if is_json.all() else is_json.arg_true()
    json_lines = lines if rows is None else lines[rows]
    fields = json_lines.select(_json_fields(json_lines["raw"], jsonl[-1].params))
    # a line that only starts with `{` (Node's object dumps) keeps its own text
    found = pl.any_horizontal(pl.all().is_not_null())
    joined = pl.concat_str(pl.all().fill_null(""), separator=" ")
    text = fields.select(pl.when(found).then(joined)).to_series()
    text = text.zip_with(text.is_not_null(), json_lines["raw"]).alias("match")
    if rows is None:
        return lines.with_columns(text), True
    return lines.with_columns(lines["raw"].clone().scatter(rows, text).alias("match")), True


def _json_fields(raw: pl.Series, params: dict[str, tuple[str, ...]]) -> list[pl.Expr]:
    """Per param, the first candidate key present in each line (null if none).

    Every JSON path parses the whole line, so candidates whose quoted name is nowhere in
    the block are dropped first (a substring scan): a pino or python-json-logger log costs
    one parse per param, not one per candidate.
    """
    parts = []
    for name in PARAMS:
        keys = [k for k in params.get(name, ()) if _in_block(raw, k)]
        if params.get(name):
            paths = [pl.col("raw").str.json_path_match(_json_path(k)) for k in keys]
            parts.append((pl.coalesce(paths) if paths else pl.lit(None, pl.String)).alias(name))
    return parts


def _in_block(raw: pl.Series, key: str) -> bool:
    top = key.split(".", 1)[0] if _DOTTED.match(key) else key
    return bool(raw.str.contains(f'"{top}"', literal=True).any())


def _json_path(key: str) -> str:
    """`$.a.b` for dotted identifiers (a nested field), else `$['@timestamp']`."""
    return f"$.{key}" if _DOTTED.match(key) else f"$['{key}']"
