"""What the data in a store is (pathway.reports.coverage): the notice that it ends long before
as-of, the per-figure predicates on the pathway's states, the title, the months; and all of it on
the real municipal log (shared/data/receipt.csv), on the dashboard and `pathway report`."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from report_helpers import RECEIPT, RECEIPT_DROP, RECEIPT_MAP, at
from sample_store import play_samples

import pathway
from pathway.importer import import_events
from pathway.reports import Scope, monthly_report
from pathway.reports.activity import load_plan
from pathway.reports.coverage import (
    IMPORT_SOURCES_KEY,
    STALE_AFTER_DAYS,
    Basis,
    DataFacts,
    ImportSource,
    activity_basis,
    data_facts,
    data_title,
    first_appointment_basis,
    months_of_data,
    offer_basis,
    read_import_sources,
    rests_on,
    review_basis,
    stale_notice,
    stale_notice_for,
    time_limit_basis,
)

BARNET = pathway.load_pathway("barnet-enablement")

LOG = """case_id,occurred_at,state,team,trigger
C1,2026-01-05T09:00:00Z,referral,hub,refer_via_hub
C1,2026-01-06T09:00:00Z,Check receipt,lets,
C2,2026-01-07T10:00:00Z,Check receipt,hub,
C2,2026-03-10T16:30:00Z,Adjust receipt,hub,
"""
"""Two cases; a Table 15 state (referral) and trigger in one row; newest event 2026-03-10 16:30."""


def facts(**changes: Any) -> DataFacts:
    """Facts of an imported log with none of the pathway's states, changed as given."""
    base: dict[str, Any] = {
        "cases": 2,
        "first_event": "2026-01-05T09:00:00.000000+00:00",
        "newest_event": "2026-03-10T16:30:00.000000+00:00",
        "states": frozenset({"Check receipt"}),
        "triggers": frozenset({"imported"}),
        "native_pathways": frozenset(),
        "imported": True,
    }
    return DataFacts(**{**base, **changes})


# --- the notice ----------------------------------------------------------------------------------


def test_no_notice_within_the_threshold_and_one_after_it() -> None:
    newest = "2012-01-23T14:42:54.644000+00:00"
    last = datetime(2012, 1, 23, 14, 42, 54, 644000, tzinfo=UTC)
    assert STALE_AFTER_DAYS == 90
    assert stale_notice_for(newest, last + timedelta(days=90)) is None  # exactly 90: current
    assert stale_notice_for(newest, last - timedelta(days=400)) is None  # as-of before the data
    assert stale_notice_for(None, last) is None  # no events: nothing to say
    notice = stale_notice_for(newest, last + timedelta(days=90, microseconds=1))
    assert notice is not None and notice.days == pytest.approx(90.0)
    assert notice.as_of_option == "--as-of 2012-01-23T14:42:54.644000+00:00"
    late = stale_notice_for(newest, datetime(2026, 12, 7, tzinfo=UTC))
    assert late is not None
    # 2012-01-23T14:42:54.644 to 2026-12-07T00:00: 5,431 days and 9.3 hours (by hand: 14 years
    # from 2012-01-23 is 2026-01-23, 5,114 days with 4 leap days; then 318 days to 7 December).
    assert late.days == pytest.approx(5431 + (9 * 3600 + 17 * 60 + 5.356) / 86400)
    text = late.message()
    assert "from 2012-01-23, 5,431 days before as-of (2026-12-07)" in text
    assert late.advice("pathway report waits").endswith(
        "use: pathway report waits --as-of 2012-01-23T14:42:54.644000+00:00"
    )
    # The threshold can be set.
    assert stale_notice_for(newest, last + timedelta(days=10), threshold_days=7) is not None


def test_the_notice_reads_the_newest_event_of_the_store_applied_or_refused(tmp_path: Path) -> None:
    store = pathway.open_store(tmp_path / "s.db")
    import_events(store, "log.csv", text=LOG)
    assert stale_notice(store.connection, at("2026-06-08T16:30")) is None  # 90 days after
    notice = stale_notice(store.connection, at("2026-06-08T16:31"))
    assert notice is not None and notice.newest_event == "2026-03-10T16:30:00.000000+00:00"
    store.close()


# --- the predicates, one per figure ---------------------------------------------------------------


