"""Regenerate docs/cli.md from the commands' own --help text: `python tools/gen_cli_docs.py`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pathway.cli import _all_commands, cli

HEADER = """# The `pathway` command

Generated from each command's `--help` by `python tools/gen_cli_docs.py`; the help text is the
source of truth. `--db` defaults to `$PATHWAY_DB`, else `./pathway.db`.

Exit codes: 0 done; 1 a refused transition, a failed verification or a definition with
problems; 2 bad input (one message on stderr, nothing written); 3 a concurrency conflict; 4 the
store was busy: another process held its write lock for the whole busy wait (nothing written; try
again; the wait is `$PATHWAY_BUSY_TIMEOUT` seconds, default 30, from 0 to 3600); 5 the store
could not be written or read: read-only file, folder or role, full disk, I/O error, lost server
(nothing written). Every store failure is one line on stderr, never a traceback.
"""


def main() -> None:
    parts = [HEADER]
    runner = CliRunner()
    for name in ["", *sorted(_all_commands())]:
        args = [*name.split(), "--help"] if name else ["--help"]
        text = runner.invoke(cli, args, prog_name="pathway", terminal_width=100).output
        parts.append(f"## `pathway {name}`" if name else "## `pathway`")
        parts.append("```text\n" + text.rstrip() + "\n```\n")
    (Path(__file__).resolve().parent.parent / "docs" / "cli.md").write_text("\n".join(parts))


if __name__ == "__main__":
    main()
