"""The wheel a user installs (`pip install dist/*.whl`, `pipx install .`) behaves like the
checkout: built from the sdist as `python -m build` does, installed into a clean venv, run
from a folder that is not the repository, it lists and tests the same rules and writes the
same reports.

CI checks a few samples; `WSDOCTOR_WHEEL_SAMPLES=all` compares every sample.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, SAMPLES

FEW = ("idle-1011", "wss-keylog", "nginx-read-timeout", "browser-har-capture", "real-logs/go")


def _env() -> dict[str, str]:
    """The user's environment, minus anything that would find the checkout instead."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env | {"PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1"}


def _run(cmd: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist, then the wheel built from that sdist: a file missing from either fails here."""
    out = tmp_path_factory.mktemp("dist")
    proc = _run([sys.executable, "-m", "build", "--outdir", out, REPO], cwd=out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    [found] = dist.glob("wsdoctor-*.whl")
    return found


@pytest.fixture(scope="module")
def wsdoctor(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`wsdoctor` from the wheel in a fresh venv (its dependencies from the registry)."""
    venv = tmp_path_factory.mktemp("venv")
    assert _run([sys.executable, "-m", "venv", venv], cwd=venv).returncode == 0
    proc = _run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], cwd=venv)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv / "bin" / "wsdoctor"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working folder with no checkout, config file or samples in reach (a repository
    root of its own: the config search stops there, not at a wsdoctor.yaml in /tmp)."""
    (tmp_path / ".git").mkdir()
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def test_wheel_carries_every_rule_pack_template_and_sample(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    rules = {p.relative_to(REPO / "rules") for p in (REPO / "rules").rglob("*.yaml")}
    assert rules and all(f"analyzer/builtin_rules/{p}" in names for p in rules)
    templates = (REPO / "analyzer" / "report" / "templates").iterdir()
    assert all(f"analyzer/report/templates/{p.name}" in names for p in templates)
    assert "analyzer/report/report.schema.json" in names  # the published JSON shape
    samples = [p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix in (".pcap", ".log")]
    assert samples
    for path in samples:
        assert f"analyzer/builtin_samples/{path.relative_to(SAMPLES)}" in names
    # The recorder (tools/recorder, once sample_captures/recorder) is not shipped.
    assert not any(n.startswith(("analyzer/builtin_samples/recorder/", "tools/")) for n in names)


def test_wheel_carries_every_subpackage(wheel: Path) -> None:
    """pyproject lists the packages by hand (two are mapped from other folders): a new
    subpackage left off the list would be missing from the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for init in (REPO / "analyzer").rglob("__init__.py"):
        assert str(init.relative_to(REPO)) in names


def test_sdist_carries_the_rule_packs_and_samples(dist: Path) -> None:
    [sdist] = dist.glob("wsdoctor-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
    root = sdist.name.removesuffix(".tar.gz")
    assert f"{root}/rules/idle-timeout/idle-before-1011.yaml" in names
    assert f"{root}/rules/logs/nginx.yaml" in names
    assert f"{root}/sample_captures/idle-1011/capture.pcap" in names


def _checkout(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "analyzer", *args], cwd=cwd)


def test_rules_list_and_test_match_the_checkout(wsdoctor: Path, elsewhere: Path) -> None:
    installed = _run([wsdoctor, "rules", "list", "--format", "json"], cwd=elsewhere)
    here = _checkout("rules", "list", "--format", "json", cwd=elsewhere)
    assert installed.returncode == here.returncode == 0, installed.stderr
    strip = [{k: v for k, v in r.items() if k != "path"} for r in json.loads(installed.stdout)]
    assert strip == [{k: v for k, v in r.items() if k != "path"} for r in json.loads(here.stdout)]
    assert all("site-packages" in r["path"] for r in json.loads(installed.stdout))
    tested = _run([wsdoctor, "rules", "test"], cwd=elsewhere)
    assert tested.returncode == 0, tested.stdout[-2000:] + tested.stderr[-2000:]
    assert "FAIL" not in tested.stdout and tested.stdout.count("ok ") > 300


def _inputs(name: str) -> list[str]:
    """A sample's inputs as a user passes them: its captures (with the key log), else its
    logs and HARs; absolute, so both runs cite the same paths."""
    folder = SAMPLES / name
    captures = sorted(folder.glob("capture.pcap*"))
    keylog = folder / "keys.log"
    if captures:
        return [str(captures[0]), *(["--keylog", str(keylog)] if keylog.exists() else [])]
    return [str(p) for p in sorted(folder.glob("*")) if p.suffix in (".log", ".har")]


def _chosen() -> list[str]:
    if os.environ.get("WSDOCTOR_WHEEL_SAMPLES") != "all":
        return list(FEW)
    found = {p.parent for p in SAMPLES.rglob("*") if p.suffix in (".pcap", ".pcapng", ".log")}
    return sorted(str(f.relative_to(SAMPLES)) for f in found)


@pytest.mark.parametrize("name", _chosen())
def test_analyze_from_the_wheel_equals_the_checkout(
    name: str, wsdoctor: Path, elsewhere: Path
) -> None:
    args = [*_inputs(name), "--format", "html,md,json", "-o", "report"]
    installed = _run([wsdoctor, "analyze", *args], cwd=elsewhere)
    assert installed.returncode in (0, 1), installed.stderr
    written = {p.suffix: p.read_text(encoding="utf-8") for p in elsewhere.glob("report.*")}
    assert set(written) == {".html", ".md", ".json"}
    here = _checkout("analyze", *_inputs(name), "--format", "json", "-o", "-", cwd=elsewhere)
    assert here.returncode == installed.returncode, here.stderr
    assert json.loads(written[".json"]) == json.loads(here.stdout)
    assert "<html" in written[".html"] and written[".md"].strip()
