"""The `wsdoctor` command: thin click commands over `analyzer.pipeline`.

`main` is the single error boundary: user-caused problems become one line on stderr and
exit code 2; nothing a user does prints a traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from analyzer import __version__, config_file, findings, pipeline, redact
from analyzer.cli_rules import color_option, config_option, rule_paths, rules, settings_from
from analyzer.errors import InputError, PackError
from analyzer.findings import RANK
from analyzer.ingest import kinds
from analyzer.ingest.capture import Parallel
from analyzer.ingest.tshark import find_tshark
from analyzer.inputs import Inputs, check_keylog, classify, shown, stdin_spool
from analyzer.report import outputs, records, tables, terminal, terminal_run
from analyzer.rules.loader import log_pack_dirs
from analyzer.rules.model import SEVERITIES
from analyzer.sessions.dataset import Dataset

FORMATS = click.Choice(["table", "json"])


def parallel_options(f: Callable) -> Callable:
    """How captures are dissected: the same three options on every command that reads
    them (the config file's `jobs` and `scheduler` apply to each too)."""
    options = [
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(min=1),
            default=None,
            help="tsharks at a time; a big capture is cut by connection into shards "
            "(default: one per core, for captures of 32 MB or more)",
        ),
        click.option(
            "--scheduler",
            default=None,
            metavar="tcp://HOST:PORT",
            help="dissect on this Dask cluster (pip install 'wsdoctor[cluster]'); "
            "its workers must see the inputs and --work-dir at the same paths",
        ),
        click.option(
            "--work-dir",
            type=click.Path(exists=True, file_okay=False, writable=True, path_type=Path),
            default=None,
            help="folder for the shards of big captures (default: the system's temporary folder)",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _load(
    inputs: tuple[str, ...],
    keylog: str | None,
    tshark: str | None,
    output: str,
    parallel: Parallel,
) -> Dataset:
    """The inputs of `sessions` and `frames`, read; their `-o` may not overwrite one of
    them (a folder's files included) or the key log."""
    sources = classify(inputs)
    key = _key(keylog, sources)
    outputs.refuse_inputs([output], [*sources.paths(), *([key] if key else [])], [])
    progress = terminal_run.progress()
    data = pipeline.load(sources, key, tshark, progress, parallel=parallel)
    terminal_run.done(progress, data.warnings)
    return data


def _key(keylog: str | None, sources: Inputs) -> Path | None:
    """`--keylog`, else the one NSS key log found in the INPUT folders: beside the capture,
    it is what the person collecting the folder meant for it, and it only lets tshark
    decrypt the captures (the report stays redacted). Said on stderr, like the config."""
    for warning in sources.warnings:
        outputs.note(shown(f"warning: {warning}"))
    if keylog is None and len(sources.keylogs) == 1:
        keylog = str(sources.keylogs[0])
        outputs.note(f"key log: {keylog} (found in the folder; --keylog FILE overrides)")
    elif keylog is None and sources.keylogs:
        outputs.note(
            f"warning: {len(sources.keylogs)} key logs in the folder(s), none used: "
            "name one with --keylog FILE"
        )
    if keylog is None:
        return None
    check_keylog(Path(keylog))
    return Path(keylog)


def _common(f: Callable, required: bool = True) -> Callable:
    options = [
        click.argument("inputs", nargs=-1, required=required, metavar="INPUT..."),
        click.option(
            "-o",
            "--output",
            default=None,
            help="output file; - for standard output (the default, except for HTML)",
        ),
        click.option(
            "--keylog",
            type=str,
            default=None,
            help="NSS key log (SSLKEYLOGFILE) to decrypt wss:// sessions",
        ),
        click.option(
            "--tshark",
            type=str,
            default=None,
            help="tshark binary (default: WSDOCTOR_TSHARK, then PATH)",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """`--version`: wsdoctor's and the tshark a capture would be read with (WSDOCTOR_TSHARK,
    then PATH), since a bug report needs both; a missing tshark is said, not an error,
    because HAR files and logs are read without it."""
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"wsdoctor {__version__}")
    try:
        found = find_tshark(None)
        click.echo(f"tshark {found.version_text} ({found.path})")
    except InputError as exc:
        click.echo(f"tshark: none usable: {exc}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_version,
    help="Show the wsdoctor and tshark versions and exit.",
)
def cli() -> None:
    """Find out why a WebSocket connection died, from captures and logs."""


@cli.command()
@_common
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--failed", is_flag=True, help="only failed sessions (a finding at medium or above)")
@click.option(
    "--min-severity",
    type=click.Choice(SEVERITIES),
    default=None,
    help="only sessions with a finding at or above this severity",
)
@rule_paths
@config_option
@parallel_options
def sessions(
    inputs: tuple[str, ...],
    fmt: str,
    output: str | None,
    keylog: str | None,
    tshark: str | None,
    failed: bool,
    min_severity: str | None,
    rule_dirs: tuple[str, ...],
    config_path: str | None,
    work_dir: Path | None,
    **run: Any,
) -> None:
    """One line per WebSocket session in the captures, HAR files and logs; with --failed
    or --min-severity the rules run too and each session shows its worst severity."""
    least = "medium" if failed else min_severity
    if failed and min_severity:
        raise click.UsageError("--failed is --min-severity medium: give one of them")
    settings = settings_from(config_path, {"rules": rule_dirs} | run)
    parallel = Parallel(settings.jobs, settings.scheduler, work_dir)
    data = _load(inputs, keylog, tshark, output or "-", parallel)
    table, worst = data.sessions, None
    if least is not None:
        found = pipeline.diagnose(pipeline.select_rules(settings), data)
        worst = _worst_by_session(found)
        keep = [s for s, level in worst.items() if RANK[level] >= RANK[least]]
        table = table.filter(table["id"].is_in(keep))
    text = (
        records.sessions_json(table)
        if fmt == "json"
        else tables.sessions_table(table, _width(output), worst)
    )
    _write(outputs.safe(text), output or "-")


def _worst_by_session(found: list[dict[str, Any]]) -> dict[str, str]:
    """Each session's most severe finding's severity (capture-level findings have none)."""
    worst: dict[str, str] = {}
    for f in found:
        if f["session"] is not None and RANK[f["severity"]] > RANK.get(worst.get(f["session"]), -1):
            worst[f["session"]] = f["severity"]
    return worst


@cli.command()
@_common
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--session", "session_id", default=None, help="only this session (e.g. s2)")
@config_option
@parallel_options
def frames(
    inputs: tuple[str, ...],
    fmt: str,
    output: str | None,
    keylog: str | None,
    tshark: str | None,
    session_id: str | None,
    config_path: str | None,
    work_dir: Path | None,
    **run: Any,
) -> None:
    """The frame timeline of every session (or of one)."""
    settings = settings_from(config_path, run)
    parallel = Parallel(settings.jobs, settings.scheduler, work_dir)
    data = _load(inputs, keylog, tshark, output or "-", parallel)
    table = data.frames
    if session_id is not None:
        known = data.sessions["id"].to_list()
        if session_id not in known:
            raise InputError(
                f"no session {session_id!r} (sessions: {', '.join(known) or 'none'})",
                source="--session",
            )
        table = table.filter(table["session"] == session_id)
    text = (
        records.frames_json(table)
        if fmt == "json"
        else tables.frames_table(table, data.sessions, _width(output))
    )
    _write(outputs.safe(text), output or "-")


def _width(output: str | None) -> int | None:
    """A table on standard output fits the terminal (or COLUMNS); one in a file is whole."""
    return terminal.width(sys.stdout) if output in (None, "-") else None


def _log_options(f: Callable) -> Callable:
    """INPUT may be omitted when a kind's option (--har, --log) names the files."""
    options = [
        click.option(f"--{k.option}", _forced(k), multiple=True, metavar="FILE", help=k.help)
        for k in kinds.KINDS
        if k.option
    ]
    options += [
        click.option(
            "--log-tz",
            default="UTC",
            show_default=True,
            metavar="TZ",
            help="zone of log timestamps written without one (IANA name)",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return _common(f, required=False)


def _forced(kind: kinds.InputKind) -> str:
    return f"{kind.name}_files"  # the parameter of the kind's option: log_files


def _classified(flags: dict[str, Any], inputs: tuple[str, ...], rule_dirs: list[Path]) -> Inputs:
    forced = {k.name: flags.pop(_forced(k)) for k in kinds.KINDS if k.option}
    return classify(inputs, forced, flags.pop("log_tz"), log_pack_dirs(rule_dirs))


@cli.command(
    help="Diagnose every session: a report (HTML, Markdown, JSON) with findings and fixes."
    f"\n\nINPUT is {kinds.listing()}, told apart by content, a folder of them (not "
    "recursive), or - for standard input; "
    f"{' and '.join(f'--{k.option}' for k in kinds.KINDS if k.option)} "
    "take a file as that kind whatever its content."
)
@_log_options
@click.option(
    "--format",
    "fmt",
    default=None,
    metavar="html,md,json",
    help="report format(s), comma-separated (default: from -o's suffix, else html)",
)
@click.option("--no-redact", is_flag=True, help="keep tokens, keys and cookies as captured")
@rule_paths
@config_option
@click.option("--select", multiple=True, metavar="ID|CATEGORY", help="run only these rules")
@click.option("--exclude", multiple=True, metavar="ID|CATEGORY", help="skip these rules")
@click.option("--severity", multiple=True, metavar="ID=LEVEL", help="override a severity")
@click.option("--param", multiple=True, metavar="ID.NAME=VALUE", help="override a rule param")
@click.option(
    "--fail-on",
    type=click.Choice([*SEVERITIES, "never"]),
    default=None,
    help="exit 1 when a finding is at or above this severity (default: never)",
)
@click.option(
    "--min-severity",
    type=click.Choice(SEVERITIES),
    default=None,
    help="list only findings at or above this severity (the report keeps them all)",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="print only errors, and failing findings on exit 1"
)
@click.option(
    "-v", "--verbose", is_flag=True, help="list every finding in full, symptoms and warnings"
)
@parallel_options
@color_option
def analyze(
    inputs: tuple[str, ...],
    output: str | None,
    keylog: str | None,
    tshark: str | None,
    config_path: str | None,
    fail_on: str | None,
    fmt: str | None,
    no_redact: bool,
    min_severity: str | None,
    quiet: bool,
    verbose: bool,
    color: str,
    work_dir: Path | None,
    **flags: Any,
) -> None:
    """Diagnose every session: the reports (the help text, built above, lists the kinds)."""
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    outputs.mute_notes(quiet)
    targets = outputs.plan(fmt, output)
    flags["rules"] = flags.pop("rule_dirs")
    settings = settings_from(config_path, flags | {"fail_on": fail_on})
    sources = _classified(flags, inputs, settings.rule_paths)
    key = _key(keylog, sources)
    _protect_analyze(targets, sources, key, config_path, settings.rule_paths)
    progress = terminal_run.progress(quiet)
    with redact.disabled() if no_redact else contextlib.nullcontext():
        parallel = Parallel(settings.jobs, settings.scheduler, work_dir)
        result = pipeline.run(sources, settings, key, tshark, progress, parallel)
    terminal_run.done(progress, result.data.warnings, every=verbose)
    if no_redact:
        outputs.note("warning: --no-redact: secrets are kept in the report")
    rendered = [(outputs.safe(outputs.writer(f)(result)), path) for f, path in targets]
    for text, path in rendered:  # all rendered first: a render error writes nothing
        _write(text, path)
    threshold = None if settings.fail_on in (None, "never") else settings.fail_on
    paths = [path for _, path in targets]
    if quiet:
        terminal_run.tell_failures(result, threshold, paths, color)
    else:
        terminal_run.tell(result, paths, color, verbose, min_severity)
    sys.exit(findings.exit_status(result.findings, threshold))


def _protect_analyze(
    targets: list[tuple[str, str]],
    sources: Inputs,
    keylog: Path | None,
    config_path: str | None,
    rule_dirs: list[Path],
) -> None:
    """No report may overwrite a capture, HAR, log, key log, config file or rule file."""
    found = config_file.find_config(Path(config_path) if config_path else None, Path.cwd())
    files = [*sources.paths(), *(p for p in (keylog, found) if p)]
    outputs.refuse_inputs([path for _, path in targets], files, rule_dirs)


def _write(data: bytes, output: str) -> None:
    """`-o reports/today/x.html` makes the missing folders, as users expect of an output."""
    if output != "-":
        try:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"cannot make its folder: {exc.strerror or exc}", source=output
            ) from None
    outputs.write(shown(data), output)


cli.add_command(rules)


def main(argv: list[str] | None = None) -> None:
    with stdin_spool():
        _main(argv)


def _main(argv: list[str] | None) -> None:
    outputs.mute_notes(False)  # a run in the same process (tests) starts unmuted
    try:
        cli.main(args=argv, prog_name="wsdoctor", standalone_mode=False)
    except PackError as exc:
        for problem in exc.problems:
            outputs.say(str(problem))
        if len(exc.problems) != 1:  # one problem is its own one-line message
            _fail(str(exc))
        sys.exit(2)
    except InputError as exc:
        _fail(str(exc))
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        sys.exit(2)
    except click.UsageError as exc:
        _fail(exc.format_message().replace("\n", " "))
    except click.Abort:
        _fail("aborted")
    except BrokenPipeError:
        # `wsdoctor frames big.pcap | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        sys.exit(130)
    except Exception as exc:  # a bug: still one line, with a way to get the traceback
        if os.environ.get("WSDOCTOR_DEBUG"):
            raise
        _fail(
            f"internal error: {type(exc).__name__}: {exc} "
            "(set WSDOCTOR_DEBUG=1 for the traceback and report it)"
        )


def _fail(message: str) -> None:
    outputs.say(shown(message))
    sys.exit(2)
