"""The benchmark harness: workloads, peers, timing, accuracy checks and results.

A *workload* is one task solved by torchmath and by one or more *peers* (scikit-learn,
SciPy, torch's own) on the same data. Each workload file in ``benchmarks/workloads``
builds :class:`Workload` objects and passes them to :func:`register`.

For every case (a size and variant) on every device the harness:

1. builds the data (``setup``), untimed;
2. runs torchmath once to warm up, then times it with ``torch.utils.benchmark`` (which
   synchronizes CUDA) and takes the median;
3. runs each peer the same number of times (peers on their own device), untimed
   conversions done in ``Peer.prepare``;
4. compares the answers with the workload's ``check``; a gap above the tolerance is an
   *accuracy failure* and its ratio is never shown as a speed result;
5. records the peak memory (``torch.cuda.max_memory_allocated`` on CUDA, the growth of
   resident memory on CPU).

A peer whose modules are not installed is reported as *unavailable*.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import statistics
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.utils.benchmark as tbench

__all__ = ["ARRAY_API_REASON", "ArrayAPIPeer", "Case", "Peer", "Result", "Workload", "measure",
           "register", "registry", "run_case", "to_numpy"]

SIZES = ("tiny", "quick", "full")


@dataclass
class Peer:
    """Another library solving the same task.

    Attributes:
        name: shown in the table, e.g. ``"scikit-learn"``.
        run: solves the task from ``prepare``'s output and returns the answer.
        prepare: converts the workload's data for the peer (untimed); default identity.
        requires: modules that must be importable; otherwise the peer is *unavailable*.
        goal: target for the ratio torchmath / peer (e.g. ``0.5``), or ``None``.
        cpu_only: the peer runs on the CPU whatever the workload's device.
        options: settings shown in the report (accurate settings where defaults are loose).
    """

    name: str
    run: Callable[[Any], Any]
    prepare: Callable[[Any], Any] = lambda state: state
    requires: tuple[str, ...] = ()
    goal: float | None = None
    cpu_only: bool = True
    options: str = ""

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.requires)


class ArrayAPIPeer(Peer):
    """scikit-learn with ``array_api_dispatch=True``, fed torch tensors: what a user gets
    without changing libraries. Available only when SciPy's array-API support is on
    (``SCIPY_ARRAY_API=1`` set before SciPy was imported; ``benchmarks/__init__.py``
    sets it)."""

    def available(self) -> bool:
        try:
            import sklearn
            with sklearn.config_context(array_api_dispatch=True):
                return True
        except (ImportError, RuntimeError):
            return False


ARRAY_API_REASON = "SCIPY_ARRAY_API=1 set before SciPy is imported (scikit-learn array API)"


@dataclass
class Case:
    """One measured configuration of a workload: its parameters and a label."""

    params: dict[str, Any]
    label: str = ""

    def __post_init__(self):
        if not self.label:
            self.label = " ".join(f"{k}={v}" for k, v in self.params.items())


@dataclass
class Workload:
    """A task, torchmath's solution, its peers and how to tell that both are right.

    Attributes:
        name: unique, used by ``--only``.
        area: the course area (``probability``, ``linalg``, ...).
        cases: ``{"tiny"|"quick"|"full": [params, ...]}``; ``tiny`` runs in the tests.
        setup: ``(params, device) -> state``, the data (untimed).
        run: ``state -> answer``, torchmath's solution (timed).
        peers: the libraries compared against.
        check: ``(ours, theirs, state) -> gap`` (a float, 0 = same answer); ``theirs``
            is a peer's answer, or ``None`` to check torchmath alone against ``state``.
        tolerance: the largest acceptable gap; a number or ``params -> number``.
        flops: ``params -> floating-point operations`` of one run, if known; for an
            iterative solver whose work depends on its iterations, ``(params, answer) ->
            flops`` reads them from torchmath's answer.
        bytes_moved: ``params -> bytes`` (or ``(params, answer) -> bytes``) read and
            written by one run, if known.
        scaling: the parameter varied across the ``full`` cases, for log-log curves.
        devices: where torchmath may run.
    """

    name: str
    area: str
    cases: dict[str, list[dict[str, Any]]]
    setup: Callable[[dict[str, Any], torch.device], Any]
    run: Callable[[Any], Any]
    peers: list[Peer]
    check: Callable[[Any, Any, Any], float]
    tolerance: float | Callable[[dict[str, Any]], float] = 1e-6
    flops: Callable[[dict[str, Any]], float] | None = None
    bytes_moved: Callable[[dict[str, Any]], float] | None = None
    scaling: str | None = None
    devices: tuple[str, ...] = ("cpu", "cuda")
    description: str = ""
    #: Measure peak resident memory of each side in a fresh process (CPU only), for
    #: workloads whose point is memory (streaming fits).
    memory_in_subprocess: bool = False

    def tol(self, params: dict[str, Any]) -> float:
        return self.tolerance(params) if callable(self.tolerance) else self.tolerance


_REGISTRY: dict[str, Workload] = {}


def register(workload: Workload) -> Workload:
    """Add a workload to the suite (names are unique)."""
    if workload.name in _REGISTRY:
        raise ValueError(f"register: a workload named {workload.name!r} already exists")
    unknown = set(workload.cases) - set(SIZES)
    if unknown:
        raise ValueError(f"register: unknown sizes {unknown} in {workload.name!r}")
    _REGISTRY[workload.name] = workload
    return workload


def registry() -> dict[str, Workload]:
    """All registered workloads, importing every module of ``benchmarks.workloads``."""
    import benchmarks.workloads  # noqa: F401  (imports register the workloads)
    return dict(_REGISTRY)


def to_numpy(x: Any) -> Any:
    """Tensors (on any device) to float64 NumPy arrays, recursively through tuples."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return x.double().numpy() if x.is_floating_point() else x.numpy()
    if isinstance(x, tuple | list):
        return type(x)(to_numpy(v) for v in x)
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    return x


