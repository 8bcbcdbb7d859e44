"""Plug-ins from the command line (issue 18 item 4), with a plug-in installed by pip.

``plugins/network_plus`` is pip-installed (``--target``) into a folder put on PYTHONPATH, so it is
found through its entry point ``network_plus`` exactly as a council's installed plug-in is. The
report's figures are checked against its sample case, worked by hand from the script: one
programme completed with 5 outcomes planned and 4 achieved (80.0%), one module of each of the
three kinds, one top-up started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "plugins" / "network_plus"
SAMPLE = PLUGIN / "samples" / "network_plus-sample.yaml"
SHIPPED = ROOT / "pathway" / "definitions" / "barnet-enablement.yaml"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the network_plus plug-in pip-installed into it (entry point and all)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    # A copy to build from, so the checkout gets no build/ or egg-info folders.
    subprocess.run(["cp", "-r", str(PLUGIN), str(build)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(build / PLUGIN.name)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert list(target.glob("care_pathway_network_plus-*.dist-info"))
    return target


def pathway_cmd(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("PATHWAY_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_init_with_an_installed_plugin_records_it_for_every_later_command(
    site: Path, tmp_path: Path
) -> None:
    """init --plugin: the store runs the shipped pathway with the plug-in, without a copy of it."""
    done = pathway_cmd(site, tmp_path, "init", "--plugin", "network_plus")
    assert done.returncode == 0, done.stderr
    assert "pathway barnet_enablement version 1+network_plus-0.1.0" in done.stdout
    assert "with plug-ins network_plus" in done.stdout
    # A case opened later runs on the pathway with the plug-in: its events say so.
    opened = pathway_cmd(site, tmp_path, "case", "open", "C1", "--actor", "w1", "--team", "hub")
    assert opened.returncode == 0, opened.stderr
    history = pathway_cmd(site, tmp_path, "case", "history", "C1", "--format", "json")
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)[0]["pathway_version"] == "1+network_plus-0.1.0"
    # Its report runs on the store, on the sample case walked into it.
    walked = pathway_cmd(site, tmp_path, "walk", str(SAMPLE), "--no-pause", "--db", "pathway.db")
    assert walked.returncode == 0, walked.stderr
    report = pathway_cmd(
        site, tmp_path, "report", "network_outcomes", "--as-of", "2026-08-01", "--format", "json"
    )
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert (data["report"], data["programmes_completed"]) == ("network_outcomes", 1)
    assert (data["outcomes_planned"], data["outcomes_achieved"], data["percent_achieved"]) == (
        5, 4, 80.0,
    )  # fmt: skip
    assert {m["module"]: m["completed"] for m in data["modules"]} == {
        "wrap": 1, "new_steps": 1, "skills_in_action": 1,
    }  # fmt: skip
    assert data["top_ups_started"] == 1


def test_a_plugin_that_is_not_installed_creates_nothing(site: Path, tmp_path: Path) -> None:
    done = pathway_cmd(site, tmp_path, "init", "--db", "new.db", "--plugin", "not_installed")
    assert done.returncode == 2
    assert "plug-in 'not_installed' is not installed (installed: network_plus)" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "new.db").exists()


def test_plugins_list_shows_reports_and_takes_a_pathway(site: Path, tmp_path: Path) -> None:
    """plugins list: each plug-in's reports; with --pathway (and --plugin), which it uses."""
    plain = pathway_cmd(site, tmp_path, "plugins", "list", "--format", "json")
    assert plain.returncode == 0, plain.stderr
    (row,) = [r for r in json.loads(plain.stdout) if r["plugin"] == "network_plus"]
    assert row["reports"] == "network_outcomes" and row["version"] == "0.1.0"
    assert "used" not in row
    for extra, used in (((), "no"), (("--plugin", "network_plus"), "yes")):
        listed = pathway_cmd(
            site, tmp_path, "plugins", "list", "--pathway", "barnet-enablement", *extra,
            "--format", "json",
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        (row,) = [r for r in json.loads(listed.stdout) if r["plugin"] == "network_plus"]
        assert row["used"] == used
        assert row["reports"] == "network_outcomes"
        assert "guards" in row["adds"] and "FAILS" not in row["adds"]
    # A pathway the plug-in adds nothing to (its fragment is for barnet_enablement only).
    minimal = pathway_cmd(
        site, tmp_path, "plugins", "list", "--pathway", str(ROOT / "docs/examples/minimal.yaml"),
        "--format", "json",
    )  # fmt: skip
    assert minimal.returncode == 0, minimal.stderr
    (row,) = [r for r in json.loads(minimal.stdout) if r["plugin"] == "network_plus"]
    assert row["adds"].startswith("guards") and "transitions" not in row["adds"]


def test_report_help_lists_the_installed_plugins_report(site: Path, tmp_path: Path) -> None:
    listing = pathway_cmd(site, tmp_path, "report", "--help")
    assert listing.returncode == 0, listing.stderr
    text = " ".join(listing.stdout.split())
    assert "network_outcomes Support plan outcomes achieved" in text
    assert "(plug-in network_plus)" in text
    own = pathway_cmd(site, tmp_path, "report", "network_outcomes", "--help")
    assert own.returncode == 0, own.stderr
    assert "The network_outcomes report (added by plug-in network_plus)" in own.stdout


def test_a_plugin_report_needs_the_plugin_in_the_pathway(site: Path, tmp_path: Path) -> None:
    """On a store without the plug-in its report is refused, saying how to add it; --plugin does."""
    assert pathway_cmd(site, tmp_path, "init", "--db", "plain.db").returncode == 0
    refused = pathway_cmd(site, tmp_path, "report", "network_outcomes", "--db", "plain.db")
    assert refused.returncode == 2
    assert "added by plug-in 'network_plus', which the store's pathway does not use" in (
        refused.stderr
    )
    assert "add --plugin network_plus" in refused.stderr
    added = pathway_cmd(
        site, tmp_path, "report", "network_outcomes", "--db", "plain.db", "--plugin",
        "network_plus", "--format", "json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["programmes_completed"] == 0


def test_validate_and_diagram_take_plugins(site: Path, tmp_path: Path) -> None:
    checked = pathway_cmd(site, tmp_path, "validate", str(SHIPPED), "--plugin", "network_plus")
    assert checked.returncode == 0, checked.stderr
    assert "version 1+network_plus-0.1.0" in checked.stdout
    without = pathway_cmd(site, tmp_path, "diagram")
    drawn = pathway_cmd(site, tmp_path, "diagram", "--plugin", "network_plus")
    assert without.returncode == drawn.returncode == 0
    assert "complete_module" in drawn.stdout and "complete_module" not in without.stdout
