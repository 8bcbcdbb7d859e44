"""Tie a store to the pathway its cases run on, so tools need not be told every time.

``init_store`` records the pathway (a shipped name, or a definition file's absolute path) in the
store's ``meta`` table; ``open_engine`` reads it back. A pathway given explicitly wins.
"""

from __future__ import annotations

from pathlib import Path

from .definition import DEFINITION_SUFFIXES, Pathway, load_pathway, shipped_definitions
from .engine import Engine
from .errors import StoreError
from .store import open_store
from .store.base import Store
from .timeutil import Clock, system_clock
from .versioning import check_definition

DEFAULT_PATHWAY = "barnet-enablement"
"""The shipped pathway a new store runs on unless told otherwise."""

PATHWAY_META_KEY = "pathway"


def pathway_reference(name_or_path: str) -> str:
    """What to record for a pathway: a shipped name as is, a file as its absolute path."""
    if name_or_path in shipped_definitions() and not name_or_path.endswith(DEFINITION_SUFFIXES):
        return name_or_path
    return str(Path(name_or_path).resolve())


def init_store(location: str, pathway: str | None = None) -> tuple[Store, Pathway]:
    """Create (or open) a store and record the pathway its cases run on.

    The pathway is loaded and validated first, so a bad definition creates nothing. Its
    definition is recorded too (:func:`pathway.versioning.check_definition`): re-pointing a store
    at a definition with no place for its open cases raises ``PathwayChanged``, writing nothing.
    """
    compiled = load_pathway(pathway or DEFAULT_PATHWAY)
    store = open_store(location)
    try:
        check_definition(store, compiled)
        store.set_meta(PATHWAY_META_KEY, pathway_reference(pathway or DEFAULT_PATHWAY))
    except BaseException:
        store.close()
        raise
    return store, compiled


def open_engine(
    location: str, pathway: str | None = None, *, clock: Clock = system_clock
) -> Engine:
    """An engine on an existing store, with the given pathway or the one the store records."""
    store = open_store(location, create=False)
    try:
        reference = pathway or store.get_meta(PATHWAY_META_KEY)
        if reference is None:
            raise StoreError(
                f"{location}: the store records no pathway; run `pathway init --pathway P` or pass --pathway"
            )
        return Engine(load_pathway(reference), store, clock=clock)
    except BaseException:
        store.close()
        raise
