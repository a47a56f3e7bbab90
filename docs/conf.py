"""Sphinx configuration of the torchmath documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (the README's third
command; CI runs it). The build never executes code: the notebooks are rendered with the
outputs stored in them, and the API pages come from the docstrings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the torchmath of this checkout

import torchmath  # noqa: E402

project = "torchmath"
author = "the torchmath authors"
copyright = "torchmath authors, MIT license"
release = version = torchmath.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "myst_nb",
]

exclude_patterns = ["_build", "_templates", "_intersphinx", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# -- API reference -----------------------------------------------------------------------
autosummary_generate = True
autosummary_generate_overwrite = True
autosummary_imported_members = False
autodoc_default_options = {"members": False}
autodoc_typehints = "description"  # the signature stays short; types go into Args
autodoc_typehints_description_target = "documented"
autodoc_member_order = "bysource"
autoclass_content = "class"  # the class docstring carries the math; __init__ has none
autodoc_inherit_docstrings = False  # nn.Module's and Optimizer's docstrings stay at torch
add_module_names = False
python_use_unqualified_type_names = True

# Google-style sections. "Shape" (the section torch.nn's modules use) is registered as a
# custom section: free text under its own heading, since shapes are often given jointly
# ("``x``, ``v``: ``(..., d)`` (broadcast); returns the broadcast shape").
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True
napoleon_custom_sections = ["Shape"]

# -- Notebooks: rendered with their stored outputs, never executed during the build ------
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# -- Links into the documentation of the libraries torchmath works with ------------------
# This machine (and CI) reach package registries only, so inventories cannot be downloaded
# during the build. The inventories that could be obtained from a package or a published
# documentation tree are shipped in docs/_intersphinx/ (docs/_intersphinx/README.md says
# where each comes from); the links they give point at each project's online docs. A
# project without a shipped inventory is linked only when TORCHMATH_DOCS_ONLINE=1 is set
# (the build then downloads its inventory); offline its names render as plain code, and
# the build stays free of warnings.
_INV = DOCS / "_intersphinx"
_PROJECTS = {
    "python": "https://docs.python.org/3/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "sklearn": "https://scikit-learn.org/stable/",
    "lightning": "https://lightning.ai/docs/pytorch/stable/",
    "torchmetrics": "https://lightning.ai/docs/torchmetrics/stable/",
}
_ONLINE = os.environ.get("TORCHMATH_DOCS_ONLINE") == "1"
intersphinx_mapping = {}
for _name, _url in _PROJECTS.items():
    _local = _INV / f"{_name}.inv"
    if _local.exists():
        intersphinx_mapping[_name] = (_url, str(_local))
    elif _ONLINE:
        intersphinx_mapping[_name] = (_url, None)
intersphinx_timeout = 10

# -- HTML --------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"torchmath {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": [], "changelog": []}
html_show_sourcelink = False


# -- Constants re-exported by a subpackage -----------------------------------------------
# autodoc reads a constant's ``#:`` comment from the module it is documented in; a
# subpackage re-exports constants defined in a submodule, so without this the page would
# show the docstring of ``tuple``. Take the comment from the submodule that defines it.
def _constant_doc(app, what, name, obj, options, lines):
    import importlib
    import pkgutil

    from sphinx.pycode import ModuleAnalyzer

    if what != "data":
        return
    type_doc = type(obj).__doc__
    if not isinstance(type_doc, str) or "\n".join(lines).strip()[:40] != type_doc.strip()[:40]:
        return
    package, _, attr = name.rpartition(".")
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(getattr(pkg, "__path__", [])):
        sub = f"{package}.{info.name}"
        docs = ModuleAnalyzer.for_module(sub).find_attr_docs()
        if ("", attr) in docs and getattr(importlib.import_module(sub), attr, None) is obj:
            lines[:] = list(docs[("", attr)])
            return


def setup(app):
    app.connect("autodoc-process-docstring", _constant_doc)
