"""Loading definitions: the example loads; broken ones report every problem with its place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import MINIMAL

import pathway
from pathway.errors import Problem

GOOD = MINIMAL.read_text(encoding="utf-8")


def load_text(tmp_path: Path, text: str) -> pathway.Pathway:
    path = tmp_path / "pathway.yaml"
    path.write_text(text, encoding="utf-8")
    return pathway.load_pathway(path)


def problems_of(tmp_path: Path, text: str) -> tuple[Problem, ...]:
    with pytest.raises(pathway.DefinitionError) as info:
        load_text(tmp_path, text)
    return info.value.problems


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def test_example_loads_with_its_parts(minimal: pathway.Pathway) -> None:
    """The example pathway exposes its names, iterable and indexable by name."""
    assert minimal.id == "minimal" and minimal.version == "1"
    assert list(minimal.organisations) == ["council", "trust"]
    assert minimal.teams["cmht"].organisation == "trust"
    assert "brief_enablement" in minimal.states
    assert minimal.states["brief_enablement"].time_limit_days == 42
    assert minimal.states["cmht_offered"].is_offer
    assert "refer_to_cmht" in minimal.triggers
    assert list(minimal.roles) == ["amhp"]
    assert minimal.roles["amhp"].triggers == ("request_mha_assessment",)
    with pytest.raises(KeyError, match="no state 'nowhere'"):
        minimal.states["nowhere"]


def test_task_matrix_guard_is_added_where_a_task_is_named(minimal: pathway.Pathway) -> None:
    """A transition into a state with a task gets the task-matrix guard automatically."""
    (start,) = minimal.triggers["start_enablement"]
    assert [g.name for g in start.guards] == ["team_may_perform", "data_present"]
    assert start.guards[0].automatic
    (re_refer,) = minimal.triggers["re_refer"]
    assert re_refer.guards == ()


BROKEN = [
    # (name, edit (old -> new), expected message fragment, pointer, line needle in edited text)
    (
        "yaml syntax",
        ("initial: referred", "initial: [referred"),
        "not valid YAML",
        "",
        None,
    ),
    (
        "missing required field",
        ('version: "1"\n', ""),
        "'version' is a required property",
        "",
        None,
    ),
    (
        "wrong type",
        ("time_limit_days: 42", "time_limit_days: six weeks"),
        "is not of type 'number'",
        "/states/2/time_limit_days",
        "time_limit_days: six weeks",
    ),
    (
        "misspelt field",
        ("    dest: brief_enablement\n", "    dest: brief_enablement\n    gaurds: []\n"),
        "Additional properties are not allowed ('gaurds' was unexpected)",
        "/transitions/1",
        "trigger: start_enablement",
    ),
    (
        "unknown organisation",
        ("{id: cmht, organisation: trust,", "{id: cmht, organisation: nhs,"),
        "team cmht: unknown organisation 'nhs'",
        "/teams/2/organisation",
        "{id: cmht, organisation: nhs,",
    ),
    (
        "unknown team as holder",
        ("{id: referred, holder: hub,", "{id: referred, holder: front_door,"),
        "unknown team 'front_door'",
        "/states/0/holder",
        "holder: front_door",
    ),
    (
        "unknown team in task matrix",
        ("{id: specialist_support, teams: [cmht]}", "{id: specialist_support, teams: [cmhtt]}"),
        "unknown team 'cmhtt'",
        "/tasks/2/teams/0",
        "teams: [cmhtt]",
    ),
    (
        "unknown state as destination",
        (
            "    dest: closed\n    task: brief_enablement",
            "    dest: finished\n    task: brief_enablement",
        ),
        "unknown state 'finished'",
        "/transitions/2/dest",
        "dest: finished",
    ),
    (
        "unknown guard",
        ("guards: [within_time_limit]", "guards: [within_six_weeks]"),
        "unknown guard 'within_six_weeks'",
        "/transitions/2/guards/0",
        "guards: [within_six_weeks]",
    ),
    (
        "bad guard parameters",
        ("{guard: has_role, params: {role: amhp}}", "{guard: has_role, params: {rol: amhp}}"),
        "guard has_role: params 'role' is a required property",
        "/transitions/6/guards/0",
        "params: {rol: amhp}",
    ),
    (
        "unreachable state",
        ("    dest: mha_assessment\n", "    dest: closed\n"),
        "state mha_assessment is unreachable",
        "/states/5",
        "{id: mha_assessment, holder",
    ),
    (
        "non-final state with no way out",
        (
            ("sources: [specialist_support, mha_assessment]", "sources: [mha_assessment]"),
            ('sources: "*"', "sources: [referred]"),
        ),
        "state specialist_support is not final but no transition leaves it",
        "/states/4",
        "{id: specialist_support, holder",
    ),
    (
        "handoff with no way back when declined",
        (
            "  - trigger: decline_handoff\n    sources: [cmht_offered]\n    return: true\n",
            "  - trigger: decline_handoff\n    sources: [cmht_offered]\n    dest: specialist_support\n",
        ),
        "handoff refer_to_cmht has no way back when declined",
        "/transitions/3",
        "trigger: refer_to_cmht",
    ),
    (
        "handoff to a state that is not an offer",
        (
            "    dest: cmht_offered\n    handoff: true",
            "    dest: specialist_support\n    handoff: true",
        ),
        "its destination specialist_support must be an offer state",
        "/transitions/3/handoff",
        "handoff: true",
    ),
    (
        "duplicate state",
        (
            "  - {id: mha_assessment, holder: amhp, task: mha_assessment}",
            "  - {id: referred, holder: amhp}",
        ),
        "duplicate state 'referred'",
        "/states/5/id",
        "{id: referred, holder: amhp}",
    ),
    (
        "duplicate key",
        ('version: "1"\n', 'version: "1"\nversion: "2"\n'),
        "duplicate key",
        "/version",
        'version: "2"',
    ),
    (
        "unknown initial state",
        ("initial: referred", "initial: referral"),
        "unknown state 'referral'",
        "/initial",
        "initial: referral",
    ),
]


@pytest.mark.parametrize(
    ("edit", "fragment", "ptr", "needle"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_broken_definition_is_reported_with_its_place(
    tmp_path: Path, edit: Any, fragment: str, ptr: str | None, needle: str | None
) -> None:
    """Each kind of broken definition gives a problem naming file, line and JSON pointer."""
    edits = edit if isinstance(edit[0], tuple) else (edit,)
    text = GOOD
    for old, new in edits:
        assert old in text, f"test edit no longer applies: {old!r}"
        text = text.replace(old, new, 1)
    problems = problems_of(tmp_path, text)
    matching = [p for p in problems if fragment in p.message]
    assert matching, [str(p) for p in problems]
    problem = matching[0]
    assert problem.source.endswith("pathway.yaml")
    assert problem.line is not None and problem.line >= 1
    if ptr is not None:
        assert problem.pointer == ptr
    if needle is not None:
        assert problem.line == line_of(text, needle)
    assert str(problem).startswith(f"{problem.source}:{problem.line}:")


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    """Two independent mistakes give two problems in one error, in file order."""
    text = GOOD.replace("holder: hub,", "holder: hubb,").replace(
        "dest: mha_assessment", "dest: mha"
    )
    problems = problems_of(tmp_path, text)
    messages = [p.message for p in problems]
    assert any("unknown team 'hubb'" in m for m in messages)
    assert any("unknown state 'mha'" in m for m in messages)
    assert [p.line for p in problems] == sorted(p.line or 0 for p in problems)


def test_missing_file_and_unknown_shipped_name_are_definition_errors(tmp_path: Path) -> None:
    """A path that is not there, or a name that is not shipped, says so."""
    with pytest.raises(pathway.DefinitionError, match="no such file"):
        pathway.load_pathway(tmp_path / "nope.yaml")
    with pytest.raises(pathway.DefinitionError, match="no shipped pathway of that name"):
        pathway.load_pathway("no_such_pathway")


def test_a_plain_json_definition_loads(tmp_path: Path, minimal: pathway.Pathway) -> None:
    """JSON is YAML too: the same definition as JSON loads the same pathway."""
    import json

    import yaml

    path = tmp_path / "p.json"
    path.write_text(json.dumps(yaml.safe_load(GOOD)), encoding="utf-8")
    loaded = pathway.load_pathway(path)
    assert list(loaded.states) == list(minimal.states)
    assert list(loaded.triggers) == list(minimal.triggers)
