"""The plug-in contract, as a third party meets it: build a plug-in, pip-install it, use it.

Each test writes a throw-away plug-in package in a temporary directory, installs it with pip into
a folder of its own and runs care-pathway in a subprocess with that folder on PYTHONPATH, so the
plug-in is found through its entry point exactly as an installed one would be.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pathway

MINIMAL = Path(__file__).resolve().parent.parent / "docs" / "examples" / "minimal.yaml"

pytestmark = pytest.mark.slow

PEER_SUPPORT = '''
import json, os
import pathway

__version__ = "1.2.0"

FRAGMENT = """
states:
  - {id: peer_support, holder: lets, description: A peer support worker alongside enablement}
transitions:
  - trigger: start_peer_support
    sources: [brief_enablement]
    dest: peer_support
    guards: [peer_worker_trained]
  - {trigger: end_peer_support, sources: [peer_support], dest: closed, holder: keep}
"""


def peer_worker_trained(ctx):
    if ctx.values.get("peer_training") == "done":
        return pathway.passed("the peer worker's training is recorded")
    return pathway.refused("the peer worker's training is not recorded (peer_training: done)")


@pathway.hookimpl
def pathway_fragment(pathway_id):
    return FRAGMENT if pathway_id == "minimal" else None


@pathway.hookimpl
def pathway_guards():
    return [pathway.GuardSpec("peer_worker_trained", peer_worker_trained, "A trained peer worker")]


@pathway.hookimpl
def audit_event_recorded(event, case):
    log = os.environ.get("PEER_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps([event.trigger, event.outcome, case.state]) + "\\n")
    if os.environ.get("PEER_FAIL"):
        raise RuntimeError("observer is broken")
'''


def build_plugin(root: Path, name: str, module_source: str) -> Path:
    """Write a minimal plug-in package (pyproject with the entry point, one module)."""
    package = root / name
    (package / name).mkdir(parents=True)
    (package / name / "__init__.py").write_text(textwrap.dedent(module_source))
    (package / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{name.replace("_", "-")}"
            version = "1.2.0"

            [project.entry-points."care_pathway.plugins"]
            {name.removeprefix("cp_")} = "{name}"
            """
        )
    )
    return package


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two plug-ins pip-installed into it: peer support, and a clashing copy."""
    root = tmp_path_factory.mktemp("plugins")
    target = tmp_path_factory.mktemp("site")
    clash = PEER_SUPPORT.replace("peer_worker_trained", "peer_worker_trained_too")
    broken = "raise ImportError('this plug-in is broken on purpose')\n"
    misspelt = (
        "import pathway\n\n@pathway.hookimpl\ndef pathway_fragmnet(pathway_id):\n    return None\n"
    )
    for name, source in (
        ("cp_peer", PEER_SUPPORT), ("cp_peer_clash", clash), ("cp_broken", broken), ("cp_misspelt", misspelt),
    ):  # fmt: skip
        package = build_plugin(root, name, source)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
             "--target", str(target), str(package)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    return target


def run(site: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(site), **env}
    environment.pop("PATHWAY_DB", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def definition_with(tmp_path: Path, *plugins: str) -> Path:
    path = tmp_path / "with-plugins.yaml"
    text = MINIMAL.read_text().replace(
        'version: "1"', 'version: "1"\nplugins: [' + ", ".join(plugins) + "]"
    )
    path.write_text(text)
    return path


def test_plugins_list_shows_what_each_installed_plugin_adds(site: Path, tmp_path: Path) -> None:
    """`pathway plugins list` finds plug-ins through their entry points, with versions."""
    done = run(site, tmp_path, "-m", "pathway", "plugins", "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = {row["plugin"]: row for row in json.loads(done.stdout)}
    assert rows["peer"]["version"] == "1.2.0"
    assert rows["peer"]["module"] == "cp_peer"
    assert "FAILS TO LOAD" in rows["broken"]["adds"]


def test_a_pathway_picks_up_a_plugin_named_in_its_definition(site: Path, tmp_path: Path) -> None:
    """The plug-in's state, transition and guard work; its version is part of the pathway's."""
    path = definition_with(tmp_path, "peer")
    script = f"""
import json, pathway
p = pathway.load_pathway({str(path)!r})
e = pathway.Engine(p, pathway.open_store(":memory:"))
lets = pathway.Actor("w", "lets")
e.open_case("C1", pathway.Actor("h", "hub"))
e.fire("C1", "book_choice_appointment", lets)
e.fire("C1", "start_enablement", lets, data={{"enablement_plan": "p"}})
refused = e.check("C1", "start_peer_support", lets).reasons
case = e.fire("C1", "start_peer_support", lets, data={{"peer_training": "done"}})
print(json.dumps({{"version": p.version, "plugins": [[i.name, i.version] for i in p.plugins],
                  "refused": refused, "state": case.state,
                  "event_version": e.store.history("C1")[-1].pathway_version}}))
