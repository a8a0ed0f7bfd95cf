"""Every field of every built-in rule, log pack and a config file, replaced by a value of
the wrong shape, is either accepted or refused as a pack problem naming file:line; never
an internal error.

The CLI campaign (test_fuzz.py, `rules` kind) found the first of these (`sources: [[..]]`
hashed a list); a sweep then found the same class in `when` names and operands, evidence
pointers, log-pack kinds, sides, timestamps and examples. This runs the loaders in process,
so hundreds of mutants cost seconds: a fixed, derandomized set of 300 in CI, random ones
under `scripts/fuzz.sh` (WSDOCTOR_FUZZ_PROFILE=campaign; WSDOCTOR_FUZZ_PACK_EXAMPLES,
3,000 by default, about a minute and a half).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer import config
from analyzer.errors import InputError
from analyzer.ingest.logpacks import load_packs
from analyzer.rules.loader import load_rules

from conftest import REPO

CAMPAIGN = os.environ.get("WSDOCTOR_FUZZ_PROFILE") == "campaign"
RULES = sorted(p for p in (REPO / "rules").rglob("*.yaml") if p.parent.name != "logs")
PACKS = sorted((REPO / "rules" / "logs").glob("*.yaml"))
CONFIG = {
    "rules": {
        "paths": ["team-rules/"],
        "select": ["idle-timeout", "missing-close"],
        "exclude": ["capture-started-mid-session"],
        "severity": {"idle-gap-near-miss": "medium"},
        "params": {"idle-before-1011": {"inactivity_window_s": 12}},
    },
    "fail_on": "high",
}
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=False),  # YAML writes inf as .inf, which the loaders must refuse
    st.sampled_from(["", "x", "(", "{{ x", "a{99999}", "1e400", "\x1b[2J", "∞"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
SETTINGS = settings(
    max_examples=int(os.environ.get("WSDOCTOR_FUZZ_PACK_EXAMPLES", "3000")) if CAMPAIGN else 300,
    derandomize=not CAMPAIGN,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _paths(node: Any, where: tuple = ()) -> list[tuple]:
    out = [where] if where else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*where, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*where, i))
    return out


def _mutant(doc: Any, index: int, value: Any) -> Any:
    """`doc` with the `index`-th of its paths (in document order) set to `value`."""
    paths = _paths(doc)
    *parents, last = paths[index % len(paths)]
    node = doc
    for key in parents:
        node = node[key]
    node[last] = value
    return doc


def _write(tmp: Path, name: str, doc: Any) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _refused_cleanly(load: Any) -> None:
    try:
        load()
    except InputError as exc:  # PackError included: a pack problem, file:line
        assert str(exc) and "internal error" not in str(exc)


@SETTINGS
@given(
    which=st.sampled_from(["rule", "pack", "config"]),
    pick=st.integers(min_value=0, max_value=10_000),
    index=st.integers(min_value=0, max_value=100_000),
    value=VALUES,
)
def test_a_field_of_the_wrong_shape_is_a_pack_problem(
    which: str, pick: int, index: int, value: Any, tmp_path_factory: Any
) -> None:
    tmp = tmp_path_factory.mktemp("pack")
    if which == "rule":
        source = RULES[pick % len(RULES)]
        doc = _mutant(yaml.safe_load(source.read_text(encoding="utf-8")), index, value)
        folder = _write(tmp, f"pack/{source.name}", doc).parent
        _refused_cleanly(lambda: load_rules([folder], builtin=False))
    elif which == "pack":
        source = PACKS[pick % len(PACKS)]
        doc = _mutant(yaml.safe_load(source.read_text(encoding="utf-8")), index, value)
        path = _write(tmp, source.name, doc)
        _refused_cleanly(lambda: load_packs([path], builtin=False))
    else:
        path = _write(
            tmp, "wsdoctor.yaml", _mutant(yaml.safe_load(yaml.safe_dump(CONFIG)), index, value)
        )
        _refused_cleanly(lambda: config.from_file(path))
