"""Find, load and check plug-ins, and merge what they add into a pathway definition.

Plug-ins are named (in a definition's ``plugins`` list or passed to ``load_pathway``) and found
through the entry-point group ``care_pathway.plugins``; a name no entry point has is tried as an
importable module, and an object may be passed directly. Everything that can go wrong with a
plug-in (it is not installed, it raises while loading, it misspells a hook, two plug-ins add the
same state or guard, a fragment names a state or team that does not exist) is a
:class:`~pathway.errors.DefinitionError` at load time, naming the plug-in.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .errors import DefinitionError, Problem
from .guards import BUILTIN_GUARDS, GuardRegistry
from .reports.registry import ReportOption, ReportSpec
from .yamlsource import SourceDocument, parse_document, pointer

ENTRY_POINT_GROUP = "care_pathway.plugins"
__all__ = [
    "ENTRY_POINT_GROUP",
    "LoadedPlugin",
    "PluginInfo",
    "ReportOption",
    "ReportSpec",
]

MERGED_KEYS = ("teams", "tasks", "states", "transitions")
FRAGMENT_KEYS = (*MERGED_KEYS, "requirements")


@attrs.frozen
class PluginInfo:
    """A plug-in that shaped a pathway: its name and version."""

    name: str
    version: str


@attrs.frozen
class LoadedPlugin:
    """An imported plug-in: what is known of it, and its module (or object) of hooks."""

    info: PluginInfo
    plugin: Any


def installed_plugins() -> dict[str, metadata.EntryPoint]:
    """Plug-ins installed in this environment, by entry-point name."""
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _version_of(plugin: Any, entry_point: metadata.EntryPoint | None) -> str:
    if entry_point is not None and entry_point.dist is not None:
        return str(entry_point.dist.version)
    return str(getattr(plugin, "__version__", "0"))


def resolve(spec: Any, where: str) -> LoadedPlugin:
    """Load one plug-in named ``spec`` (entry-point name or module path), or take the object."""
    if not isinstance(spec, str):
        name = str(getattr(spec, "__plugin_name__", getattr(spec, "__name__", type(spec).__name__)))
        return LoadedPlugin(PluginInfo(name, _version_of(spec, None)), spec)
    entry_point = installed_plugins().get(spec)
    try:
        if entry_point is not None:
            plugin = entry_point.load()
        else:
            try:
                plugin = importlib.import_module(spec)
            except ModuleNotFoundError as exc:
                if exc.name not in (spec, spec.split(".")[0]):
                    raise  # the plug-in exists but something it imports does not
                known = ", ".join(installed_plugins()) or "none installed"
                raise DefinitionError(
                    [Problem(where, "", f"plug-in {spec!r} is not installed (installed: {known})")]
                ) from None
    except DefinitionError:
        raise
    except Exception as exc:  # a plug-in's own fault, reported as such
        raise DefinitionError(
            [Problem(where, "", f"plug-in {spec!r} failed to load: {type(exc).__name__}: {exc}")]
        ) from None
    return LoadedPlugin(PluginInfo(spec, _version_of(plugin, entry_point)), plugin)


def make_manager(plugins: Sequence[LoadedPlugin], where: str) -> pluggy.PluginManager:
    """A plug-in manager with these plug-ins registered and their hooks checked."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for loaded in plugins:
        try:
            manager.register(loaded.plugin, name=loaded.info.name)
        except ValueError as exc:
            raise DefinitionError(
                [Problem(where, "", f"plug-in {loaded.info.name!r} is registered twice: {exc}")]
            ) from None
        except pluggy.PluginValidationError as exc:
            raise DefinitionError(
                [Problem(where, "", f"plug-in {loaded.info.name!r}: {exc}")]
            ) from None
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise DefinitionError(
            [
                Problem(
                    where, "", f"a plug-in implements a hook that does not exist (misspelt?): {exc}"
                )
            ]
        ) from None
    return manager


def _call(loaded: LoadedPlugin, hook: str, where: str, **kwargs: Any) -> Any:
    function = getattr(loaded.plugin, hook, None)
    if function is None or not hasattr(function, f"{hookspecs.PROJECT}_impl"):
        return None
    try:
        return function(**kwargs)
    except Exception as exc:
        raise DefinitionError(
            [
                Problem(
                    where,
                    "",
                    f"plug-in {loaded.info.name!r} raised in {hook}: {type(exc).__name__}: {exc}",
                )
            ]
        ) from None