"""
    log = tmp_path / "observed.jsonl"
    done = run(site, tmp_path, "-c", script, PEER_LOG=str(log))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["version"] == "1+peer-1.2.0" == result["event_version"]
    assert result["plugins"] == [["peer", "1.2.0"]]
    assert result["refused"] == ["the peer worker's training is not recorded (peer_training: done)"]
    assert result["state"] == "peer_support"
    observed = [json.loads(line) for line in log.read_text().splitlines()]
    assert observed[-1] == ["start_peer_support", "applied", "peer_support"]
    assert ["start_enablement", "applied", "brief_enablement"] in observed


def test_a_failing_observer_loses_neither_the_transition_nor_its_event(
    site: Path, tmp_path: Path
) -> None:
    """An observer that raises is reported; the transition and its audit event are committed."""
    path = definition_with(tmp_path, "peer")
    script = f"""
import json, pathway
p = pathway.load_pathway({str(path)!r})
e = pathway.Engine(p, pathway.open_store(":memory:"))
e.open_case("C1", pathway.Actor("h", "hub"))
case = e.fire("C1", "book_choice_appointment", pathway.Actor("w", "lets"))
print(json.dumps({{"state": case.state, "events": len(e.store.history("C1")),
                  "failures": [[f.plugin, f.error] for f in e.observer_failures],
                  "verified": e.store.verify().ok}}))
"""
    done = run(site, tmp_path, "-c", script, PEER_FAIL="1")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["state"], result["events"], result["verified"]) == (
        "choice_appointment",
        2,
        True,
    )
    assert result["failures"] == [["peer", "RuntimeError: observer is broken"]] * 2
    assert "plug-in peer failed observing event" in done.stderr


@pytest.mark.parametrize(
    ("plugins", "message"),
    [
        (("peer", "peer_clash"), "state 'peer_support' is already added by plug-in peer"),
        (
            ("broken",),
            "plug-in 'broken' failed to load: ImportError: this plug-in is broken on purpose",
        ),
        (("misspelt",), "a plug-in implements a hook that does not exist (misspelt?)"),
        (("nowhere",), "plug-in 'nowhere' is not installed"),
    ],
)
def test_conflicts_and_faults_are_load_time_errors(
    site: Path, tmp_path: Path, plugins: tuple[str, ...], message: str
) -> None:
    """Two plug-ins adding one state, a plug-in that raises, a misspelt hook, a missing plug-in."""
    path = definition_with(tmp_path, *plugins)
    done = run(site, tmp_path, "-m", "pathway", "validate", str(path))
    assert done.returncode == 1
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_guard_registered_twice_names_both_owners(tmp_path: Path) -> None:
    """A plug-in guard whose name is built in is refused, naming both."""

    class Clashing:
        __plugin_name__ = "clashing"

        @pathway.hookimpl
        def pathway_guards(self) -> list[pathway.GuardSpec]:
            return [pathway.GuardSpec("has_role", lambda ctx: pathway.passed("ok"), "clash")]

    with pytest.raises(pathway.DefinitionError) as info:
        pathway.load_pathway(MINIMAL, plugins=[Clashing()])
    assert (
        "guard 'has_role' is registered by care-pathway (built in) and by plug-in 'clashing'"
        in str(info.value)
    )


def test_a_fragment_problem_is_reported_at_its_line_in_the_fragment() -> None:
    """A plug-in fragment naming an unknown team is placed in the fragment, not the pathway."""

    class Typo:
        __plugin_name__ = "typo"

        @pathway.hookimpl
        def pathway_fragment(self, pathway_id: str) -> str:
            return "states:\n  - {id: extra, holder: letz}\ntransitions:\n  - {trigger: go_extra, sources: [referred], dest: extra}\n"

    with pytest.raises(pathway.DefinitionError) as info:
        pathway.load_pathway(MINIMAL, plugins=[Typo()])
    (problem,) = [p for p in info.value.problems if "letz" in p.message]
    assert (problem.source, problem.line, problem.pointer) == (
        "plug-in typo",
        2,
        "/states/0/holder",
    )


def test_a_plugin_report_is_on_the_pathway_and_may_not_take_a_built_in_name() -> None:
    """pathway_reports adds a named report; reusing a built-in report's name is an error."""
    from pathway.plugins import ReportSpec
    from pathway.reports import Scope

    class Counts:
        def __init__(self, scope: Scope, cases: int) -> None:
            self.scope, self.cases = scope, cases

        def to_json(self) -> dict[str, object]:
            return {"report": "case_count", **self.scope.header(), "cases": self.cases}

    def case_count(conn: object, scope: Scope, pathway_: pathway.Pathway) -> Counts:
        return Counts(scope, conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0])  # type: ignore[attr-defined]

    class Reporting:
        __plugin_name__ = "reporting"

        def __init__(self, name: str) -> None:
            self.name = name

        @pathway.hookimpl
        def pathway_reports(self) -> list[ReportSpec]:
            return [ReportSpec(self.name, case_count, "How many cases")]

    loaded = pathway.load_pathway(MINIMAL, plugins=[Reporting("case_count")])
    store = pathway.open_store(":memory:")
    pathway.Engine(loaded, store).open_case("C1", pathway.Actor("h", "hub"))
    from datetime import UTC, datetime

    result = loaded.reports["case_count"].function(
        store.connection, Scope(datetime.now(UTC)), loaded
    )
    assert result.to_json()["cases"] == 1
    with pytest.raises(pathway.DefinitionError, match="report 'holding' is added by care-pathway"):
        pathway.load_pathway(MINIMAL, plugins=[Reporting("holding")])


