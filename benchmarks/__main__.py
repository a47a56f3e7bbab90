"""Run the benchmark suite: ``python -m benchmarks [--device ...] [--size ...]``."""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import torch

from benchmarks.ceilings import measure_ceilings
from benchmarks.harness import Case, combine_rounds, registry, run_case
from benchmarks.report import environment, text_table, update_readme, write_reports

#: Where ``--update-readme`` writes the results table (the README links to this page).
PERFORMANCE_PAGE = Path("docs/performance.md")


def _devices(choice: str) -> list[torch.device]:
    has_cuda = torch.cuda.is_available()
    if choice == "cuda" and not has_cuda:
        print("benchmarks: --device cuda asked for, but this machine has no CUDA device; "
              "nothing to run.")
        sys.exit(0)
    if choice == "all":
        return [torch.device("cpu")] + ([torch.device("cuda")] if has_cuda else [])
    return [torch.device(choice)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all",
                        help="where torchmath runs (default: every device present)")
    parser.add_argument("--size", choices=["tiny", "quick", "full"], default="quick",
                        help="problem sizes: quick (default, < 5 min on 2 cores), full "
                             "(scaling curves), tiny (smoke test)")
    parser.add_argument("--only", action="append", default=None, metavar="NAME",
                        help="run only workloads whose name contains NAME (repeatable)")
    parser.add_argument("--out", default="benchmarks/results", help="output directory")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of timing per measurement (default by size)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the whole selection this many times and report, per row, "
                             "the round with the median ratio and the range (default 1)")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument("--update-readme", action="store_true",
                        help="write the Markdown table into the docs' Performance page "
                             "(docs/performance.md, between its benchmark markers)")
    args = parser.parse_args(argv)

    workloads = registry()
    if args.only:
        workloads = {k: w for k, w in workloads.items() if any(o in k for o in args.only)}
        if not workloads:
            parser.error(f"no workload matches {args.only}; see --list")
    if args.list:
        for name, w in workloads.items():
            print(f"{name:32s} {w.area:16s} peers: {', '.join(p.name for p in w.peers)}")
        return 0
    devices = _devices(args.device)
    budget = args.budget if args.budget is not None else \
        {"tiny": 0.0, "quick": 0.3, "full": 2.0}[args.size]

    try:
        from tqdm import tqdm
    except ImportError:  # the bench extra installs tqdm; run without a bar otherwise
        tqdm = None

    ceilings = {str(d): measure_ceilings(d, args.size) for d in devices}
    jobs = [(w, Case(p), d) for w in workloads.values() for p in w.cases.get(args.size, [])
            for d in devices if d.type in w.devices]
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    # rounds one after another (not each case repeated at once): the machine's slow and
    # fast phases last minutes, so the rounds sample them
    jobs = [(k, *job) for k in range(args.rounds) for job in jobs]
    bar = tqdm(jobs, desc="benchmarks", unit="case", file=sys.stderr) if tqdm else jobs
    rounds: list[list] = [[] for _ in range(args.rounds)]
    for k, w, case, device in bar:
        if tqdm:
            bar.set_postfix_str(f"{k + 1}/{args.rounds} {w.name} {case.label} {device}"[:60])
        rounds[k] += run_case(w, case, device, budget=budget, timed=args.size != "tiny",
                              ceilings=ceilings[str(device)])
    results = combine_rounds(rounds)
    env = environment(ceilings, vars(args))
    scaling = {w.name: w.scaling for w in workloads.values() if w.scaling}
    paths = write_reports(results, env, Path(args.out), scaling)
    print()
    print(text_table(results))
    print()
    for dev, c in ceilings.items():
        print(f"ceilings on {dev}: " + ", ".join(f"{k} {v:.1f}" for k, v in c.items()))
    print("wrote " + ", ".join(paths.values()))
    if args.update_readme:
        when = datetime.date.today().isoformat()
        rounds = f" --rounds {args.rounds}" if args.rounds > 1 else ""
        header = (f"Produced by `python -m benchmarks --size {args.size}{rounds} "
                  f"--update-readme` on "
                  f"{when}; machine: {env['processor']}, {env['cpu_count']} cores, "
                  f"torch {torch.__version__}" + (f", GPU {env['cuda']}" if env["cuda"]
                                                  else ", no GPU") + ".")
        if args.rounds > 1:
            header += (f" Each row is the one of {args.rounds} rounds of the suite with the "
                       "median ratio; the ratio's range over the rounds is in brackets.")
        update_readme(PERFORMANCE_PAGE, (Path(args.out) / "results.md").read_text(), header)
        print(f"updated {PERFORMANCE_PAGE}")
    failures = [r for r in results if r.status in ("accuracy failure", "error")]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
