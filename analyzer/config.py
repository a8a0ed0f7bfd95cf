"""Which rules run and how: rule defaults < config file < command-line flags, merged once.

The config file is the file `--config` names, else the nearest `wsdoctor.yaml` (or
`[tool.wsdoctor]` in pyproject.toml) in the working directory or a folder above it, up to
the repository root (the first folder holding `.git`), as ruff and pytest find theirs:

    rules:
      paths: [team-rules/]               # extra packs, relative to the config file
      select: [idle-timeout, missing-close, tls-interception]   # ids or categories
      exclude: [capture-started-mid-session]
      severity: {idle-near-miss: medium, capture-quality: info}
      params: {idle-before-1011: {inactivity_window_s: 12}}
    fail_on: high
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer import config_file, yamlsource
from analyzer.errors import InputError
from analyzer.rules.metadata import not_finite, same_kind
from analyzer.rules.model import SEVERITIES, Rule
from analyzer.schema import CATEGORIES
from analyzer.yamlsource import YamlProblem

RULE_KEYS = ("paths", "select", "exclude", "severity", "params")
RUN_KEYS = ("jobs", "scheduler")  # how the run dissects; a flag of the same name overrides


@dataclass
class Settings:
    rule_paths: list[Path] = field(default_factory=list)
    select: list[str] | None = None  # None: every rule
    exclude: list[str] = field(default_factory=list)
    severity: dict[str, str] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_on: str | None = None
    jobs: int | None = None  # tsharks at a time (None: one per core, for big captures)
    scheduler: str | None = None  # a Dask scheduler's address: dissect on that cluster
    origin: dict[str, str] = field(default_factory=dict)  # setting -> where it was set


def from_file(path: Path | None) -> Settings:
    """Settings of one config file, every key checked (unknown keys are typos)."""
    if path is None:
        return Settings()
    data, where = config_file.contents(path)
    return _settings(data, path.parent, where)


def _settings(data: Any, base: Path, where: config_file.Where) -> Settings:
    if not isinstance(data, dict) or set(data) - {"rules", "fail_on", *RUN_KEYS}:
        raise InputError(
            "expected the keys `rules`, `fail_on`, `jobs` and `scheduler`", source=where("(top)")
        )
    rules = data.get("rules") or {}
    if not isinstance(rules, dict) or set(rules) - set(RULE_KEYS):
        raise InputError(f"`rules` takes {', '.join(RULE_KEYS)}", source=where("rules"))
    out = Settings(
        fail_on=_severity(data.get("fail_on"), where("fail_on"), allow_none=True),
        jobs=config_file.jobs(data.get("jobs"), where("jobs")),
        scheduler=config_file.scheduler(data.get("scheduler"), where("scheduler")),
    )
    out.rule_paths = [base / p for p in _strings(rules.get("paths", []), where("rules.paths"))]
    if "select" in rules:
        out.select = _strings(rules["select"], where("rules.select"))
    out.exclude = _strings(rules.get("exclude", []), where("rules.exclude"))
    out.severity = {
        str(k): _severity(v, where(f"rules.severity.{k}"))
        for k, v in _mapping(rules.get("severity", {}), where("rules.severity")).items()
    }
    params = _mapping(rules.get("params", {}), where("rules.params"))
    out.params = {str(k): _mapping(v, where(f"rules.params.{k}")) for k, v in params.items()}
    out.origin = {key: where(f"rules.{key}") for key in rules} | {
        key: where(key) for key in ("fail_on", *RUN_KEYS) if key in data
    }
    return out


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError("expected a list of names", source=where)
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError("expected a mapping", source=where)
    return value


def _severity(value: Any, where: str, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if value not in SEVERITIES:
        raise InputError(f"{value!r} is not one of {', '.join(SEVERITIES)}", source=where)
    return value


def parse_flag_pairs(pairs: tuple[str, ...], flag: str) -> list[tuple[str, str]]:
    """`ID=VALUE` command-line pairs (also comma-separated)."""
    out = []
    for item in (p for raw in pairs for p in raw.split(",") if p):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise InputError(f"expected KEY=VALUE, got {item!r}", source=flag)
        out.append((key.strip(), value.strip()))
    return out


def _flag_value(text: str, flag: str) -> Any:
    """A `--param` value read as YAML, through the same bounded reader as the files."""
    try:
        return yamlsource.value(text)
    except YamlProblem as exc:
        raise InputError(exc.message, source=flag) from None


def with_flags(base: Settings, flags: dict[str, Any]) -> Settings:
    """Flags over the file: lists of packs add up, everything else replaces."""
    out = dataclasses.replace(base, params={k: dict(v) for k, v in base.params.items()})
    out.rule_paths = [*base.rule_paths, *(Path(p) for p in flags.get("rules", ()))]
    if flags.get("select"):
        out.select = [s for raw in flags["select"] for s in raw.split(",") if s]
    out.exclude = [*base.exclude, *(s for raw in flags.get("exclude", ()) for s in raw.split(","))]
    for key, value in parse_flag_pairs(flags.get("severity", ()), "--severity"):
        out.severity[key] = _severity(value, f"--severity {key}")
    for key, value in parse_flag_pairs(flags.get("param", ()), "--param"):
        rule_id, dot, name = key.rpartition(".")
        if not dot:
            raise InputError(f"expected RULE.PARAM=VALUE, got {key!r}", source="--param")
        out.params.setdefault(rule_id, {})[name] = _flag_value(value, f"--param {key}")
    if flags.get("fail_on"):
        out.fail_on = flags["fail_on"]
    if flags.get("jobs") is not None:
        out.jobs = flags["jobs"]  # click checked it
    if flags.get("scheduler") is not None:
        out.scheduler = config_file.scheduler(flags["scheduler"], "--scheduler")
    return out


def apply(rules: list[Rule], settings: Settings) -> list[Rule]:
    """The rules to run, with severities and params overridden; unknown names are errors."""
    ids = {r.id for r in rules}
    for key in ("select", "exclude", "severity", "params"):
        names = getattr(settings, key) or []
        allowed = ids | set(CATEGORIES) if key != "params" else ids
        unknown = sorted(set(names) - allowed)
        if unknown:
            raise InputError(
                f"unknown rule id or category {', '.join(map(repr, unknown))}",
                source=settings.origin.get(key, f"--{key}"),
                hint="wsdoctor rules list shows them",
            )
    chosen = [
        r
        for r in rules
        if (settings.select is None or {r.id, r.category} & set(settings.select))
        and not {r.id, r.category} & set(settings.exclude)
    ]
    return [_tuned(r, settings) for r in chosen]


def _tuned(rule: Rule, settings: Settings) -> Rule:
    severity = settings.severity.get(rule.id, settings.severity.get(rule.category, rule.severity))
    params = dict(rule.params)
    for name, value in settings.params.get(rule.id, {}).items():
        if name not in params:
            raise InputError(
                f"rule {rule.id} has no param {name!r} (it has {', '.join(params) or 'none'})",
                source=settings.origin.get("params", "--param"),
            )
        if not same_kind(params[name], value) or not_finite(value):
            raise InputError(
                f"{rule.id}.{name} must be like its default {params[name]!r}, got {value!r}",
                source=settings.origin.get("params", "--param"),
            )
        params[name] = value
    return dataclasses.replace(rule, severity=severity, params=params)