@dataclass
class Timing:
    median: float
    iqr: float
    repeats: int
    times: list[float] = field(default_factory=list)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(fn: Callable[[], Any], *, repeats: int | None = None, budget: float = 1.0,
            device: torch.device | None = None) -> Timing:
    """Median wall time of ``fn()`` over ``repeats`` runs (chosen from ``budget`` seconds
    when not given), each timed by ``torch.utils.benchmark.Timer`` (CUDA-synchronized)."""
    # Timer runs at one torch thread unless told otherwise, while NumPy-based peers use
    # every BLAS thread: time every side with the process's torch thread count.
    timer = tbench.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    if repeats is None:
        first = timer.timeit(1).median
        repeats = int(min(25, max(3, budget / max(first, 1e-6))))
    times = [timer.timeit(1).median for _ in range(repeats)]
    q1, q3 = np.percentile(times, [25, 75])
    return Timing(statistics.median(times), float(q3 - q1), repeats, times)


class PeakMemory:
    """Peak memory during a block: CUDA allocator peak, or growth of resident memory on CPU
    (sampled every millisecond with psutil when it is installed)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_bytes: float | None = None
        self._stop = threading.Event()

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            try:
                import psutil
            except ImportError:
                return self
            proc = psutil.Process()
            self._base = proc.memory_info().rss
            self._max = self._base

            def sample():
                while not self._stop.is_set():
                    self._max = max(self._max, proc.memory_info().rss)
                    time.sleep(0.001)

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self._base
        elif hasattr(self, "_thread"):
            self._stop.set()
            self._thread.join()
            self.peak_bytes = self._max - self._base
        return False


@dataclass
class Result:
    """One row of the report: a workload case on a device against one peer."""

    workload: str
    area: str
    case: str
    device: str
    peer: str
    status: str  # "ok" | "accuracy failure" | "unavailable" | "error" | "no peer"
    ours_s: float | None = None
    ours_iqr_s: float | None = None
    peer_s: float | None = None
    peer_iqr_s: float | None = None
    repeats: int | None = None
    ratio: float | None = None
    goal: float | None = None
    goal_met: bool | None = None
    gap: float | None = None
    tolerance: float | None = None
    gflops: float | None = None
    gbytes_s: float | None = None
    ceiling_fraction: float | None = None
    peak_mb: float | None = None
    peer_peak_mb: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    #: rounds of the whole suite combined into this row (``--rounds``), and the lowest and
    #: highest ratio over them (``None`` for a single round)
    rounds: int = 1
    ratio_low: float | None = None
    ratio_high: float | None = None


def _work(count: Callable[..., float], params: dict[str, Any], answer: Any) -> float:
    """A workload's flop or byte count: of ``params``, or of ``params`` and its answer."""
    if len(inspect.signature(count).parameters) == 2:
        return float(count(params, answer))
    return float(count(params))


def _ceiling_fraction(workload: Workload, case: Case, seconds: float,
                      ceilings: dict[str, float] | None,
                      answer: Any = None) -> tuple[float | None, ...]:
    gflops = gbs = fraction = None
    if workload.flops is not None:
        gflops = _work(workload.flops, case.params, answer) / seconds / 1e9
        dtype = str(case.params.get("dtype", "float64"))
        peak = (ceilings or {}).get(f"matmul_{dtype}_gflops")
        fraction = gflops / peak if peak else None
    if workload.bytes_moved is not None:
        gbs = _work(workload.bytes_moved, case.params, answer) / seconds / 1e9
        peak = (ceilings or {}).get("memory_gbytes_s")
        if fraction is None and peak:
            fraction = gbs / peak
    return gflops, gbs, fraction


