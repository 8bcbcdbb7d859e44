"""Layers point one way: the domain never imports the store; the generic guards never import the
funding rules; only the registry module puts the two sets of guards together."""

from __future__ import annotations

import ast
from pathlib import Path

import pathway
from pathway.builtin_guards import BUILTIN_GUARDS
from pathway.funding_guards import FUNDING_GUARDS
from pathway.guards import GENERAL_GUARDS

PACKAGE = Path(pathway.__file__).resolve().parent


def imported(module: str) -> set[str]:
    """The pathway modules ``pathway/<module>.py`` imports (absolute names), at any level."""
    path = PACKAGE / f"{module.replace('.', '/')}.py"
    package = ["pathway", *module.split(".")[:-1]]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, *([node.module] if node.module else [])])
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {n for n in found if n == "pathway" or n.startswith("pathway.")}


def test_the_placement_rules_and_records_do_not_import_the_store() -> None:
    """(The import of a finance extract, placement_import, writes to a store: it may.)"""
    for module in ("periods", "placements", "guards", "funding_guards", "machine"):
        store = {n for n in imported(module) if n.startswith("pathway.store")}
        assert not store, (module, store)


def test_the_store_takes_the_placement_records_from_the_domain() -> None:
    assert "pathway.periods.PlacementChange" in imported("store.placementrows")
    assert "pathway.periods.Period" in imported("store.placementrows")


def test_the_generic_guards_do_not_import_the_funding_rules() -> None:
    names = imported("guards")
    assert not {n for n in names if n.startswith(("pathway.placements", "pathway.funding"))}
    assert "pathway.guards.GENERAL_GUARDS" in imported("builtin_guards")
    assert "pathway.funding_guards.FUNDING_GUARDS" in imported("builtin_guards")


def test_the_registry_holds_both_sets_once() -> None:
    general = [spec.name for spec in GENERAL_GUARDS]
    funding = [spec.name for spec in FUNDING_GUARDS]
    assert not set(general) & set(funding)
    assert list(BUILTIN_GUARDS) == [*general, *funding]
    assert pathway.BUILTIN_GUARDS is BUILTIN_GUARDS
    assert {"care_act_eligibility", "health_screen", "s117_free", "no_open_placement"} <= set(
        funding
    )
