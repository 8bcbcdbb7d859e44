"""Diagrams: Mermaid and DOT text of a pathway, deterministic, with valid identifiers."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import MINIMAL

import pathway
from pathway.diagram import dot, edges, mermaid, state_identifiers

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MERMAID_EDGE = re.compile(r"^    (\S+) --> (\S+)(?: : (.+))?$")
DOT_EDGE = re.compile(r"^    (\S+) -> (\S+)(?: \[(.*)\])?;$")

# States with dots, a name that clashes with a dotted name's identifier, and words Mermaid and
# DOT reserve; the interview is an interruption, so the outcome can return to where it began.
AWKWARD = """\
id: awkward
version: "2"
title: Awkward "names"
organisations: [{id: council, kind: council}]
teams: [{id: amhp, organisation: council}, {id: lets, organisation: council}]
states:
  - {id: start, holder: lets}
  - {id: amhp.interview, holder: amhp}
  - {id: amhp__interview, holder: amhp}
  - {id: amhp.interview.outcome, holder: amhp}
  - {id: note, holder: lets}
  - {id: node, holder: lets}
  - {id: state.end, holder: lets}
  - {id: finished, holder: lets, final: true}
initial: start
transitions:
  - {trigger: interview, sources: [start], dest: amhp.interview, interrupt: true}
  - {trigger: record, sources: [amhp.interview], dest: amhp.interview.outcome}
  - {trigger: other, sources: [start], dest: amhp__interview}
  - {trigger: write_note, sources: [amhp.interview.outcome, amhp__interview], dest: note}
  - {trigger: go_node, sources: [note], dest: node}
  - {trigger: go_end, sources: [node], dest: state.end}
  - {trigger: back, sources: [amhp.interview.outcome], return: true}
  - {trigger: finish, sources: [state.end], dest: finished}
"""


@pytest.fixture
def awkward(tmp_path: Path) -> pathway.Pathway:
    """A pathway whose state names are not usable as diagram identifiers as they stand."""
    path = tmp_path / "awkward.yaml"
    path.write_text(AWKWARD, encoding="utf-8")
    return pathway.load_pathway(path)


@pytest.fixture(scope="module")
def barnet() -> pathway.Pathway:
    """The shipped default pathway."""
    return pathway.load_pathway("barnet-enablement")


def mermaid_edges(text: str) -> list[tuple[str, str, str | None]]:
    """The ``a --> b : label`` lines of Mermaid text."""
    found = []
    for line in text.splitlines():
        match = MERMAID_EDGE.match(line)
        if match:
            found.append((match.group(1), match.group(2), match.group(3)))
    return found


def dot_edges(text: str) -> list[tuple[str, str, str]]:
    """The ``a -> b [attributes];`` lines of DOT text."""
    found = []
    for line in text.splitlines():
        match = DOT_EDGE.match(line)
        if match:
            found.append((match.group(1), match.group(2), match.group(3) or ""))
    return found


def test_mermaid_of_the_example_has_start_edges_returns_and_end(minimal: pathway.Pathway) -> None:
    """The example's Mermaid text has its initial arrow, every edge, its returns and its end."""
    text = mermaid(minimal)
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert text.endswith("\n")
    assert "    [*] --> referred" in lines
    assert "    referred --> choice_appointment : book_choice_appointment" in lines
    assert "    choice_appointment --> brief_enablement : start_enablement" in lines
    assert "    cmht_offered --> specialist_support : accept_handoff" in lines
    # A declined offer goes back to each state the offer can be made from.
    assert "    cmht_offered --> choice_appointment : decline_handoff (return)" in lines
    assert "    cmht_offered --> brief_enablement : decline_handoff (return)" in lines
    assert [line for line in lines if "decline_handoff" in line] == [
        "    cmht_offered --> choice_appointment : decline_handoff (return)",
        "    cmht_offered --> brief_enablement : decline_handoff (return)",
    ]
    assert "    closed --> [*]" in lines
    assert "    closed --> referred : re_refer" in lines