def _named_contributions(
    plugins: Sequence[LoadedPlugin],
    hook: str,
    where: str,
    reserved: Iterable[str],
    kind: str,
    verb: str,
) -> list[Any]:
    """What each plug-in's ``hook`` returns, in order; a name taken twice is a load-time error.

    ``reserved`` names are the core's own; the error names both owners of a clashing name.
    """
    owner = {name: "care-pathway (built in)" for name in reserved}
    found: list[Any] = []
    for loaded in plugins:
        for spec in _call(loaded, hook, where) or ():
            if spec.name in owner:
                raise DefinitionError(
                    [
                        Problem(
                            where,
                            "",
                            f"{kind} {spec.name!r} is {verb} by {owner[spec.name]} and by plug-in {loaded.info.name!r}",
                        )
                    ]
                )
            owner[spec.name] = f"plug-in {loaded.info.name!r}"
            found.append(spec)
    return found


def plugin_guards(plugins: Sequence[LoadedPlugin], where: str) -> GuardRegistry:
    """The built-in guards plus every plug-in's; a name registered twice is an error."""
    registry = BUILTIN_GUARDS.copy()
    for spec in _named_contributions(
        plugins, "pathway_guards", where, registry, "guard", "registered"
    ):
        registry.register(spec)
    return registry


def plugin_reports(
    plugins: Sequence[LoadedPlugin], where: str, reserved: Iterable[str]
) -> dict[str, ReportSpec]:
    """Every plug-in's reports by name; a name used twice (or by a built-in report) is an error."""
    specs = _named_contributions(plugins, "pathway_reports", where, reserved, "report", "added")
    return {spec.name: spec for spec in specs}


def merge_fragments(doc: SourceDocument, plugins: Sequence[LoadedPlugin]) -> SourceDocument:
    """The definition with every plug-in's fragment merged in, remembering where each part came from."""
    data = copy.deepcopy(doc.data) if isinstance(doc.data, dict) else doc.data
    if not isinstance(data, dict):
        return doc
    lines = dict(doc.lines)
    origins: dict[str, tuple[SourceDocument, str]] = {}
    owners: dict[tuple[str, str], str] = {}
    for key in ("teams", "tasks", "states"):
        for item in data.get(key) or []:
            if isinstance(item, dict) and "id" in item:
                owners[(key, str(item["id"]))] = "the pathway"
    problems: list[Problem] = []
    for loaded in plugins:
        raw = _call(loaded, "pathway_fragment", doc.name, pathway_id=str(data.get("id", "")))
        if raw is None:
            continue
        name = f"plug-in {loaded.info.name}"
        fragment = (
            parse_document(raw, name)
            if isinstance(raw, str)
            else SourceDocument(name, dict(raw), {})
        )
        if not isinstance(fragment.data, dict):
            problems.append(
                Problem(
                    name, "", "a fragment must be a mapping of teams, tasks, states and transitions"
                )
            )
            continue
        unknown = sorted(set(fragment.data) - set(FRAGMENT_KEYS))
        if unknown:
            problems.append(
                fragment.problem(
                    "",
                    f"a fragment may add only {', '.join(FRAGMENT_KEYS)}, not {', '.join(unknown)}",
                )
            )
        for key in MERGED_KEYS:
            items = fragment.data.get(key) or []
            target = data.setdefault(key, [])
            for index, item in enumerate(items):
                item_id = str(item.get("id")) if isinstance(item, dict) and "id" in item else None
                if (
                    key == "tasks"
                    and item_id is not None
                    and owners.get((key, item_id)) is not None
                ):
                    # A task the pathway already has: the plug-in's teams may also perform it.
                    for existing in target:
                        if existing.get("id") == item_id:
                            existing["teams"] = list(
                                dict.fromkeys([*existing["teams"], *item.get("teams", [])])
                            )
                    continue
                if item_id is not None and key != "transitions":
                    previous = owners.get((key, item_id))
                    if previous is not None:
                        problems.append(
                            fragment.problem(
                                pointer(key, index, "id"),
                                f"{key[:-1]} {item_id!r} is already added by {previous}",
                            )
                        )
                        continue
                    owners[(key, item_id)] = name
                new_pointer = pointer(key, len(target))
                target.append(item)
                origins[new_pointer] = (fragment, pointer(key, index))
        _add_requirements(fragment, data, origins, problems)
    if problems:
        raise DefinitionError(problems)
    return SourceDocument(doc.name, data, lines, origins)