def test_a_plugin_can_require_more_of_a_step_the_pathway_has() -> None:
    """requirements add guards to existing steps; one that matches no step is an error."""

    class Stricter:
        __plugin_name__ = "stricter"

        def __init__(self, trigger: str) -> None:
            self.trigger = trigger

        @pathway.hookimpl
        def pathway_fragment(self, pathway_id: str) -> str:
            return (
                f"requirements:\n  - trigger: {self.trigger}\n"
                "    guards: [{guard: data_present, params: {fields: [closure_note], this_call: true}}]\n"
            )

    loaded = pathway.load_pathway(MINIMAL, plugins=[Stricter("re_refer")])
    (re_refer,) = loaded.triggers["re_refer"]
    assert [g.name for g in re_refer.guards] == ["data_present"]
    with pytest.raises(pathway.DefinitionError) as info:
        pathway.load_pathway(MINIMAL, plugins=[Stricter("teleport")])
    (problem,) = info.value.problems
    assert (problem.source, problem.line, problem.pointer) == (
        "plug-in stricter",
        2,
        "/requirements/0",
    )
    assert "no transition of trigger 'teleport'" in problem.message


def test_sub_steps_inherit_their_parent_states_ways_out() -> None:
    """A nested sub-step leaves by its parent's transitions unless it has its own for the trigger."""

    class Nested:
        __plugin_name__ = "nested"

        @pathway.hookimpl
        def pathway_fragment(self, pathway_id: str) -> str:
            return (
                "states:\n  - {id: brief_enablement.review, holder: lets}\n"
                "transitions:\n  - {trigger: review, sources: [brief_enablement], dest: brief_enablement.review}\n"
                "  - {trigger: refer_to_cmht, sources: [brief_enablement.review], dest: closed}\n"
            )

    loaded = pathway.load_pathway(MINIMAL, plugins=[Nested()])
    (complete,) = loaded.triggers["complete_enablement"]
    assert complete.sources == ("brief_enablement", "brief_enablement.review")
    base, own = loaded.triggers["refer_to_cmht"]
    assert "brief_enablement.review" not in base.sources  # the sub-step has its own
    assert own.sources == ("brief_enablement.review",)


def test_the_four_first_party_plugins_shape_the_default_pathway_together() -> None:
    """amhp, safeguarding, intensive_enablement and network_plus load together, each recorded."""
    import importlib

    root = Path(__file__).resolve().parent.parent / "plugins"
    names = ["amhp", "safeguarding", "intensive_enablement", "network_plus"]
    for name in names:
        sys.path.insert(0, str(root / name))
    modules = [importlib.import_module(f"care_pathway_{name}") for name in names]
    loaded = pathway.load_pathway("barnet-enablement", plugins=modules)
    assert [info.name for info in loaded.plugins] == [f"care_pathway_{name}" for name in names]
    assert loaded.version.startswith("1+care_pathway_amhp-")
    assert {"mha_assessment.interview", "safeguarding.s42_decision"} <= set(loaded.states)
    assert {"safeguarding", "move_on", "network_outcomes"} <= set(loaded.reports)
    # Safeguarding can still be raised from inside a plug-in's sub-step, by inheritance or its own.
    assert any(
        "mha_assessment.interview" in t.sources for t in loaded.triggers["raise_safeguarding"]
    )