def test_mermaid_expands_star_sources_to_every_open_state(minimal: pathway.Pathway) -> None:
    """A transition from "*" is drawn from every non-final state, and never from a final one."""
    sources = [
        a for a, b, label in mermaid_edges(mermaid(minimal)) if label == "request_mha_assessment"
    ]
    open_states = [name for name, state in minimal.states.items() if not state.final]
    assert sources == open_states
    assert "closed" not in sources


def test_mermaid_notes_offer_states(minimal: pathway.Pathway) -> None:
    """An offer state has a note naming the receiving team and the dashed ``offer`` class."""
    lines = mermaid(minimal).splitlines()
    assert "    note right of cmht_offered : offer to cmht, pending acceptance" in lines
    assert "    classDef offer stroke-dasharray: 5 5" in lines
    assert "    class cmht_offered offer" in lines
    assert sum(line.startswith("    note ") for line in lines) == 1


def test_edges_follow_definition_order_and_mark_returns(minimal: pathway.Pathway) -> None:
    """edges() lists one edge per transition and source, returns marked, in definition order."""
    found = edges(minimal)
    assert found[0] == ("referred", "choice_appointment", "book_choice_appointment", False)
    assert ("cmht_offered", "choice_appointment", "decline_handoff", True) in found
    assert len(found) == len(set(found))
    plain = [e for e in found if not e[3]]
    expected = sum(len(t.sources) for t in minimal.transitions if t.dest is not None)
    assert len(plain) == expected


def test_output_is_deterministic(minimal: pathway.Pathway) -> None:
    """The same definition gives the same text, call after call and load after load."""
    again = pathway.load_pathway(MINIMAL)
    assert again is not minimal
    assert mermaid(minimal) == mermaid(minimal) == mermaid(again)
    assert dot(minimal) == dot(minimal) == dot(again)


def test_dotted_and_reserved_names_get_valid_unique_identifiers(awkward: pathway.Pathway) -> None:
    """Dots become double underscores, clashes get a number, reserved words an underscore."""
    ids = state_identifiers(awkward)
    assert ids == {
        "start": "start",
        "amhp.interview": "amhp__interview_2",
        "amhp__interview": "amhp__interview",
        "amhp.interview.outcome": "amhp__interview__outcome",
        "note": "note_",
        "node": "node_",
        "state.end": "state__end",
        "finished": "finished",
    }
    assert all(IDENT.match(ident) for ident in ids.values())
    assert len(set(ids.values())) == len(ids)


def test_mermaid_uses_identifiers_and_shows_the_names(awkward: pathway.Pathway) -> None:
    """Every Mermaid edge joins valid identifiers; renamed states are declared with their name."""
    text = mermaid(awkward)
    lines = text.splitlines()
    assert '    state "amhp.interview" as amhp__interview_2' in lines
    assert '    state "amhp.interview.outcome" as amhp__interview__outcome' in lines
    assert '    state "note" as note_' in lines
    assert not any(line.startswith('    state "start"') for line in lines)
    for source, dest, _label in mermaid_edges(text):
        assert source == "[*]" or IDENT.match(source), source
        assert dest == "[*]" or IDENT.match(dest), dest
    assert "    amhp__interview_2 --> amhp__interview__outcome : record" in lines
    assert "    amhp__interview__outcome --> start : back (return)" in lines
    assert "    state__end --> finished : finish" in lines


def test_return_is_drawn_back_to_where_the_interruption_began(awkward: pathway.Pathway) -> None:
    """A return inside an interruption is drawn to the states the interruption was made from."""
    back = [(s, d) for s, d, trigger, is_return in edges(awkward) if trigger == "back"]
    assert back == [("amhp.interview.outcome", "start")]
    assert "    amhp__interview__outcome --> start : back (return)" in mermaid(awkward).splitlines()


def test_dot_of_the_example(minimal: pathway.Pathway) -> None:
    """The DOT text is a digraph with start and end points, labelled nodes and dashed returns."""
    text = dot(minimal)
    lines = text.splitlines()
    assert lines[0] == 'digraph "minimal" {'
    assert lines[-1] == "}" and text.endswith("}\n")
    assert "    __start -> referred;" in lines
    assert "    closed -> __end;" in lines
    assert '    referred [label="referred\\n(hub)"];' in lines
    assert (
        '    cmht_offered [label="cmht_offered\\noffer to cmht", style="rounded,dashed"];' in lines
    )
    assert '    closed [label="closed\\n(lets)", peripheries=2];' in lines
    assert (
        '    cmht_offered -> brief_enablement [label="decline_handoff (return)", style=dashed];'
        in lines
    )
    assert '    referred -> choice_appointment [label="book_choice_appointment"];' in lines
    assert len(dot_edges(text)) == len(edges(minimal)) + 2  # plus the start and end arrows


