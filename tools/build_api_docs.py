"""Build the API reference (docs/api, Sphinx autodoc) with every warning an error.

    python tools/build_api_docs.py [OUTPUT_DIR]

Needs the ``docs`` extra (``pip install -e '.[docs]'``). The HTML goes to OUTPUT_DIR (default
``docs/api/_build/html``). Exit code 0 when the reference built without a warning; CI runs it
through ``tests/test_api_docs.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "docs" / "api"


def build(output: Path) -> int:
    """Build the HTML reference into ``output``; Sphinx's exit code (0: no warning)."""
    from sphinx.cmd.build import build_main

    return build_main(["-W", "--keep-going", "-E", "-q", "-b", "html", str(SOURCE), str(output)])


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE / "_build" / "html"
    sys.exit(build(out))
