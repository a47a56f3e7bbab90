"""The machine's ceilings, measured in the same run as the workloads.

Dense matmul GFLOP/s (float32 and float64) bounds compute-bound workloads: the faster of
torch's product and NumPy's (on the CPU, where torch's MKL can run slower kernels than
NumPy's OpenBLAS; see ``torchmath._cpu_blas``), so the ceiling is the hardware's best
rather than one library's. Memory
bandwidth (GB/s, bytes read + written) bounds memory-bound ones. Bandwidth is measured two
ways on tensors far larger than the caches: a copy (which also pays for loading each
destination line before writing it) and an in-place add (which does not); the larger is
the ceiling. Kernels that reuse data in cache can still exceed it, and a fraction above
100% says that, not that the arithmetic is wrong.
"""

from __future__ import annotations

import torch

from benchmarks.harness import measure

__all__ = ["measure_ceilings"]


def measure_ceilings(device: torch.device, size: str = "quick") -> dict[str, float]:
    """Matmul GFLOP/s per dtype and copy GB/s on ``device``."""
    n = {"tiny": 256, "quick": 2048, "full": 4096}[size]
    if device.type == "cuda":
        n *= 4
    out: dict[str, float] = {}
    for dtype in (torch.float32, torch.float64):
        a = torch.randn(n, n, dtype=dtype, device=device)
        b = torch.randn(n, n, dtype=dtype, device=device)
        repeats = 3 if size != "tiny" else 1
        t = measure(lambda a=a, b=b: a @ b, repeats=repeats, device=device).median
        name = str(dtype).split('.')[-1]
        out[f"matmul_{name}_torch_gflops"] = 2 * n**3 / t / 1e9
        if device.type == "cpu":
            an, bn = a.numpy(), b.numpy()
            t_numpy = measure(lambda an=an, bn=bn: an @ bn, repeats=repeats,
                              device=device).median
            out[f"matmul_{name}_numpy_gflops"] = 2 * n**3 / t_numpy / 1e9
            t = min(t, t_numpy)
        out[f"matmul_{name}_gflops"] = 2 * n**3 / t / 1e9
    numel = {"tiny": 2**20, "quick": 2**25, "full": 2**26}[size]  # float32: 4 B each
    src = torch.randn(numel, device=device)
    dst = torch.randn(numel, device=device)
    repeats = 5 if size != "tiny" else 1
    t = measure(lambda: dst.copy_(src), repeats=repeats, device=device).median
    out["copy_gbytes_s"] = 2 * 4 * numel / t / 1e9
    t = measure(lambda: dst.add_(src), repeats=repeats, device=device).median
    out["inplace_add_gbytes_s"] = 3 * 4 * numel / t / 1e9
    out["memory_gbytes_s"] = max(out["copy_gbytes_s"], out["inplace_add_gbytes_s"])
    return out