def _add_requirements(
    fragment: SourceDocument,
    data: dict[str, Any],
    origins: dict[str, tuple[SourceDocument, str]],
    problems: list[Problem],
) -> None:
    """Add a fragment's ``requirements`` (guards on steps the pathway already has).

    ``requirements: [{trigger: start_top_up, guards: [...], sources: [optional filter]}]``: each
    guard is added to every transition of that trigger (from those sources). A requirement that
    matches no transition is an error.
    """
    for index, requirement in enumerate(fragment.data.get("requirements") or []):
        where = pointer("requirements", index)
        if (
            not isinstance(requirement, dict)
            or "trigger" not in requirement
            or not requirement.get("guards")
        ):
            problems.append(
                fragment.problem(where, "a requirement names a trigger and the guards it adds")
            )
            continue
        wanted = set(requirement.get("sources") or [])
        matched = False
        for t_index, transition in enumerate(data.get("transitions") or []):
            if transition.get("trigger") != requirement["trigger"]:
                continue
            sources = transition.get("sources")
            if wanted and (sources == "*" or not wanted.intersection(sources or [])):
                continue
            matched = True
            guards = transition.setdefault("guards", [])
            for g_index, guard in enumerate(requirement["guards"]):
                origins[pointer("transitions", t_index, "guards", len(guards))] = (
                    fragment, pointer("requirements", index, "guards", g_index),
                )  # fmt: skip
                guards.append(guard)
        if not matched:
            problems.append(
                fragment.problem(
                    where,
                    f"no transition of trigger {requirement['trigger']!r} to add requirements to",
                )
            )


def load_plugins(names: Iterable[Any], where: str) -> list[LoadedPlugin]:
    """Resolve plug-ins in order, each once."""
    loaded: list[LoadedPlugin] = []
    seen: set[str] = set()
    for spec in names:
        plugin = resolve(spec, where)
        if plugin.info.name in seen:
            continue
        seen.add(plugin.info.name)
        loaded.append(plugin)
    return loaded


def installed_reports() -> dict[str, tuple[ReportSpec, str]]:
    """The reports of every installed plug-in that loads: ``{report: (spec, plug-in name)}``.

    For listing them (``pathway report --help``); a plug-in that fails to load, or a report name
    taken twice, is skipped here (``pathway plugins list`` shows the failure).
    """
    found: dict[str, tuple[ReportSpec, str]] = {}
    for name in sorted(installed_plugins()):
        try:
            loaded = resolve(name, name)
            specs = list(_call(loaded, "pathway_reports", name) or ())
        except Exception:
            continue
        for spec in specs:
            if isinstance(spec, ReportSpec):
                found.setdefault(spec.name, (spec, name))
    return found


def describe_plugins(
    pathway_id: str = "barnet_enablement", used: Sequence[str] | None = None
) -> list[dict[str, str]]:
    """What each installed plug-in adds to the pathway ``pathway_id``, for ``pathway plugins list``.

    Loads each one. ``used`` names the plug-ins a pathway uses (its ``plugins`` list and any
    added with ``--plugin``): each gets ``used: yes`` and those not installed as entry points
    are listed too (found as importable modules).
    """
    names = dict.fromkeys([*sorted(installed_plugins()), *(used or ())])
    entry_points = installed_plugins()
    rows = []
    for name in names:
        entry_point = entry_points.get(name)
        module = entry_point.value if entry_point is not None else name
        row: dict[str, str] = {"plugin": name}
        try:
            loaded = resolve(name, name)
            guards = [g.name for g in _call(loaded, "pathway_guards", name) or ()]
            reports = [r.name for r in _call(loaded, "pathway_reports", name) or ()]
            fragment = _call(loaded, "pathway_fragment", name, pathway_id=pathway_id)
            doc = parse_document(fragment, name) if isinstance(fragment, str) else None
            data: Mapping[str, Any] = (doc.data if doc else fragment) or {}
            adds = [f"{len(data.get(k) or [])} {k}" for k in MERGED_KEYS if data.get(k)]
            if guards:
                adds.append(f"guards {', '.join(guards)}")
            row.update(
                version=loaded.info.version,
                adds=", ".join(adds) or f"nothing to pathway {pathway_id}",
                reports=", ".join(reports),
            )
        except DefinitionError as exc:
            row.update(version="?", adds=f"FAILS TO LOAD: {exc}", reports="")
        row["module"] = module
        if used is not None:
            row["used"] = "yes" if name in used else "no"
        rows.append(row)
    return rows


def describe_installed() -> list[dict[str, str]]:
    """What each installed plug-in adds to the default pathway (see :func:`describe_plugins`)."""
    return describe_plugins()
