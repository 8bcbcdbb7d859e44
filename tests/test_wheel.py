"""The built wheel carries everything: schemas, the default pathway and the sample cases.

The wheel is installed into a throw-away folder and run from outside the checkout, so nothing is
read from the source tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Build the wheel and install it (without dependencies: this interpreter has them)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("care_pathway-*.whl")
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("PATHWAY_DB", None)
    return wheel, env


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_wheel_contains_the_data_files(installed: tuple[Path, dict[str, str]]) -> None:
    """Schemas, shipped definitions, sample cases and py.typed are inside the wheel."""
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for schema in ("pathway", "audit_event", "case", "sample_case"):
        assert f"pathway/schemas/{schema}.schema.json" in names
    assert "pathway/py.typed" in names
    assert {
        "pathway/dashboard/dashboard.css",
        "pathway/dashboard/dashboard.js",
        "pathway/dashboard/templates/page.html",
        "pathway/dashboard/templates/macros.html",
    } <= set(names)
    assert any(n.startswith("pathway/definitions/") and n.endswith(".yaml") for n in names)


def test_installed_copy_validates_as_the_checkout_does(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Outside the checkout, the installed package validates and reports the same problems."""
    _, env = installed
    located = subprocess.run(
        [sys.executable, "-c", "import pathway; print(pathway.__file__)"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert not located.stdout.strip().startswith(str(ROOT))
    good = run(env, tmp_path, "validate", str(ROOT / "docs/examples/minimal.yaml"))
    assert good.returncode == 0, good.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (ROOT / "docs/examples/minimal.yaml").read_text().replace('version: "1"', "version: 1")
    )
    failed = run(env, tmp_path, "validate", str(bad))
    assert failed.returncode == 1
    assert "/version: 1 is not of type 'string'" in failed.stderr


def test_installed_copy_runs_cases_walk_and_demo(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """`pathway cases`, `walk` and `demo` work from the wheel alone."""
    _, env = installed
    cases = run(env, tmp_path, "cases")
    assert cases.returncode == 0, cases.stderr
    first = cases.stdout.splitlines()[2].split()[0]
    walked = run(env, tmp_path, "walk", first, "--no-pause")
    assert walked.returncode == 0, walked.stderr
    assert "Step 1 of" in walked.stdout
    demo = run(env, tmp_path, "demo")
    assert demo.returncode == 0, demo.stderr
    assert "Who held the cases" in demo.stdout
    assert f"Dashboard of these cases (open it in a web browser): {tmp_path}" in demo.stdout
