"""The documentation pages that other tools write into or read (issue 17)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from benchmarks.__main__ import PERFORMANCE_PAGE
from benchmarks.report import README_BEGIN, README_END, update_readme

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_benchmark_table_lives_between_the_markers_of_the_performance_page():
    page = ROOT / PERFORMANCE_PAGE
    text = page.read_text()
    assert text.count(README_BEGIN) == 1 and text.count(README_END) == 1
    table = text[text.index(README_BEGIN):text.index(README_END)]
    assert "| workload |" in table  # the table of a real run is on the page
    # the README links to it and keeps no second copy that could drift
    readme = (ROOT / "README.md").read_text()
    assert README_BEGIN not in readme and "docs/performance.md" in readme


def test_update_readme_rewrites_only_the_table_of_the_performance_page(tmp_path):
    page = tmp_path / "performance.md"
    original = (ROOT / PERFORMANCE_PAGE).read_text()
    page.write_text(original)
    update_readme(page, "| workload | ratio |\n|---|---|\n| x | 0.5x |\n", "Produced today.")
    new = page.read_text()
    before, after = original.split(README_BEGIN)[0], original.split(README_END)[1]
    assert new.startswith(before + README_BEGIN + "\nProduced today.\n\n| workload | ratio |")
    assert new.endswith(README_END + after)


def test_the_course_page_lists_every_notebook_and_they_carry_outputs():
    course = (DOCS / "course.md").read_text()
    listed = set(re.findall(r"^notebooks/(\S+)$", course, flags=re.M))
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert listed == {p.stem for p in notebooks}
    assert (DOCS / "notebooks").resolve() == (ROOT / "notebooks").resolve()
    for path in notebooks:  # rendered without execution: the outputs must be stored
        cells = json.loads(path.read_text())["cells"]
        assert any(c.get("outputs") for c in cells if c["cell_type"] == "code"), path.name


def test_the_build_never_executes_notebooks_and_ships_its_inventories():
    conf = (DOCS / "conf.py").read_text()
    assert 'nb_execution_mode = "off"' in conf
    for name in ("python", "numpy", "scipy", "sklearn"):
        inv = DOCS / "_intersphinx" / f"{name}.inv"
        assert inv.read_bytes().startswith(b"# Sphinx inventory version 2"), name
        assert f"`{name}.inv`" in (DOCS / "_intersphinx" / "README.md").read_text()
