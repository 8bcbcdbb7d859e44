"""`pathway token ...` and `pathway serve`, run as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from server_helpers import free_port

from pathway.store import open_store


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PATHWAY_DB"}
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    done = run("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


def test_tokens_are_created_listed_without_secrets_and_revoked(store_dir: Path) -> None:
    made = run(
        "token", "create", "--worker", "w-amhp-1", "--team", "amhp", "--role", "amhp",
        "--label", "RiO bridge", "--by", "admin-1", "--format", "json", cwd=store_dir,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    record = json.loads(made.stdout)
    assert record["token"].startswith("cpt_") and record["roles"] == ["amhp"]
    listed = run("token", "list", "--format", "json", cwd=store_dir)
    (row,) = json.loads(listed.stdout)
    assert row["id"] == record["id"] and "token" not in row and "digest" not in row
    with open_store(store_dir / "pathway.db", create=False) as store:
        stored = store.connection.execute("SELECT digest FROM api_tokens").fetchone()[0]
    secret = record["token"].rsplit("_", 1)[1]
    assert secret not in stored and record["token"] not in stored
    revoked = run("token", "revoke", record["id"], "--by", "admin-2", cwd=store_dir)
    assert revoked.returncode == 0 and record["id"] in revoked.stdout
    (after,) = json.loads(run("token", "list", "--format", "json", cwd=store_dir).stdout)
    assert after["revoked_by"] == "admin-2" and after["revoked_at"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("create", "--worker", "w", "--team", "nowhere", "--by", "a"),
            "not a team of the pathway",
        ),
        (("create", "--worker", "w x", "--team", "hub", "--by", "a"), "worker 'w x'"),
        (("revoke", "0123456789ab", "--by", "a"), "no API token"),
    ],
)
def test_bad_token_commands_exit_2_with_one_line(
    store_dir: Path, args: tuple[str, ...], message: str
) -> None:
    done = run("token", *args, cwd=store_dir)
    assert done.returncode == 2 and message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_serve_refuses_a_missing_store_in_one_line(tmp_path: Path) -> None:
    done = run("serve", "--db", str(tmp_path / "none.db"), cwd=tmp_path)
    assert done.returncode == 2 and "no such store" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_serve_with_two_workers_answers_over_http(store_dir: Path) -> None:
    made = run(
        "token", "create", "--worker", "w-hub-1", "--team", "hub", "--by", "admin",
        "--format", "json", cwd=store_dir,
    )  # fmt: skip
    token = json.loads(made.stdout)["token"]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pathway", "serve", "--port", str(port), "--workers", "2"],
        cwd=store_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "server did not start"
            time.sleep(0.2)
        auth = {"Authorization": f"Bearer {token}"}
        for n in range(6):
            opened = httpx.post(f"{base}/cases", json={"id": f"S{n}"}, headers=auth, timeout=30)
            assert opened.status_code == 201, opened.text
        listed = httpx.get(f"{base}/cases", headers=auth, timeout=30).json()
        assert [c["id"] for c in listed["cases"]] == [f"S{n}" for n in range(6)]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert "POST /cases 201" in output and "worker=w-hub-1" in output
    with open_store(store_dir / "pathway.db", create=False) as store:
        assert store.verify().ok
