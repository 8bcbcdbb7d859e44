"""Refresh the Mermaid diagram in docs/pathway.md from the shipped default pathway.

Run `python tools/gen_pathway_diagram.py` after changing the definition; a test checks they agree.
"""

from __future__ import annotations

import re
from pathlib import Path

import pathway
from pathway.diagram import mermaid

DOC = Path(__file__).resolve().parent.parent / "docs" / "pathway.md"


def main() -> None:
    text = DOC.read_text(encoding="utf-8")
    diagram = mermaid(pathway.load_pathway("barnet-enablement"))
    updated, count = re.subn(
        r"```mermaid\n.*?```", lambda _: "```mermaid\n" + diagram + "```", text, count=1, flags=re.S
    )
    if count != 1:
        raise SystemExit("docs/pathway.md has no ```mermaid block")
    DOC.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    main()
