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

Files pathway reads (definitions, sample cases, activity plans, unit costs, checkpoints) may be
at most 2 MB and may not use YAML aliases; set `$PATHWAY_MAX_FILE_BYTES` to allow larger files
(docs/definitions.md, "Limits on files").

Values you type: a DATETIME is ISO 8601 from 1900-01-01T00:00:00Z to 2999-12-31T23:59:59.999999Z
(after converting its offset to UTC; anything else is refused as a typing error). Counts (`--top`,
`--threshold`, `--expected-version`) are the digits 0-9 only. An AMOUNT is pounds in the digits 0-9
with at most two decimals, an optional leading `£` and commas only between groups of three
(`11,500,000.00`; `1,2,3` is refused). Read commands (`report`, `dashboard`, `audit`, `case
show|history|triggers|fire`, `migrate --from`) never create a store: an empty file or another
program's database is refused with "not a care-pathway store", and left as it was.
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
