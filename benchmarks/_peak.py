"""Peak resident memory of one side of a workload case, measured in a fresh process.

``python -m benchmarks._peak MODULE NAME PARAMS_JSON SIDE`` imports only the workload's
module, builds the case's data, runs
torchmath (``SIDE`` = ``torchmath``) or the named peer once, and prints the peak resident
set size in MB as JSON: the peak from just before the data are built (Linux resets the
high-water mark through ``/proc/self/clear_refs``; elsewhere the whole process's peak).
A fresh process is the only place where the peak is the workload's own: in the suite's
long-lived process, memory freed by earlier workloads is reused and hides what a run
needs.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys

import torch

from benchmarks.harness import _REGISTRY


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM, the peak resident set
    except OSError:
        pass


def _peak_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    module, name, params_json, side = sys.argv[1:5]
    importlib.import_module(module)  # registers its workloads
    workload = _REGISTRY[name]
    params = json.loads(params_json)
    _reset_peak()
    state = workload.setup(params, torch.device("cpu"))
    if side == "torchmath":
        workload.run(state)
    else:
        peer = next(p for p in workload.peers if p.name == side)
        peer.run(peer.prepare(state))
    print(json.dumps({"peak_mb": _peak_mb()}))


if __name__ == "__main__":
    main()