def test_each_basis_names_the_pathways_states() -> None:
    """The states each figure rests on, as the Barnet definition gives them (read from its YAML)."""
    assert first_appointment_basis("choice_appointment").states == {"choice_appointment"}
    assert time_limit_basis(BARNET).states == {"brief_enablement"}  # six weeks (BEP 7.4.3)
    assert review_basis(BARNET).states == {"residential_review", "community_review"}
    assert offer_basis(BARNET).states == {
        "offered_to_triage", "offered_to_lets", "offered_to_network", "offered_to_cmht",
        "offered_to_iet", "offered_hospital_social_work", "offered_s117_aftercare",
    }  # fmt: skip
    plan = activity_basis(load_plan())
    assert {"referral", "choice_appointment", "mha_assessment"} <= plan.states
    assert "refer_via_hub" in plan.triggers
    for basis in (time_limit_basis(None), review_basis(None), offer_basis(None)):
        assert basis.states == frozenset() and basis.triggers == frozenset()


@pytest.mark.parametrize(
    ("basis", "entered"),
    [
        (first_appointment_basis("choice_appointment"), "choice_appointment"),
        (time_limit_basis(BARNET), "brief_enablement"),
        (review_basis(BARNET), "community_review"),
        (offer_basis(BARNET), "offered_to_cmht"),
        (activity_basis(load_plan()), "safeguarding"),
    ],
)
def test_a_figure_is_shown_where_an_event_entered_one_of_its_states(
    basis: Basis, entered: str
) -> None:
    """Imported data: shown with the state in the data, hidden (saying why) without it."""
    assert not rests_on(facts(), basis, BARNET)
    assert basis.absent().startswith("no event in the data entered ")
    assert rests_on(facts(states=frozenset({"Check receipt", entered})), basis, BARNET)
    assert rests_on(facts(states=frozenset({entered})), basis, None)
    assert not rests_on(facts(states=frozenset({entered.upper()})), basis, None)  # names exact


def test_a_trigger_of_the_plan_is_enough_for_activity() -> None:
    assert rests_on(facts(triggers=frozenset({"gp_refer"})), activity_basis(load_plan()), None)
    assert not rests_on(facts(triggers=frozenset({"gp_refer"})), review_basis(BARNET), BARNET)


def test_the_engines_own_events_on_the_pathway_show_every_figure() -> None:
    """A store the engine runs on the pathway has the pathway's states: no review ever done
    leaves every review overdue, which must be shown, not hidden."""
    native = facts(native_pathways=frozenset({BARNET.id}), imported=False)
    assert rests_on(native, review_basis(BARNET), BARNET)
    # Imported on that pathway (the events carry its id) is not the engine's own: still judged.
    assert not rests_on(facts(), review_basis(BARNET), BARNET)
    other = facts(native_pathways=frozenset({"another_pathway"}))
    assert not rests_on(other, review_basis(BARNET), BARNET)
    # A pathway with no review states cannot support the figure at all.
    assert not rests_on(native, review_basis(None), BARNET)
    assert review_basis(None).absent() == "the pathway has no such states"


# --- what the data holds, and its title -----------------------------------------------------------


@pytest.mark.parametrize("store_factory", ["sqlite", "postgres"], indirect=True)
def test_data_facts_of_an_imported_log(store_factory: Any) -> None:
    store = store_factory.open(store_factory.location())
    import_events(store, "exports/log.csv", text=LOG)
    sources = read_import_sources(store.get_meta(IMPORT_SOURCES_KEY))
    assert sources == (ImportSource("log.csv", 4, 2),)  # the file name, not its folder
    found = data_facts(store.connection, sources)
    store.close()
    assert found == DataFacts(
        cases=2,
        first_event="2026-01-05T09:00:00.000000+00:00",
        newest_event="2026-03-10T16:30:00.000000+00:00",
        states=("Adjust receipt", "Check receipt", "referral"),
        triggers=("imported", "refer_via_hub"),
        native_pathways=(),
        imported=True,
        import_sources=(ImportSource("log.csv", 4, 2),),
    )
    assert data_title(found, BARNET) == (
        "Event log imported from log.csv: 2 cases, 2026-01-05 to 2026-03-10"
    )
    # Its referral is a Table 15 state: activity is shown; the first appointment is not.
    assert rests_on(found, activity_basis(load_plan()), BARNET)
    assert not rests_on(found, first_appointment_basis("choice_appointment"), BARNET)


