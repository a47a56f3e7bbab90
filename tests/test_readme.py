"""The README's three commands are what CI runs (issue: a README command that fails on a fresh
machine must not be able to land)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def _readme_commands() -> tuple[str, str]:
    blocks = _bash_blocks((ROOT / "README.md").read_text())
    main = [b for b in blocks if "python -m benchmarks" in b]
    test = [b for b in blocks if b.endswith("pytest")]
    assert len(main) == 1 and len(test) == 1, (main, test)
    return main[0], test[0]


def _ci_lines() -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def test_readme_main_command_is_the_one_ci_runs_at_smoke_size():
    main, _ = _readme_commands()
    assert main == 'pip install -e ".[bench]" && python -m benchmarks'
    smoke = f"{main} --size tiny"
    assert smoke in _ci_lines()
    # and the README tells the reader what CI runs
    assert "`python -m benchmarks --size tiny`" in (ROOT / "README.md").read_text()


def test_readme_test_command_is_the_one_ci_runs_verbatim_and_last():
    _, test = _readme_commands()
    assert test == 'pip install -e ".[test]" && pytest'
    assert _ci_lines()[-1] == test


def test_ci_installs_the_cpu_torch_before_any_extra():
    lines = _ci_lines()
    torch_line = lines.index("pip install --quiet torch==2.13.0")
    extras = [i for i, ln in enumerate(lines) if 'pip install -e "' in ln]
    assert extras and torch_line < min(extras)


def test_bench_extra_has_no_source_only_peer_and_has_proxsuite():
    cfg = (ROOT / "setup.cfg").read_text()
    bench = re.search(r"\nbench =\n((?:    .+\n)+)", cfg).group(1).split()
    assert "qpth" not in bench  # source-only release that no longer builds (README says so)
    assert "proxsuite" in bench


DOCS_COMMAND = ('pip install -e ".[docs]" && '
                'sphinx-build -W --keep-going -b html docs docs/_build/html')


def test_readme_docs_command_is_the_one_ci_runs_verbatim_before_the_tests():
    blocks = [b for b in _bash_blocks((ROOT / "README.md").read_text()) if "sphinx-build" in b]
    assert blocks == [DOCS_COMMAND]
    lines = _ci_lines()
    assert DOCS_COMMAND in lines
    # the docs build (with -W) runs before the test command, which stays last
    assert lines.index(DOCS_COMMAND) < len(lines) - 1


def test_docs_extra_has_sphinx_the_theme_and_the_notebook_reader():
    cfg = (ROOT / "setup.cfg").read_text()
    docs = re.search(r"\ndocs =\n((?:    .+\n)+)", cfg).group(1).split()
    names = {re.split(r"[<>=!~]", d)[0] for d in docs}
    assert {"sphinx", "pydata-sphinx-theme", "myst-nb"} <= names
