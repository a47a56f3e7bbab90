"""Every public name has a page in the API reference (issue 17).

The public names are the ``__all__`` of ``torchmath`` and of every public submodule
(``probability``, ``linalg``, ``optim``, ``information``, ``learning_theory``,
``callbacks``, ``metrics``, ``lightning``, ``distributed``, and any added later). The API
pages (``docs/api/<module>.rst``) list them in ``autosummary`` blocks, from which Sphinx
generates one page per name; CI's ``sphinx-build -W`` then fails on any name that does
not import or whose docstring does not render. A full build takes longer than a unit
test should (about a minute on 2 cores), so these tests check the lists the build reads
(a new public name that is not in them fails here, with the line to add) and, where the
docs have been built (CI runs the docs command before pytest), the rendered pages.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import torchmath

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"


def public_modules() -> list[str]:
    """``torchmath`` and each of its public submodules and subpackages."""
    names = ["torchmath"]
    for info in pkgutil.iter_modules(torchmath.__path__):
        if not info.name.startswith("_"):
            names.append(f"torchmath.{info.name}")
    return names


def public_names(module: str) -> list[str]:
    """The documented names of ``module``: its ``__all__`` less submodules and the version."""
    mod = importlib.import_module(module)
    assert hasattr(mod, "__all__"), f"{module} has no __all__"
    return [n for n in mod.__all__
            if n != "__version__" and not inspect.ismodule(getattr(mod, n))]


def page(module: str) -> Path:
    return API / ("torchmath.rst" if module == "torchmath" else f"{module.split('.')[-1]}.rst")


def autosummary_entries(text: str) -> list[str]:
    """The names listed in the ``autosummary`` blocks of an rst page."""
    names = []
    for block in re.findall(r"\.\. autosummary::\n((?:[ \t]+.*\n|\n)+)", text):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith(":"):
                names.append(line.lstrip("~"))
    return names


def home_module(module: str, name: str) -> str | None:
    """The public module whose page documents ``module.name``: itself, unless the object
    is defined in another torchmath area (a re-export) or outside torchmath."""
    obj = getattr(importlib.import_module(module), name)
    defined = getattr(obj, "__module__", None) if (inspect.isclass(obj) or
                                                  inspect.isfunction(obj)) else None
    if defined is None or defined == module or defined.startswith(module + "."):
        return module
    if defined.startswith("torchmath."):
        return ".".join(defined.split(".")[:2])
    return None  # a third-party object (torchmetrics' KLDivergence), linked to its docs


@pytest.mark.parametrize("module", public_modules())
def test_every_public_name_is_on_its_module_page(module):
    path = page(module)
    assert path.exists(), (f"{module} is public but has no API page: add {path.relative_to(ROOT)}"
                           f" and list it in docs/api/index.rst")
    text = path.read_text()
    listed = autosummary_entries(text)
    missing = []
    for name in public_names(module):
        home = home_module(module, name)
        if home == module:
            if name not in listed:
                missing.append(f"{name}  (add it to an autosummary block of {path.name})")
        elif f"``{module}.{name}``" not in text:
            missing.append(f"{name}  (a re-export: add it to 'Also importable from here')")
    assert not missing, f"{module}: public names without an API entry:\n" + "\n".join(missing)


@pytest.mark.parametrize("module", public_modules())
def test_api_pages_list_only_public_names_once(module):
    listed = autosummary_entries(page(module).read_text())
    public = set(public_names(module))
    stale = [n for n in listed if n not in public]
    assert not stale, f"{page(module).name} lists names that {module} does not export: {stale}"
    assert len(listed) == len(set(listed)), f"{page(module).name} lists a name twice"


def test_reexports_point_at_a_documented_home():
    for module in public_modules():
        for name in public_names(module):
            home = home_module(module, name)
            if home not in (module, None):
                assert name in autosummary_entries(page(home).read_text()), (module, name, home)


def test_every_api_page_is_in_the_api_toctree():
    index = (API / "index.rst").read_text()
    entries = set(re.findall(r"^   (\S+)$", index, flags=re.M))
    for module in public_modules():
        assert page(module).stem in entries, f"docs/api/index.rst: add {page(module).stem}"


def test_autosummary_generates_a_page_per_name_with_the_class_template():
    from_conf = (ROOT / "docs" / "conf.py").read_text()
    assert "autosummary_generate = True" in from_conf
    assert '"Shape"' in from_conf  # the custom napoleon section
    template = ROOT / "docs" / "_templates" / "autosummary" / "class.rst"
    assert ":members:" in template.read_text()
    for module in public_modules():
        for block in re.findall(r"\.\. autosummary::\n((?:[ \t]+:.*\n)+)",
                                page(module).read_text()):
            assert ":toctree: generated" in block, page(module).name


BUILT = ROOT / "docs" / "_build" / "html" / "api"


@pytest.mark.skipif(not (BUILT / "generated").is_dir(),
                    reason="the docs are not built here (CI builds them before the tests)")
def test_the_built_api_pages_document_every_public_name():
    """In CI the docs command runs before pytest: every public name has its rendered page
    with the object's anchor, and every re-export is named on its module's page."""
    missing = []
    for module in public_modules():
        for name in public_names(module):
            home = home_module(module, name)
            if home == module:
                html = BUILT / "generated" / f"{module}.{name}.html"
                if not html.exists() or f'id="{module}.{name}"' not in html.read_text():
                    missing.append(f"{module}.{name}")
            elif f"{module}.{name}" not in (BUILT / f"{page(module).stem}.html").read_text():
                missing.append(f"{module}.{name} (re-export)")
    assert not missing, "rebuild the docs; not in the built API pages: " + ", ".join(missing)