def subprocess_peak_mb(workload: Workload, case: Case, side: str) -> float | None:
    """Peak resident MB of one side (``"torchmath"`` or a peer's name) of a case, run
    alone in a fresh Python process (see ``benchmarks/_peak.py``)."""
    import json
    import subprocess
    import sys

    try:
        module = workload.run.__module__
        out = subprocess.run([sys.executable, "-m", "benchmarks._peak", module, workload.name,
                              json.dumps(case.params), side], capture_output=True,
                             text=True, check=True, timeout=600)
        return float(json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"])
    except (subprocess.SubprocessError, ValueError, KeyError, IndexError):
        return None


def run_case(workload: Workload, case: Case, device: torch.device, *,
             budget: float = 1.0, timed: bool = True,
             ceilings: dict[str, float] | None = None) -> list[Result]:
    """Run one case of a workload on ``device`` against every peer; one row per peer.

    With ``timed=False`` (the test suite) each side runs once and only the answers are
    compared: no timing is recorded or asserted.
    """
    base = dict(workload=workload.name, area=workload.area, case=case.label,
                device=str(device), params=case.params)
    tol = workload.tol(case.params)
    try:
        state = workload.setup(case.params, device)
        with PeakMemory(device) as mem:
            ours = workload.run(state)
            _synchronize(device)
        timing = measure(lambda: workload.run(state), budget=budget, device=device) \
            if timed else None
    except Exception as exc:  # a broken workload is a row, not a crash of the suite
        return [Result(**base, peer="-", status="error",
                       note=f"torchmath failed: {type(exc).__name__}: {exc}"[:300]
                       + "\n" + traceback.format_exc(limit=3))]
    own_gap = workload.check(ours, None, state)
    rows: list[Result] = []
    isolate = workload.memory_in_subprocess and timed and device.type == "cpu"
    peak_mb = subprocess_peak_mb(workload, case, "torchmath") if isolate else \
        None if mem.peak_bytes is None else mem.peak_bytes / 2**20
    common = dict(base, ours_s=timing.median if timing else None,
                  ours_iqr_s=timing.iqr if timing else None,
                  repeats=timing.repeats if timing else None, tolerance=tol,
                  peak_mb=peak_mb)
    if timing:
        gflops, gbs, frac = _ceiling_fraction(workload, case, timing.median, ceilings, ours)
        common.update(gflops=gflops, gbytes_s=gbs, ceiling_fraction=frac)
    if own_gap is not None and not own_gap <= tol:
        return [Result(**common, peer="-", status="accuracy failure", gap=own_gap,
                       note="torchmath's answer fails the workload's own check")]
    if not workload.peers:
        return [Result(**common, peer="-", status="no peer", gap=own_gap)]
    for peer in workload.peers:
        if not peer.available():
            rows.append(Result(**common, peer=peer.name, status="unavailable",
                               goal=peer.goal,
                               note=f"not installed: {', '.join(peer.requires)}"))
            continue
        try:
            peer_state = peer.prepare(state)
            theirs = peer.run(peer_state)
            gap = float(workload.check(ours, theirs, state))
            peer_timing = measure(lambda p=peer, s=peer_state: p.run(s), repeats=timing.repeats) \
                if timing else None
        except Exception as exc:
            rows.append(Result(**common, peer=peer.name, status="error", goal=peer.goal,
                               note=f"peer failed: {type(exc).__name__}: {exc}"[:300]))
            continue
        row = Result(**common, peer=peer.name, status="ok", gap=gap, goal=peer.goal,
                     note=peer.options)
        if isolate:
            row.peer_peak_mb = subprocess_peak_mb(workload, case, peer.name)
        if not gap <= tol:  # NaN counts as a failure too
            row.status = "accuracy failure"
        elif peer_timing:
            row.peer_s = peer_timing.median
            row.peer_iqr_s = peer_timing.iqr
            row.ratio = timing.median / peer_timing.median
            row.goal_met = None if peer.goal is None else row.ratio <= peer.goal
        rows.append(row)
    return rows


#: statuses a combined row takes from any of its rounds, worst first
_WORST = ("error", "accuracy failure")


def combine_rounds(rounds: Sequence[Sequence[Result]]) -> list[Result]:
    """One row per (workload, case, device, peer) from several rounds of the suite.

    The machine's speed drifts over minutes (docs/performance.md), so one round is one
    sample. The combined row is the round with the median ratio (the lower middle one
    for an even count; the median time where a row has no ratio), so its times, ratio
    and throughput belong together; it records the lowest and highest ratio over the
    rounds, and its verdict follows the median ratio.
    An error or accuracy failure in any round is the row's status.
    """
    if len(rounds) == 1:
        return list(rounds[0])
    keyed: dict[tuple, list[Result]] = {}
    for results in rounds:
        for r in results:
            keyed.setdefault((r.workload, r.case, r.device, r.peer), []).append(r)
    combined = []
    for rows in keyed.values():
        bad = [r for status in _WORST for r in rows if r.status == status]
        if bad:
            combined.append(replace(bad[0], rounds=len(rows)))
            continue
        timed = [r for r in rows if r.ratio is not None]
        if timed:
            timed.sort(key=lambda r: r.ratio)
            ratios = [r.ratio for r in timed]
            pick = replace(timed[(len(timed) - 1) // 2], ratio_low=ratios[0],
                           ratio_high=ratios[-1])
        else:
            by_time = sorted(rows, key=lambda r: math.inf if r.ours_s is None else r.ours_s)
            pick = by_time[(len(by_time) - 1) // 2]
        combined.append(replace(pick, rounds=len(rows)))
    return combined
