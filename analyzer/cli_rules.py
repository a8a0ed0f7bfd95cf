"""`wsdoctor rules list|show|validate|test`: the rule packs, for the people who tune them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from analyzer import config, config_file, resources
from analyzer.errors import InputError, PackError
from analyzer.ingest.logpacks import load_packs
from analyzer.report import outputs, tables, terminal
from analyzer.rule_tests import run_all
from analyzer.rules.loader import load_rules, log_pack_dirs
from analyzer.rules.model import Rule

rule_paths = click.option(
    "--rules", "rule_dirs", multiple=True, metavar="DIR", help="add a rule pack (repeatable)"
)
config_option = click.option(
    "--config",
    "config_path",
    default=None,
    metavar="FILE",
    help="config file (default: the nearest wsdoctor.yaml or [tool.wsdoctor] in "
    "pyproject.toml, from the working directory up to the repository root)",
)


color_option = click.option(
    "--color",
    type=click.Choice(terminal.COLOR_CHOICES),
    default="auto",
    show_default=True,
    help="colour the terminal output (auto: on a terminal, unless NO_COLOR is set)",
)


def settings_from(config_path: str | None, flags: dict) -> config.Settings:
    """Config file and flags merged; the run names the config file it used, since one in
    the working directory is picked up without being asked for."""
    found = config_file.find_config(Path(config_path) if config_path else None, Path.cwd())
    settings = config.from_file(found)
    if found is not None:
        outputs.note(f"config: {config_file.describe(found)}")
    return config.with_flags(settings, flags)


def effective_rules(config_path: str | None, rule_dirs: tuple[str, ...]) -> list[Rule]:
    settings = settings_from(config_path, {"rules": rule_dirs})
    every = load_rules(settings.rule_paths)
    tuned = {r.id: r for r in config.apply(every, settings)}
    return [tuned.get(r.id, r) for r in every]


RULE_COLUMNS = (
    tables.Column("ID"),
    tables.Column("CATEGORY", keep=20),
    tables.Column("SEVERITY"),
    tables.Column("CONF", keep=10),
    tables.Column("TITLE", keep=30, free=True, least=20, most=None),
)


def _out(text: str) -> None:
    """Standard output of the rules commands: rule text is user-supplied, so control
    characters in it are written out, as for everything else wsdoctor prints."""
    click.echo(outputs.visible(text))


@click.group()
def rules() -> None:
    """List, show, validate and test the rule packs."""


@rules.command("list")
@rule_paths
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def list_rules(rule_dirs: tuple[str, ...], config_path: str | None, fmt: str) -> None:
    """Every rule: id, category, severity (after config), confidence and title."""
    rules_ = sorted(effective_rules(config_path, rule_dirs), key=lambda r: (r.category, r.id))
    if fmt == "json":
        keys = ("id", "category", "severity", "confidence", "status", "title")
        rows = [{k: getattr(r, k) for k in keys} | {"path": str(r.path)} for r in rules_]
        _out(json.dumps(rows, indent=2))
        return
    rows = [[r.id, r.category, r.severity, r.confidence, r.title] for r in rules_]
    click.echo(tables.fmt(RULE_COLUMNS, rows, terminal.width(sys.stdout)), nl=False)
    outputs.note(f"{len(rules_)} rules")


@rules.command("show")
@click.argument("rule_id")
@rule_paths
@config_option
def show(rule_id: str, rule_dirs: tuple[str, ...], config_path: str | None) -> None:
    """One rule in full, with the params and severity in effect."""
    by_id = {r.id: r for r in effective_rules(config_path, rule_dirs)}
    if rule_id not in by_id:
        raise InputError(f"no rule {rule_id!r}", hint="wsdoctor rules list shows them")
    r = by_id[rule_id]
    _out(f"# {r.path}")
    changed = {
        k: v
        for k, v in (("severity", r.severity), ("params", r.params))
        if r.raw.get(k, {} if k == "params" else None) != v
    }
    if changed:
        _out(f"# in effect (config / flags): {json.dumps(changed)}")
    _out(r.path.read_text(encoding="utf-8").rstrip() if r.path else "")


@rules.command("validate")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
def validate(paths: tuple[str, ...]) -> None:
    """Check rule files or folders (and a folder's `logs/` log packs); every problem as
    file:line: field: message (exit 2)."""
    folders = [Path(p) for p in paths]
    found = load_rules(folders, builtin=False, known=_builtin_or_none())
    packs = load_packs(log_pack_dirs(folders), builtin=False)
    logs = f", {len(packs)} log pack(s)" if packs else ""
    _out(f"ok: {len(found)} rule(s){logs} in {', '.join(paths)}")


def _builtin_or_none() -> list[Rule]:
    """The built-in rules, which a pack's `defers_to` may name; none if they do not load
    (when the pack being validated is the built-in one, its own problems are reported)."""
    try:
        return load_rules([])
    except PackError:
        return []


@rules.command("test")
@click.argument("rule_ids", nargs=-1, metavar="[ID...]")
@rule_paths
@click.option(
    "--samples",
    default=None,
    metavar="DIR",
    help="where `sample:` cases are looked up (default: the built-in sample corpus)",
)
@click.option("-q", "--quiet", is_flag=True, help="print only the failing cases and the total")
@color_option
def test(
    rule_ids: tuple[str, ...],
    rule_dirs: tuple[str, ...],
    samples: str | None,
    quiet: bool,
    color: str,
) -> None:
    """Run the rules' must-hit / must-not-hit cases; exit 1 if any fails."""
    every = load_rules([Path(p) for p in rule_dirs])
    unknown = sorted(set(rule_ids) - {r.id for r in every})
    if unknown:
        raise InputError(f"no rule {', '.join(map(repr, unknown))}")
    chosen = [r for r in every if not rule_ids or r.id in rule_ids]
    outcomes = run_all(chosen, Path(samples) if samples else resources.samples_dir(), every)
    failed = [o for o in outcomes if not o.passed]
    colour = terminal.wants_colour(sys.stdout, color)
    for o in failed if quiet else outcomes:
        mark = terminal.style(*(("ok  ", colour, "32") if o.passed else ("FAIL", colour, "31")))
        # the colour codes are ours; the rule's id, file and detail are written out
        line = outputs.visible_line(f"{o.rule.id:<34} {o.where}  {o.detail}")
        click.echo(f"{mark} {line}", color=colour)
    click.echo(
        f"{len(outcomes) - len(failed)}/{len(outcomes)} cases passed in {len(chosen)} rule(s)",
        err=True,
    )
    if failed:
        raise SystemExit(1)
