"""Intermediaries between client and emulator: reverse/forward proxies, their teardowns.

Append yours to ``SCENARIOS`` (how: the docstring of kinds.py). Names must be unique
across all scenario modules; registry.py fails loudly otherwise.
"""

from __future__ import annotations

from kinds import AnyScenario

SCENARIOS: list[AnyScenario] = []
