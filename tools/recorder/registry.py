"""All scenarios, collected from the per-group modules, in recording order.

The table is split so several people can add scenarios without editing the same file;
this module only joins the lists and refuses what would make a run ambiguous: a duplicate
name, or a derived scenario whose source is unknown or comes later.
"""

from __future__ import annotations

from . import scenarios_basic, scenarios_faults, scenarios_hops, scenarios_proxies
from .kinds import AnyScenario, Derived

GROUPS = (scenarios_basic, scenarios_faults, scenarios_proxies, scenarios_hops)


def collect() -> dict[str, AnyScenario]:
    """Name -> scenario, group by group in list order; fail loudly on inconsistencies."""
    table: dict[str, AnyScenario] = {}
    for group in GROUPS:
        for scenario in group.SCENARIOS:
            if scenario.name in table:
                raise SystemExit(
                    f"duplicate scenario name {scenario.name!r} (again in {group.__name__})"
                )
            if isinstance(scenario, Derived) and scenario.source not in table:
                raise SystemExit(
                    f"{scenario.name}: source {scenario.source!r} must be listed before it"
                )
            table[scenario.name] = scenario
    return table


SCENARIOS = collect()
