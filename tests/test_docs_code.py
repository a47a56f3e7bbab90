"""Every Python code block of the README and of the documentation pages runs as written,
on its own (issue 17).

Each ```` ```python ```` block of ``README.md`` and ``docs/**/*.md`` is run in a fresh
namespace, with nothing defined by another block. A block that needs more than one
process says so in an HTML comment on the line before it, and is run that way:

- ``<!-- docs-test: torchrun ... -->``: saved as a file and run with
  ``torchrun --standalone --nproc_per_node=2`` (two gloo processes);
- ``<!-- docs-test: script ... -->``: saved as a file and run with ``python file.py``
  (Lightning's DDP starts the other process by running the script again);
- ``<!-- docs-test: skip (reason) -->``: not run; the reason is required.

The notebooks are not here: the test suite runs them through nbmake.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import torchmath

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!--\s*docs-test:\s*(\w+)(.*?)-->")


def pages() -> list[Path]:
    docs = [p for p in sorted((ROOT / "docs").rglob("*.md"))
            if not {"_build", "_intersphinx", "notebooks"} & set(p.relative_to(ROOT).parts)]
    return [ROOT / "README.md", *docs]


def blocks() -> list[tuple[str, str, str, str]]:
    """``(id, mode, reason, code)`` for every python block; a block repeated verbatim on
    another page (the README's quick start in Getting started) is run once."""
    out, seen = [], set()
    for path in pages():
        text = path.read_text()
        for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
            line = text.count("\n", 0, m.start()) + 1
            before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            marker = MARKER.search(before)
            mode, reason = (marker.group(1), marker.group(2).strip()) if marker else ("run", "")
            if m.group(1) in seen:
                continue
            seen.add(m.group(1))
            out.append((f"{path.relative_to(ROOT)}:{line}", mode, reason, m.group(1)))
    return out


BLOCKS = blocks()


def test_the_pages_have_code_blocks_and_every_marker_is_known():
    assert len(BLOCKS) >= 20
    modes = {mode for _, mode, _, _ in BLOCKS}
    assert modes <= {"run", "torchrun", "script", "skip"}, modes
    for ident, mode, reason, _ in BLOCKS:
        if mode == "skip":
            assert re.fullmatch(r"\(.{10,}\)", reason), f"{ident}: a skip needs a (reason)"
    # the marker must sit on the line right before the block it describes
    for path in pages():
        text = path.read_text()
        for m in MARKER.finditer(text):
            after = text[m.end():].lstrip(" ")
            assert after.startswith("\n```python\n"), f"{path.name}: marker not before a block"


@pytest.mark.parametrize("ident,code", [(i, c) for i, mode, _, c in BLOCKS if mode == "run"],
                         ids=[i for i, mode, _, _ in BLOCKS if mode == "run"])
def test_block_runs_on_its_own(ident, code, capsys):
    validate = torchmath.get_validate_args()
    try:
        exec(compile(code, ident, "exec"), {"__name__": "__docs__"})
    finally:
        torchmath.set_validate_args(validate)
    assert capsys.readouterr().out.strip(), f"{ident} printed nothing"  # every block shows a result


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.setdefault("PL_DISABLE_FORK", "1")
    env["PYTHONWARNINGS"] = "ignore"  # the blocks' output is checked, not third-party notices
    return env


MULTI = [(i, mode, c) for i, mode, _, c in BLOCKS if mode in ("torchrun", "script")]


@pytest.mark.parametrize("ident,mode,code", MULTI, ids=[i for i, _, _ in MULTI])
def test_multiprocess_block_runs_as_the_page_says(ident, mode, code, tmp_path):
    script = tmp_path / "block.py"
    script.write_text(code)
    if mode == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", str(script)]
    else:
        cmd = [sys.executable, str(script)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "tensor(" in proc.stdout, proc.stdout[-3000:]  # rank 0 printed the fitted model
