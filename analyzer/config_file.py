"""Finding and reading the config file, apart from what its keys mean (config.py).

Light on purpose (no polars, no rule model): the console script reads the file's `jobs`
and `scheduler` before importing the engine, to guess whether a capture will be read in
one piece (ingest/prestart.py), and must find the very file the run will use and check
those two keys as the run will.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from analyzer.errors import InputError
from analyzer.yamlsource import Source, YamlProblem, read

Where = Callable[[str], str]  # a key ("rules.select") -> where it is written, for messages


def find_config(explicit: Path | None, cwd: Path) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise InputError("no such config file", source=str(explicit))
        return explicit
    for folder in _upward(cwd):
        for name in ("wsdoctor.yaml", "wsdoctor.yml"):
            if (folder / name).is_file():
                return folder / name
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _wsdoctor_table(_toml(pyproject)) is not None:
            return pyproject
    return None


def _upward(cwd: Path) -> Iterator[Path]:
    """`cwd` and the folders above it, up to the repository root (the first folder holding
    `.git`) or the filesystem root: a config above the repository is someone else's."""
    here = cwd.resolve()
    for folder in (here, *here.parents):
        yield folder
        if (folder / ".git").exists():
            return


def describe(path: Path) -> str:
    """The config file as the run names it: absolute, and which table of a pyproject.toml."""
    table = " [tool.wsdoctor]" if path.name == "pyproject.toml" else ""
    return f"{path.resolve()}{table}"


def contents(path: Path) -> tuple[Any, Where]:
    """The file's wsdoctor settings as plain data (`{}` for an empty file), unchecked, and
    where each key is written."""
    if path.name == "pyproject.toml":
        table = f"{path} [tool.wsdoctor]"
        return _wsdoctor_table(_toml(path)), lambda key: f"{table} {key}"
    try:
        source = read(path)
    except YamlProblem as exc:
        raise InputError(exc.message, source=f"{path}:{exc.line}") from None
    return source.data or {}, _yaml_where(source)


def _yaml_where(source: Source) -> Where:
    def where(key: str) -> str:
        parts = tuple(key.split("."))
        return f"{source.path}:{source.line(parts)}: {key}"

    return where


def _wsdoctor_table(doc: dict[str, Any]) -> Any:
    tool = doc.get("tool")
    return tool.get("wsdoctor") if isinstance(tool, dict) else None


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # TOMLDecodeError, UnicodeDecodeError, a 5,000-digit integer
        raise InputError(f"not valid TOML: {exc}", source=str(path)) from None
    except RecursionError:
        raise InputError("not valid TOML: nested too deeply", source=str(path)) from None


def jobs(value: Any, where: str) -> int | None:
    """`jobs`, checked: tsharks at a time, 1 or more (None: not set)."""
    if value is not None and (type(value) is not int or value < 1):
        raise InputError(f"{value!r} is not a number of jobs (1 or more)", source=where)
    return value


# A Dask address: protocol, host and port (tcp://10.0.0.5:8786). distributed's Client fails
# on anything less only after a 20 s close that prints a traceback from its finaliser.
SCHEDULER = re.compile(r"\w+://[^\s/]+:\d+/?")


def scheduler(value: Any, where: str) -> str | None:
    """`scheduler`, checked: a Dask scheduler's address (None: not set)."""
    if value is not None and not (isinstance(value, str) and SCHEDULER.fullmatch(value)):
        raise InputError(f"{value!r} is not a scheduler address (tcp://HOST:PORT)", source=where)
    return value
