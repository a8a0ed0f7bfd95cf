"""A rule file that passed every check is not checked again while its text and the code
are the same (analyzer/rules/checked.py); any other file still is, in full.

Each test has a cache folder of its own (XDG_CACHE_HOME), so what the rest of the suite
loaded is not remembered here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.errors import PackError
from analyzer.rules import parse, templates
from analyzer.rules.loader import load_rules

from conftest import REPO

BUILTIN = REPO / "rules" / "handshake-failure" / "handshake-401-unauthorized.yaml"


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder


def pack(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "pack"
    folder.mkdir(exist_ok=True)
    (folder / "rule.yaml").write_text(text, encoding="utf-8")
    return folder


def refuse_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two costly checks fail loudly if they run."""

    def ran(*args: object) -> None:
        raise AssertionError("a remembered rule file was checked again")

    monkeypatch.setattr(templates, "check", ran)
    monkeypatch.setattr(parse, "_type_check", ran)


def test_a_file_that_passed_is_not_checked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = pack(tmp_path, BUILTIN.read_text())
    (first,) = load_rules([folder], builtin=False)
    refuse_checks(monkeypatch)
    (again,) = load_rules([folder], builtin=False)
    assert again == first  # the same Rule, built without the checks


def test_a_changed_file_is_checked_in_full(tmp_path: Path) -> None:
    load_rules([pack(tmp_path, BUILTIN.read_text())], builtin=False)
    broken = BUILTIN.read_text().replace("{{ method }}", "{{ no_such_feature }}", 1)
    assert broken != BUILTIN.read_text()
    with pytest.raises(PackError) as err:
        load_rules([pack(tmp_path, broken)], builtin=False)
    assert any("unknown name(s) in template: no_such_feature" in p for p in err.value.problems)


def test_a_file_with_problems_is_never_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = BUILTIN.read_text().replace("{{ method }}", "{{ no_such_feature }}", 1)
    for _ in range(2):
        with pytest.raises(PackError):
            load_rules([pack(tmp_path, broken)], builtin=False)


def test_an_unwritable_cache_costs_only_the_check(
    tmp_path: Path, own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own_cache.write_text("a file where the folder should be")
    folder = pack(tmp_path, BUILTIN.read_text())
    assert len(load_rules([folder], builtin=False)) == 1
    assert len(load_rules([folder], builtin=False)) == 1


def test_without_a_home_directory_rules_load_and_nothing_is_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No HOME and no passwd entry (a container's arbitrary uid): `Path.home()` raises,
    and the run goes on with every check made, as with an unwritable cache."""

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    folder = pack(tmp_path, BUILTIN.read_text())
    (first,) = load_rules([folder], builtin=False)
    checked = []
    check = templates.check
    monkeypatch.setattr(templates, "check", lambda *a: checked.append(a) or check(*a))
    (again,) = load_rules([folder], builtin=False)
    assert again == first and checked  # checked in full again: nothing was remembered
