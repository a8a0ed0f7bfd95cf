"""Which report files one `analyze` run writes: formats from --format or the -o suffix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from analyzer.analysis import Analysis
from analyzer.errors import InputError

FORMATS = ("html", "md", "json")
SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".json": "json"}
DEFAULT_HTML = "wsdoctor-report.html"


def plan(formats: str | None, output: str | None) -> list[tuple[str, str]]:
    """(format, path) pairs; `-` is standard output.

    One format: -o names the file (default: wsdoctor-report.html for HTML, standard
    output for Markdown and JSON, which are read in terminals and pipes). Several
    formats: -o is the common stem and each file gets its own suffix.
    """
    chosen = _formats(formats, output)
    if len(chosen) == 1:
        fmt = chosen[0]
        return [(fmt, output or (DEFAULT_HTML if fmt == "html" else "-"))]
    if output in (None, "-"):
        raise InputError(
            "several formats need -o PATH (each is written to PATH with its suffix)",
            source="--format",
        )
    stem = Path(output)
    stem = stem.with_suffix("") if stem.suffix.lower() in SUFFIXES else stem
    return [(fmt, f"{stem}.{fmt}") for fmt in chosen]


def _formats(formats: str | None, output: str | None) -> list[str]:
    if formats:
        chosen = [f.strip().lower() for f in formats.split(",") if f.strip()]
        unknown = [f for f in chosen if f not in FORMATS]
        if unknown or not chosen:
            raise InputError(
                f"unknown format {', '.join(unknown) or formats!r} (choose from html, md, json)",
                source="--format",
            )
        return list(dict.fromkeys(chosen))
    if output and output != "-":
        suffix = Path(output).suffix.lower()
        if suffix in SUFFIXES:
            return [SUFFIXES[suffix]]
    return ["json"] if output == "-" else ["html"]


def writer(fmt: str) -> Callable[[Analysis], str]:
    """The render function of a format (imported on demand: each pulls its templates)."""
    if fmt == "json":
        from analyzer.report import json_report

        return json_report.render
    if fmt == "md":
        from analyzer.report import markdown

        return markdown.render
    from analyzer.report import html

    return html.render
