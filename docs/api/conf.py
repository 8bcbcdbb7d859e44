"""Sphinx configuration of the API reference: autodoc reads the docstrings, napoleon their
Google-style sections. Build it with ``python tools/build_api_docs.py`` (warnings are errors)."""

from __future__ import annotations

import pathway

project = "care-pathway"
author = "care-pathway contributors"
copyright = "care-pathway contributors"
release = pathway.__version__
version = release

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "description"
autodoc_class_signature = "separated"
autodoc_inherit_docstrings = True
# The library's annotations are strings (PEP 563); names only imported under TYPE_CHECKING
# cannot be resolved at build time, and are shown as written rather than failing the build.
autodoc_type_aliases: dict[str, str] = {}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
nitpicky = False
html_theme = "alabaster"
html_title = f"care-pathway {release} API reference"
exclude_patterns = ["_build"]
suppress_warnings: list[str] = []
