"""Sphinx configuration of the freqforensics documentation."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "freqforensics"
author = "freqforensics developers"
copyright = "2026, freqforensics developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
]
# intersphinx is left out on purpose: it needs the network to fetch inventories.

autosummary_generate = True
autodoc_default_options = {"show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports: list[str] = []
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
nitpicky = False
suppress_warnings = ["autosummary.import_cycle"]

html_theme = "furo"
html_title = "freqforensics"
html_static_path = ["_static"]
templates_path = ["_templates"]
exclude_patterns = ["_build"]
doctest_test_doctest_blocks = ""  # docstring examples run under pytest --doctest-modules