def test_each_import_is_recorded_and_a_rejected_one_is_not(tmp_path: Path) -> None:
    store = pathway.open_store(tmp_path / "s.db")
    import_events(store, "one.csv", text="case_id,occurred_at,state,team\nA,2026-01-01,x,t\n")
    with pytest.raises(pathway.DefinitionError):
        import_events(store, "bad.csv", text="case_id,occurred_at,state,team\nB,never,x,t\n")
    import_events(store, "two.csv", text="case_id,occurred_at,state,team\nB,2026-01-02,x,t\n")
    recorded = read_import_sources(store.get_meta(IMPORT_SOURCES_KEY))
    assert recorded == (ImportSource("one.csv", 1, 1), ImportSource("two.csv", 1, 1))
    title = data_title(data_facts(store.connection, recorded), None)
    assert title == "Event log imported from one.csv, two.csv: 2 cases, 2026-01-01 to 2026-01-02"
    store.close()
    assert read_import_sources("not json") == () and read_import_sources(None) == ()


def test_the_title_of_the_engines_own_cases_is_the_pathways(tmp_path: Path) -> None:
    store, _latest = play_samples(tmp_path / "samples.db")
    found = data_facts(store.connection)
    assert found.native_pathways == (BARNET.id,) and found.imported is False
    assert data_title(found, BARNET) == BARNET.title
    import_events(store, "old.csv", text="case_id,occurred_at,state,team\nOLD-1,2019-05-01,x,t\n")
    recorded = read_import_sources(store.get_meta(IMPORT_SOURCES_KEY))
    mixed = data_facts(store.connection, recorded)
    assert data_title(mixed, BARNET) == f"{BARNET.title}, with history imported from old.csv"
    assert mixed.first_event == "2019-05-01T00:00:00.000000+00:00"
    store.close()
    assert data_title(facts(imported=False, states=frozenset()), None) == (
        "Pathway: none recorded in the store"
    )
    assert data_title(facts(), None) == (
        "Event log imported from another system (source not recorded): 2 cases, "
        "2026-01-05 to 2026-03-10"
    )


def test_the_months_end_with_the_newest_events_month(tmp_path: Path) -> None:
    store = pathway.open_store(tmp_path / "s.db")
    import_events(store, "log.csv", text=LOG)
    report = monthly_report(store.connection, Scope(as_of=at("2026-11-15")))
    found = data_facts(store.connection)
    store.close()
    assert report.months[0].month == "2026-01"
    assert len(report.months) == 11  # January to November: the report lists every month
    assert [m.month for m in months_of_data(report.months, found)] == [
        "2026-01",
        "2026-02",
        "2026-03",
    ]
    assert months_of_data(report.months, facts(newest_event=None)) == report.months


# --- the real municipal log ------------------------------------------------------------------------


def _receipt_truth() -> tuple[int, str, str]:
    """Cases, first and newest event instants (UTC) of receipt.csv, read with the csv module."""
    cases: set[str] = set()
    instants: list[datetime] = []
    with RECEIPT.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            cases.add(row["case:concept:name"])
            instants.append(datetime.fromisoformat(row["time:timestamp"]).astimezone(UTC))
    return len(cases), min(instants).isoformat(), max(instants).isoformat(timespec="microseconds")


@pytest.fixture(scope="module")
def receipt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """receipt.csv imported as its README says, into a store initialised with the Barnet pathway
    (as `pathway init` leaves it): the page must not claim Barnet figures of it."""
    if not RECEIPT.exists():
        pytest.skip("receipt.csv not found: set PATHWAY_RECEIPT_CSV or put it in shared/data/")
    folder = tmp_path_factory.mktemp("receipt")
    store = pathway.open_store(folder / "pathway.db")
    store.set_meta("pathway", "barnet-enablement")
    import_events(store, RECEIPT, pathway=BARNET, mapping=RECEIPT_MAP, drop=RECEIPT_DROP)
    yield folder, store
    store.close()


