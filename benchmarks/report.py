"""Reports: the stdout table, JSON, Markdown, the ratio chart and scaling curves."""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from benchmarks.harness import Result

__all__ = ["environment", "markdown_table", "text_table", "write_reports"]

README_BEGIN = "<!-- benchmarks:begin -->"
README_END = "<!-- benchmarks:end -->"


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def _fmt(x: float | None, spec: str = ".3g") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _verdict(r: Result) -> str:
    if r.status != "ok":
        return r.status.upper() if r.status == "accuracy failure" else r.status
    if r.goal is None or r.ratio is None:
        return "ok"
    return f"goal <= {r.goal:g}: " + ("met" if r.goal_met else "NOT MET")


def _rows(results: Sequence[Result]) -> list[list[str]]:
    rows = []
    for r in results:
        ceiling = "-"
        if r.ceiling_fraction is not None:
            achieved = f"{r.gflops:.1f} GFLOP/s" if r.gflops is not None \
                else f"{r.gbytes_s:.1f} GB/s"
            ceiling = f"{achieved} ({100 * r.ceiling_fraction:.0f}%)"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        if r.ratio_low is not None:  # several rounds: the median and the range
            ratio += f" ({r.ratio_low:.2f}-{r.ratio_high:.2f})"
        rows.append([r.workload, r.case, r.device, _fmt_time(r.ours_s), r.peer,
                     _fmt_time(r.peer_s), ratio, _verdict(r), _fmt(r.gap, ".1e"), ceiling,
                     _fmt(r.peak_mb, ".0f") + ("" if r.peer_peak_mb is None
                                               else f" (peer {r.peer_peak_mb:.0f})")])
    return rows


HEADER = ["workload", "case", "device", "torchmath", "peer", "peer time", "ratio",
          "verdict", "accuracy gap", "achieved (of ceiling)", "peak MB"]


def text_table(results: Sequence[Result]) -> str:
    """A fixed-width table for stdout."""
    rows = [HEADER] + _rows(results)
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(results: Sequence[Result]) -> str:
    """A Markdown table of the same columns."""
    rows = [HEADER] + _rows(results)
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows[1:]]
    return "\n".join(out)


def environment(ceilings: dict[str, dict[str, float]], args: dict[str, Any]) -> dict[str, Any]:
    """Machine, versions and settings, recorded with every run."""
    versions = {"torch": torch.__version__}
    for name in ("numpy", "scipy", "sklearn", "qpth", "cvxpy", "torchmetrics",
                 "pytorch_lightning"):
        try:
            versions[name] = __import__(name).__version__
        except Exception:
            versions[name] = None
    env = {
        "machine": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "versions": versions,
        "ceilings": ceilings,
        "args": args,
    }
    return env


def _ratio_chart(results: Sequence[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in results if r.ratio is not None]
    fig, ax = plt.subplots(figsize=(9, 0.35 * max(4, len(shown)) + 1.2))
    if shown:
        labels = [f"{r.workload} [{r.case}] {r.device} vs {r.peer}" for r in shown]
        colors = ["tab:green" if r.goal_met else "tab:red" if r.goal_met is False
                  else "tab:blue" for r in shown]
        y = range(len(shown))
        ax.barh(list(y), [r.ratio for r in shown], color=colors)
        for i, r in enumerate(shown):
            if r.goal is not None:
                ax.plot([r.goal, r.goal], [i - 0.4, i + 0.4], color="black", lw=2)
        ax.set_yticks(list(y), labels, fontsize=7)
        ax.set_xscale("log")
        ax.axvline(1.0, color="grey", ls="--", lw=1)
        ax.invert_yaxis()
    ax.set_xlabel("time ratio torchmath / peer (lower is better; black tick = goal)")
    ax.set_title("torchmath against its peers")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _scaling_charts(results: Sequence[Result], scaling: dict[str, str], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, key in scaling.items():
        rows = [r for r in results if r.workload == name and key in r.params
                and r.ours_s is not None]
        if len({r.params[key] for r in rows}) < 2:
            continue
        fig, ax = plt.subplots(figsize=(6, 4.5))
        series: dict[str, dict[float, float]] = {}
        for r in rows:
            variant = " ".join(f"{k}={v}" for k, v in r.params.items() if k != key)
            series.setdefault(f"torchmath {r.device} {variant}".strip(), {})[
                r.params[key]] = r.ours_s
            if r.peer_s is not None:
                series.setdefault(f"{r.peer} {variant}".strip(), {})[r.params[key]] = r.peer_s
        for label, points in series.items():
            xs = sorted(points)
            ax.plot(xs, [points[x] for x in xs], marker="o", label=label,
                    ls="-" if label.startswith("torchmath") else "--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel("median time (s)")
        ax.set_title(f"{name}: time against {key}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / f"scaling_{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))
    return written


def write_reports(results: Sequence[Result], env: dict[str, Any], out: Path,
                  scaling: dict[str, str]) -> dict[str, str]:
    """Write ``results.json``, ``results.md``, ``ratios.png`` and scaling PNGs to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md",
             "chart": out / "ratios.png"}
    payload = {"environment": env, "results": [asdict(r) for r in results]}
    paths["json"].write_text(json.dumps(payload, indent=1, default=str))
    md = [f"Machine: {env['processor']}, {env['cpu_count']} cores "
          f"({env['torch_threads']} torch threads)"
          + (f", GPU: {env['cuda']}" if env["cuda"] else "") + f"; {env['machine']}.",
          f"Versions: {', '.join(f'{k} {v}' for k, v in env['versions'].items() if v)}.",
          "Ceilings: " + "; ".join(
              f"{dev}: " + ", ".join(f"{k} {v:.1f}" for k, v in c.items())
              for dev, c in env["ceilings"].items()) + ".",
          "", markdown_table(results), ""]
    paths["markdown"].write_text("\n".join(md))
    _ratio_chart(results, paths["chart"])
    written = {k: str(v) for k, v in paths.items()}
    for i, p in enumerate(_scaling_charts(results, scaling, out)):
        written[f"scaling{i}"] = p
    return written


def update_readme(readme: Path, markdown: str, header: str) -> None:
    """Replace the Performance table of ``readme`` (a Markdown page with the benchmark
    markers: docs/performance.md) between the markers."""
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise SystemExit(f"update_readme: {readme} has no {README_BEGIN} ... {README_END}")
    start = text.index(README_BEGIN) + len(README_BEGIN)
    end = text.index(README_END)
    readme.write_text(text[:start] + "\n" + header + "\n\n" + markdown + "\n" + text[end:])
