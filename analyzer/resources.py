"""Where the built-in data lives (rule packs, log packs, report templates, sample captures),
and the user's cache folder.

The repository keeps `rules/` and `sample_captures/` at its top level; the build maps them
into the package as `analyzer.builtin_rules` and `analyzer.builtin_samples` (pyproject's
`package-dir`), and an editable install maps the same names back to the folders. So one
`importlib.resources` lookup finds them in a checkout, an editable install and a wheel.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from analyzer.errors import InputError


def _folder(package: str) -> Path:
    """The package's folder on disk: rule loading lists, globs and cites paths, so a
    Traversable that is not a real folder (a zip import) cannot serve."""
    try:
        root = files(package)
    except ModuleNotFoundError:
        root = None
    if not isinstance(root, Path) or not root.is_dir():
        raise InputError(
            f"wsdoctor's built-in data ({package}) is missing from this installation",
            hint="reinstall wsdoctor from a wheel or the source tree",
        )
    return root


def rules_dir() -> Path:
    """The built-in rule pack (the repository's `rules/`)."""
    return _folder("analyzer.builtin_rules")


def log_packs_dir() -> Path:
    """The built-in log pattern packs (the repository's `rules/logs/`)."""
    return rules_dir() / "logs"


def samples_dir() -> Path:
    """The sample corpus the rules' `sample:` test cases run on (`sample_captures/`)."""
    return _folder("analyzer.builtin_samples")


def templates_dir() -> Path:
    """The HTML report's Jinja templates and stylesheet."""
    return _folder("analyzer.report") / "templates"


def cache_dir() -> Path | None:
    """The user's cache folder for what wsdoctor remembers between runs (tshark's answers,
    rule files already checked); None when no home directory is known: every cache is
    an optimisation only, so a run then simply remembers nothing."""
    base = os.environ.get("XDG_CACHE_HOME")
    try:
        return Path(base) / "wsdoctor" if base else Path.home() / ".cache" / "wsdoctor"
    except (RuntimeError, KeyError):  # Path.home() without HOME or a passwd entry
        return None