def test_the_real_log_on_the_dashboard(receipt: tuple[Path, Any]) -> None:
    pytest.importorskip("plotly", reason="the dashboard extra is not installed")
    from pathway.dashboard import dashboard_data, render_dashboard

    cases, first, newest = _receipt_truth()
    assert (cases, first[:10], newest[:10]) == (1434, "2010-10-02", "2012-01-23")
    _folder, store = receipt
    today = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)  # the day the issue was filed
    board = dashboard_data(store, Scope(as_of=today), BARNET, verify=False)

    # 1. The notice, with the exact --as-of: the newest event.
    assert board.stale is not None and board.stale.newest_event == newest
    assert board.stale.as_of_option == f"--as-of {newest}"
    # 2. No figure resting on the pathway's states: the log has none of them.
    assert set(board.hidden) == {
        "first_appointment", "over_time_limit", "reviews_overdue", "offers", "activity",
    }  # fmt: skip
    figures = {f.key: f for f in board.headline()}
    for key in ("median_wait_days", "over_time_limit", "reviews_overdue", "open_offers"):
        assert (figures[key].value, figures[key].text) == (None, "n/a"), key
        assert figures[key].note.startswith("no event in the data entered"), key
    # The page used to claim 1,434 overdue reviews; reviews are now owed per open placement, and
    # this log records none, so the waits report itself claims none either.
    assert len(board.waits.reviews_overdue) == 0
    # 3. The title: the source, the cases, the dates.
    assert board.data_title() == (
        f"Event log imported from receipt.csv: 1,434 cases, {first[:10]} to {newest[:10]}"
    )
    # 4. The months: from the first event's month to the newest's, 2010-10 to 2012-01.
    months = [m.month for m in board.chart_months()]
    assert months[0] == first[:7] and months[-1] == newest[:7] and len(months) == 16
    assert sum(m.handoffs for m in board.chart_months()) == board.handoffs.handoffs

    page = render_dashboard(board)
    assert 'id="stale-notice"' in page and f'data-value="{newest}"' in page
    assert f"pathway dashboard --as-of {newest} --out FILE.html" in page
    assert "Reviews overdue (" not in page and "Still waiting for a first" not in page
    assert "Care Act s27" not in page  # the claim of reviews is gone
    assert "Barnet Enablement Pathway (mental health" not in page.split("</header>")[0]
    assert "the 179 months from then to as-of have no events" in page  # 2012-02 to 2026-12

    # As of the newest event: no notice; the months are the same sixteen.
    then = dashboard_data(store, Scope(as_of=datetime.fromisoformat(newest)), BARNET, verify=False)
    assert then.stale is None and len(then.chart_months()) == len(then.monthly.months) == 16
    assert 'id="stale-notice"' not in render_dashboard(then)


def test_the_real_log_in_pathway_report(receipt: tuple[Path, Any]) -> None:
    """The notice goes to stderr for every format; JSON on stdout stays valid."""
    folder, _store = receipt
    _cases, _first, newest = _receipt_truth()
    env = {k: v for k, v in os.environ.items() if k != "PATHWAY_DB"}

    def report(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pathway", "report", *args, "--db", str(folder / "pathway.db")],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    for fmt in ("json", "table", "csv", "markdown"):
        done = report("waits", "--as-of", "2026-12-07", "--format", fmt)
        assert done.returncode == 0, done.stderr
        assert done.stderr.startswith("notice: The newest event in this store is from 2012-01-23")
        assert f"use: pathway report waits --as-of {newest}" in done.stderr
        assert "notice" not in done.stdout
        if fmt == "json":
            assert json.loads(done.stdout)["report"] == "waits"
    streamed = report("handoffs", "--as-of", "2026-12-07", "--format", "json")
    assert streamed.returncode == 0 and json.loads(streamed.stdout)["cases"] == 1434
    assert "pathway report handoffs --as-of" in streamed.stderr
    current = report("holding", "--as-of", newest, "--format", "json")
    assert current.returncode == 0 and current.stderr == ""


def test_the_sample_cases_show_every_figure_and_no_notice(tmp_path: Path) -> None:
    """The engine's own cases on the pathway: nothing hidden, titled by the pathway, no notice
    at the demo's as-of; a year later the notice appears, and the figures stay."""
    pytest.importorskip("plotly", reason="the dashboard extra is not installed")
    from pathway.dashboard import dashboard_data

    store, latest = play_samples(tmp_path / "samples.db")
    board = dashboard_data(store, Scope(as_of=latest), BARNET, verify=False)
    assert board.hidden == {} and board.stale is None
    assert board.data_title() == BARNET.title
    assert board.chart_months() == board.monthly.months
    later = dashboard_data(store, Scope(as_of=latest + timedelta(days=365)), BARNET, verify=False)
    store.close()
    assert later.hidden == {} and later.stale is not None
    assert later.stale.newest_event == latest.astimezone(UTC).isoformat(timespec="microseconds")
    assert len(later.chart_months()) < len(later.monthly.months)
