"""Configuration precedence, in process: rule defaults < config file < flags.

The merge is pure logic (`config.from_file`, `with_flags`, `apply`), so it is tested on the
cached engine pass of one sample instead of a CLI subprocess per setting; the CLI tests
keep one end-to-end run of a config file (test_analyze_cli.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer import config, config_file
from analyzer.errors import InputError
from analyzer.pipeline import diagnose
from analyzer.rules.loader import load_rules

from conftest import sample

RULE = "idle-before-1011"


@pytest.fixture(autouse=True)
def _repository(tmp_path: Path) -> None:
    """Each test's folder is a repository root, so no config above it is found."""
    (tmp_path / ".git").mkdir()


def _findings(settings: config.Settings) -> list[dict]:
    rules = config.apply(load_rules(settings.rule_paths), settings)
    return diagnose(rules, sample("idle-1011"))


def _severity(settings: config.Settings) -> str:
    [found] = [f for f in _findings(settings) if f["rule"] == RULE]
    return found["severity"]


def _settings(cwd: Path, **flags: object) -> config.Settings:
    """What `analyze` run in `cwd` uses: the file it finds there, then the flags."""
    return config.with_flags(config.from_file(config_file.find_config(None, cwd)), flags)


def test_config_file_then_flags_override_rule_defaults(tmp_path: Path) -> None:
    assert _severity(_settings(tmp_path)) == "high"
    (tmp_path / "wsdoctor.yaml").write_text(f"rules:\n  severity:\n    {RULE}: low\nfail_on: low\n")
    assert _severity(_settings(tmp_path)) == "low"
    assert _settings(tmp_path).fail_on == "low"  # fail_on from the file
    assert _severity(_settings(tmp_path, severity=(f"{RULE}=medium",))) == "medium"
    assert _settings(tmp_path, fail_on="never").fail_on == "never"


def test_yaml_config_beats_pyproject_and_a_pyproject_without_the_table_is_ignored(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.black]\nline-length = 80\n")
    assert config_file.find_config(None, tmp_path) is None
    (tmp_path / "pyproject.toml").write_text("[tool.wsdoctor]\nfail_on = 'low'\n")
    assert config_file.find_config(None, tmp_path) == tmp_path / "pyproject.toml"
    named = config_file.describe(tmp_path / "pyproject.toml")
    assert named.endswith("pyproject.toml [tool.wsdoctor]")
    (tmp_path / "wsdoctor.yaml").write_text("fail_on: high\n")
    assert config_file.find_config(None, tmp_path) == tmp_path / "wsdoctor.yaml"
    with pytest.raises(InputError, match="no such config file"):
        config_file.find_config(tmp_path / "missing.yaml", tmp_path)


def test_the_nearest_config_up_to_the_repository_root_is_found(tmp_path: Path) -> None:
    deep = tmp_path / "team" / "captures"
    deep.mkdir(parents=True)
    assert config_file.find_config(None, deep) is None
    (tmp_path / "wsdoctor.yaml").write_text("fail_on: high\n")
    assert config_file.find_config(None, deep) == tmp_path / "wsdoctor.yaml"
    (tmp_path / "team" / "pyproject.toml").write_text("[tool.wsdoctor]\nfail_on = 'low'\n")
    assert config_file.find_config(None, deep) == tmp_path / "team" / "pyproject.toml"
    (deep / ".git").mkdir()  # a repository of its own: nothing above it is its config
    assert config_file.find_config(None, deep) is None


def test_pyproject_table_and_exclusion_by_category(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.wsdoctor.rules]\nexclude = ["idle-timeout"]\n')
    assert not [f for f in _findings(_settings(tmp_path)) if f["category"] == "idle-timeout"]
    chosen = _settings(tmp_path, select=(RULE,))
    assert [f["rule"] for f in _findings(chosen)] == []  # the file's exclusion still holds


def test_params_change_the_outcome() -> None:
    settings = config.with_flags(config.Settings(), {"param": (f"{RULE}.keepalive_interval_s=3",)})
    [finding] = [f for f in _findings(settings) if f["rule"] == RULE]
    assert "every 3 s" in finding["fix"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"select": ("no-such-rule",)}, "unknown rule id or category 'no-such-rule'"),
        ({"severity": (f"{RULE}=urgent",)}, "'urgent' is not one of"),
        ({"param": (f"{RULE}.nope=1",)}, "has no param 'nope'"),
        ({"param": (f"{RULE}.inactivity_window_s=abc",)}, "must be like its default"),
        ({"param": (f"{RULE}.inactivity_window_s=.inf",)}, "must be like its default"),
        ({"severity": ("no-equals-sign",)}, "expected KEY=VALUE"),
        ({"rules": ("/nonexistent/rules",)}, "no such rule file or directory"),
    ],
)
def test_bad_settings_say_what_is_wrong(flags: dict, message: str) -> None:
    with pytest.raises(InputError) as raised:
        _findings(config.with_flags(config.Settings(), flags))
    assert message in str(raised.value)


def test_bad_config_file_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "wsdoctor.yaml").write_text(f"rules:\n  severity:\n    {RULE}: loud\n")
    with pytest.raises(InputError) as raised:
        _settings(tmp_path)
    assert f"{tmp_path / 'wsdoctor.yaml'}:3: rules.severity.{RULE}" in str(raised.value)


def test_an_unknown_key_in_the_file_is_a_typo_not_ignored(tmp_path: Path) -> None:
    (tmp_path / "wsdoctor.yaml").write_text("rules:\n  severities: {}\n")
    with pytest.raises(InputError, match="`rules` takes paths, select, exclude"):
        _settings(tmp_path)
