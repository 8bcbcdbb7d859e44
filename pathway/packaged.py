"""Find data folders shipped with the package (schemas, sample cases).

In the wheel they are the packages ``pathway.schemas`` and ``pathway.sample_cases`` (mapped from
the repository's top-level ``schemas/`` and ``sample_cases/``, the single sources of truth). In a
source checkout that was not installed, the top-level folders are read directly.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

_TREE_ROOT = Path(__file__).resolve().parent.parent


def data_folder(name: str) -> Traversable:
    """The shipped folder ``name`` (``"schemas"`` or ``"sample_cases"``)."""
    try:
        return resources.files(f"pathway.{name}")
    except ModuleNotFoundError:
        return _TREE_ROOT / name
