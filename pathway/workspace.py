"""Tie a store to the pathway its cases run on, so tools need not be told every time.

``init_store`` records the pathway (a shipped name, or a definition file's absolute path) in the
store's ``meta`` table, with the installed plug-ins added to it (``pathway init --plugin NAME``);
``open_engine`` and :func:`store_pathway` read them back. A pathway given explicitly wins, and
then only the plug-ins given with it apply.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .definition import DEFINITION_SUFFIXES, Pathway, load_pathway, shipped_definitions
from .engine import Engine
from .errors import InvalidRequest, StoreError
from .store import open_store
from .store.base import Store
from .timeutil import Clock, system_clock
from .versioning import check_definition

DEFAULT_PATHWAY = "barnet-enablement"
"""The shipped pathway a new store runs on unless told otherwise."""

PATHWAY_META_KEY = "pathway"
PLUGINS_META_KEY = "plugins"
"""Meta key of the plug-ins (a JSON list of names) added to the recorded pathway at init."""


def pathway_reference(name_or_path: str) -> str:
    """What to record for a pathway: a shipped name as is, a file as its absolute path."""
    if name_or_path in shipped_definitions() and not name_or_path.endswith(DEFINITION_SUFFIXES):
        return name_or_path
    return str(Path(name_or_path).resolve())


def init_store(
    location: str, pathway: str | None = None, plugins: Sequence[str] = ()
) -> tuple[Store, Pathway]:
    """Create (or open) a store and record the pathway its cases run on, with ``plugins`` added.

    The pathway is loaded (plug-ins and all) and validated first, so a bad definition or a
    plug-in that is not installed creates nothing. Re-pointing a store records the plug-ins
    given now, replacing those recorded before.
    Its definition is recorded too (:func:`pathway.versioning.check_definition`): re-pointing a
    store at a definition with no place for its open cases raises ``PathwayChanged``, writing
    nothing.
    """
    compiled = load_pathway(pathway or DEFAULT_PATHWAY, plugins=plugins)
    store = open_store(location)
    try:
        check_definition(store, compiled)
        store.set_meta(PATHWAY_META_KEY, pathway_reference(pathway or DEFAULT_PATHWAY))
        if plugins or store.get_meta(PLUGINS_META_KEY) is not None:
            store.set_meta(PLUGINS_META_KEY, json.dumps(list(dict.fromkeys(plugins))))
    except BaseException:
        store.close()
        raise
    return store, compiled


def recorded_plugins(store: Store) -> tuple[str, ...]:
    """The plug-ins recorded with the store's pathway (``pathway init --plugin``), in order."""
    text = store.get_meta(PLUGINS_META_KEY)
    if text is None:
        return ()
    try:
        names = json.loads(text)
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise StoreError(
            f"{store.location}: the store's {PLUGINS_META_KEY!r} setting is not a list of "
            "plug-in names; run `pathway init` again to record them"
        )
    return tuple(names)


def store_pathway(
    store: Store, pathway: str | None = None, plugins: Sequence[str] = ()
) -> Pathway | None:
    """The pathway a store's cases run on, or None when the store records none.

    ``pathway`` given: that one with ``plugins``. Otherwise the recorded pathway with the
    plug-ins recorded with it, then ``plugins``. ``plugins`` without any pathway is an
    :class:`~pathway.errors.InvalidRequest`.
    """
    if pathway:
        return load_pathway(pathway, plugins=plugins)
    reference = store.get_meta(PATHWAY_META_KEY)
    if reference is None:
        if plugins:
            raise InvalidRequest(
                f"{store.location}: the store records no pathway to add plug-ins to; "
                "pass --pathway too"
            )
        return None
    return load_pathway(reference, plugins=[*recorded_plugins(store), *plugins])


def open_engine(
    location: str, pathway: str | None = None, *, clock: Clock = system_clock
) -> Engine:
    """An engine on an existing store, with the given pathway or the one the store records
    (with the plug-ins recorded with it)."""
    store = open_store(location, create=False)
    try:
        compiled = store_pathway(store, pathway)
        if compiled is None:
            raise StoreError(
                f"{location}: the store records no pathway; run `pathway init --pathway P` or pass --pathway"
            )
        return Engine(compiled, store, clock=clock)
    except BaseException:
        store.close()
        raise