def test_dot_uses_identifiers_and_quotes_labels(awkward: pathway.Pathway) -> None:
    """DOT node ids are plain identifiers; names and a title with quotes sit in escaped labels."""
    text = dot(awkward)
    lines = text.splitlines()
    assert '    label="Awkward \\"names\\" (version 2)";' in lines
    assert '    amhp__interview_2 [label="amhp.interview\\n(amhp)"];' in lines
    assert '    node_ [label="node\\n(lets)"];' in lines
    for source, dest, _attributes in dot_edges(text):
        assert IDENT.match(source) and IDENT.match(dest), (source, dest)
    assert text.count("{") == text.count("}") == 1


def test_barnet_diagram_draws_every_transition(barnet: pathway.Pathway) -> None:
    """Every trigger and state of the shipped pathway appears; one Mermaid line per edge.

    Internal steps (placements, escalation), which leave the case where it is, are listed as
    comments.
    """
    text = mermaid(barnet)
    labels = {label for _s, _d, label in mermaid_edges(text) if label}
    triggers = {label.removesuffix(" (return)") for label in labels}
    internal = {t.trigger for t in barnet.transitions if t.internal}
    assert internal == {
        "placement_start", "placement_change", "placement_end", "request_mha_assessment",
        "escalate",
    }  # fmt: skip
    assert triggers == set(barnet.triggers) - internal
    for trigger in internal:
        assert (
            f"    %% internal step {trigger} (the case stays in its state): from every open state"
            in text.splitlines()
        )
    drawn = {name for s, d, _l in mermaid_edges(text) for name in (s, d)}
    assert drawn - {"[*]"} == set(barnet.states)
    assert len(mermaid_edges(text)) == len(edges(barnet)) + 1 + len(barnet.final_states())
    offers = [name for name, state in barnet.states.items() if state.is_offer]
    assert sum(line.startswith("    note right of ") for line in text.splitlines()) == len(offers)


def test_barnet_returns_go_back_to_each_sender(barnet: pathway.Pathway) -> None:
    """A declined CMHT offer is drawn back to every state that can offer the case to the CMHT."""
    back = {s_d[1] for s_d in edges(barnet) if s_d[0] == "offered_to_cmht" and s_d[3]}
    senders = {
        source for t in barnet.transitions if t.dest == "offered_to_cmht" for source in t.sources
    }
    assert back == senders


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graphviz_accepts_the_dot_text(barnet: pathway.Pathway, awkward: pathway.Pathway) -> None:
    """Graphviz parses the DOT text of both pathways (only where Graphviz is installed)."""
    for graph in (barnet, awkward):
        result = subprocess.run(
            ["dot", "-Tcanon"], input=dot(graph), capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr


def test_docs_pathway_embeds_the_current_diagram() -> None:
    """docs/pathway.md shows the diagram of the definition as it is now."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "pathway.md").read_text()
    block = doc.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block == mermaid(pathway.load_pathway("barnet-enablement"))


def test_diagram_command_prints_mermaid_and_dot() -> None:
    """`pathway diagram` prints the same text as the library, in either format."""
    from click.testing import CliRunner

    from pathway.cli import cli

    runner = CliRunner()
    text = runner.invoke(cli, ["diagram"]).output
    assert text == mermaid(pathway.load_pathway("barnet-enablement"))
    minimal_path = str(Path(__file__).resolve().parent.parent / "docs/examples/minimal.yaml")
    as_dot = runner.invoke(cli, ["diagram", "--pathway", minimal_path, "--format", "dot"])
    assert as_dot.output.startswith('digraph "minimal" {')
    bad = runner.invoke(cli, ["diagram", "--pathway", "nope.yaml"])
    assert bad.exit_code == 2
    assert "nope.yaml: no such file" in bad.output
