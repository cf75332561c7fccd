"""Test tiers: ``pytest --tier unit|dryrun|workflow|slurm`` (a pytest plugin).

Every test belongs to exactly one tier, named by its marker (registered in pyproject.toml):

=========  ====================  =============================================================
tier       marker                what
=========  ====================  =============================================================
unit       (none)                in-process tests; no Snakemake runs
dryrun     ``dryrun``, ``slow``  Snakemake dry runs, lint, formatting; slow checks that build
                                 nothing in the workflow (an install into a fresh virtualenv)
workflow   ``workflow``          real workflow runs (the shared ``tiny_run`` fixture)
slurm      ``slurm``             tests/slurm: a real SLURM cluster and the deployment files
=========  ====================  =============================================================

``pytest`` runs every tier (what the README's test command and ``.ci/run`` run);
``pytest --tier unit`` runs one, ``--tier unit,dryrun`` several. A plugin rather than a
conftest.py (pyproject.toml: ``-p support.tiers``), so that the option is known before pytest
reads its arguments: in a conftest, ``--tier workflow`` would be read as the folder
``workflow/``.
"""

from __future__ import annotations

import pytest

#: tier -> the markers that put a test in it (unmarked tests are the unit tier)
TIERS: dict[str, tuple[str, ...]] = {
    "unit": (),
    "dryrun": ("dryrun", "slow"),
    "workflow": ("workflow",),
    "slurm": ("slurm",),
}
_MARKER_TIER = {marker: tier for tier, markers in TIERS.items() for marker in markers}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--tier",
        default="all",
        help="run only the tests of these tiers: a comma-separated list of "
        f"{', '.join(TIERS)}, or all (the default: the whole suite). Tiers are given by markers "
        "(see pyproject.toml); unmarked tests are the unit tier.",
    )


def _tiers(value: str) -> set[str]:
    names = {v.strip() for v in value.split(",") if v.strip()}
    if names == {"all"}:
        return set(TIERS)
    unknown = sorted(names - set(TIERS))
    if unknown or not names:
        raise pytest.UsageError(
            f"--tier {value!r}: unknown tier {', '.join(unknown) or '(none given)'}; "
            f"expected all or a comma-separated list of {', '.join(TIERS)}"
        )
    return names


def tier_of(item: pytest.Item) -> str:
    """The tier of a collected test; a test with markers of two tiers is an error."""
    tiers = {_MARKER_TIER[m.name] for m in item.iter_markers() if m.name in _MARKER_TIER}
    if len(tiers) > 1:
        raise pytest.UsageError(
            f"{item.nodeid} has markers of the tiers {sorted(tiers)}: give it the marker of one"
        )
    return tiers.pop() if tiers else "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = _tiers(config.getoption("--tier"))
    tiers = {item.nodeid: tier_of(item) for item in items}
    misplaced = [
        item.nodeid
        for item in items
        if "tiny_run" in getattr(item, "fixturenames", ()) and tiers[item.nodeid] != "workflow"
    ]
    if misplaced:
        raise pytest.UsageError(
            f"these tests use the tiny_run fixture (a real workflow run) but are not marked "
            f"workflow: {', '.join(misplaced)}"
        )
    if wanted == set(TIERS):
        return
    keep = [item for item in items if tiers[item.nodeid] in wanted]
    dropped = [item for item in items if tiers[item.nodeid] not in wanted]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
