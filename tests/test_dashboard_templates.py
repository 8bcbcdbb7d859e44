"""The dashboard's templates: autoescaping on, nothing marked safe, every value shown escaped.

The page is Jinja2 templates fed by :func:`pathway.dashboard.page.page_context`. These tests
poison that context (every string in it, however deep, replaced by a hostile string carrying its
own number) and check that no poisoned string reaches the page as markup, in text or in an
attribute, while the page still shows them as text: so a value a template interpolates is escaped
whatever its path, including values added later.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from importlib import resources
from typing import Any

import attrs
import pytest
from sample_store import play_samples

import pathway
from pathway.dashboard import dashboard_data, render_dashboard
from pathway.dashboard import page as page_module
from pathway.dashboard.page import RAW_VALUES, Trusted, page_context, render_page
from pathway.errors import MissingExtra
from pathway.reports import Scope

pytest.importorskip("plotly", reason="the dashboard extra is not installed")
pytest.importorskip("jinja2", reason="the dashboard extra is not installed")

TEMPLATES = resources.files("pathway.dashboard").joinpath("templates")


def hostile(number: int) -> str:
    """A string that breaks out of an attribute, opens a tag and a script if not escaped."""
    return f'"\'><img src=x data-leak="{number}">&amp; <script>leak({number})</script> #{number}#'


def poison(value: Any, counter: list[int]) -> Any:
    """``value`` with every string inside it replaced by :func:`hostile` (numbered in order).

    Goes into dicts, lists, tuples and attrs records (the panels, tables, charts, headline
    figures); leaves :class:`Trusted` values alone, which the code makes safe itself, and empty
    strings, which the page leaves out (a unit-less figure has no unit element).
    """
    if isinstance(value, Trusted):
        return value
    if isinstance(value, str) and value:
        counter[0] += 1
        return hostile(counter[0])
    if isinstance(value, dict):
        return {key: poison(item, counter) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(poison(item, counter) for item in value)
    if attrs.has(type(value)):
        changes = {
            field.name: poison(getattr(value, field.name), counter)
            for field in attrs.fields(type(value))
            if field.init
        }
        return attrs.evolve(value, **changes)
    return value


class Page(HTMLParser):
    """The start tags, the attribute values and the text of a page (character references read)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attribute_values: list[str] = []
        self.text: list[str] = []
        self._tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._tag = tag
        self.attribute_values.extend(v for _, v in attrs if v is not None)

    def handle_data(self, data: str) -> None:
        if self._tag != "script":
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._tag = ""


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def boards(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The samples' board in three states: every part of the page and its every branch shows.

    Long after the data (the stale notice), with a budget (the spend panel), verified, not
    verified and failed (the alert); the pathway and its organisations are named.
    """
    store, _latest = play_samples(tmp_path_factory.mktemp("templates") / "samples.db")
    compiled = pathway.load_pathway("barnet-enablement")
    board = dashboard_data(
        store, Scope(as_of=datetime(2031, 1, 1, tzinfo=UTC)), compiled, budget_pence=12_000_000
    )
    store.close()
    assert board.stale is not None and board.funding is not None and board.organisations
    assert board.pathway_id and board.audit.verified is True
    return {
        "verified": board,
        "not verified": attrs.evolve(board, audit=attrs.evolve(board.audit, verified=None)),
        "failed": attrs.evolve(
            board, audit=attrs.evolve(board.audit, verified=False, problem="event 7 altered")
        ),
    }


@pytest.mark.parametrize("state", ["verified", "not verified", "failed"])
def test_every_interpolated_value_is_escaped(boards: dict[str, Any], state: str) -> None:
    """Every string the templates are given, poisoned, shows as text and never as markup."""
    context = page_context(boards[state])
    clean = parse(render_page(context))
    counter = [0]
    poisoned = poison(context, counter)
    assert counter[0] > 500  # every team, case id, caption, label, note... of the page
    text = render_page(poisoned)

    assert "<script>leak(" not in text and "<img" not in text
    found = parse(text)
    # The same elements as the page made from the clean values: none added by a value.
    assert found.tags == clean.tags
    assert "img" not in found.tags and found.tags.count("script") == 3
    # The poisoned strings are there, as text or attribute values, read back whole.
    shown = "".join(found.text) + "\n".join(found.attribute_values)
    numbers = {int(n) for n in re.findall(r"leak\((\d+)\)</script> #\1#", shown)}
    assert len(numbers) > 100
    for number in sorted(numbers)[:50]:
        assert hostile(number) in shown


def test_the_templates_mark_nothing_safe() -> None:
    """No |safe, no autoescape off, no Markup in the templates: escaping cannot be switched off
    in them; the only unescaped values are RAW_VALUES, which the code makes safe."""
    names = sorted(t.name for t in TEMPLATES.iterdir() if t.name.endswith(".html"))
    assert names == ["macros.html", "page.html"]
    for name in names:
        source = TEMPLATES.joinpath(name).read_text("utf-8")
        assert not re.search(r"\|\s*safe\b", source), name
        assert not re.search(r"autoescape\s+false", source, re.I), name
        assert "Markup" not in source and "__html__" not in source, name
        # Every raw.<name> the template shows is one of the listed values.
        assert set(re.findall(r"raw\.(\w+)", source)) <= set(RAW_VALUES), name
    environment = page_module._environment()
    assert environment.autoescape is True
    assert environment.get_template("macros.html") is not None


def test_only_the_listed_values_are_trusted(boards: dict[str, Any]) -> None:
    """In the context, the only values shown as they are (with ``__html__``) are raw.<RAW_VALUES>,
    and each is safe for its element: no early end of its <script> or <style>."""
    context = page_context(boards["verified"])
    trusted: list[str] = []

    def walk(value: Any, path: str) -> None:
        if hasattr(value, "__html__"):
            trusted.append(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")
        elif attrs.has(type(value)):
            for field in attrs.fields(type(value)):
                walk(getattr(value, field.name), f"{path}.{field.name}")

    walk(context, "context")
    assert sorted(trusted) == sorted(f"context.raw.{name}" for name in RAW_VALUES)
    for name in RAW_VALUES:
        raw = context["raw"][name].text
        assert not re.search(r"</(script|style)", raw, re.I), name
    assert "<" not in context["raw"]["figures_json"].text


def test_without_jinja2_rendering_is_a_clear_error(
    boards: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jinja2 is part of the dashboard extra: without it, MissingExtra naming the pip command."""
    monkeypatch.setitem(sys.modules, "jinja2", None)
    assert not page_module.dashboard_available()
    with pytest.raises(MissingExtra) as raised:
        render_dashboard(boards["verified"])
    assert str(raised.value) == (
        "the dashboard needs the extra: pip install 'care-pathway[dashboard]'"
    )
