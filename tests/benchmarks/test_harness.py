"""The benchmark harness's own tests, and a tiny run of every registered workload."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from benchmarks.__main__ import main
from benchmarks.harness import (
    Case,
    Peer,
    Result,
    Workload,
    combine_rounds,
    registry,
    run_case,
)
from benchmarks.report import markdown_table, text_table

CPU = torch.device("cpu")


def _workload(answer_offset: float, peers=None, own_gap=0.0) -> Workload:
    """Sum of a vector, by torch (off by ``answer_offset``) and by a NumPy peer."""
    return Workload(
        name="toy_sum", area="test",
        cases={"tiny": [{"n": 10}]},
        setup=lambda p, device: torch.arange(p["n"], dtype=torch.float64, device=device),
        run=lambda x: x.sum() + answer_offset,
        peers=peers if peers is not None else [
            Peer("numpy", lambda x: float(x.numpy().sum()), requires=("numpy",), goal=1.0)],
        check=lambda ours, theirs, x: own_gap if theirs is None else abs(float(ours) - theirs),
        tolerance=1e-9,
    )


def test_right_answer_is_ok_and_timed():
    rows = run_case(_workload(0.0), Case({"n": 10}), CPU, budget=0.01)
    assert [r.status for r in rows] == ["ok"]
    assert rows[0].ratio is not None and rows[0].ratio > 0
    assert rows[0].gap == 0.0


def test_wrong_answer_is_an_accuracy_failure_never_a_speed_result():
    rows = run_case(_workload(1.0), Case({"n": 10}), CPU, budget=0.01)
    assert rows[0].status == "accuracy failure"
    assert rows[0].ratio is None and rows[0].goal_met is None
    assert rows[0].gap == pytest.approx(1.0)
    assert "ACCURACY FAILURE" in text_table(rows)


def test_failing_own_check_is_an_accuracy_failure():
    rows = run_case(_workload(0.0, own_gap=float("nan")), Case({"n": 10}), CPU, budget=0.01)
    assert rows[0].status == "accuracy failure"


def test_missing_peer_is_unavailable_not_a_crash():
    peer = Peer("ghost", lambda x: 0.0, requires=("a_module_that_is_not_installed_xyz",))
    rows = run_case(_workload(0.0, peers=[peer]), Case({"n": 10}), CPU, budget=0.01)
    assert rows[0].status == "unavailable"
    assert "a_module_that_is_not_installed_xyz" in rows[0].note
    assert "unavailable" in markdown_table(rows)


def test_crashing_workload_is_reported_as_error():
    w = _workload(0.0)
    w.run = lambda x: 1 / 0
    rows = run_case(w, Case({"n": 10}), CPU, budget=0.01)
    assert rows[0].status == "error" and "ZeroDivisionError" in rows[0].note


def test_crashing_peer_is_reported_as_error():
    peer = Peer("broken", lambda x: [][1], requires=())
    rows = run_case(_workload(0.0, peers=[peer]), Case({"n": 10}), CPU, budget=0.01)
    assert rows[0].status == "error" and "IndexError" in rows[0].note


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_workload_runs_and_agrees_at_tiny_size(name):
    """Each registered workload, at its tiny size, untimed: every available peer agrees."""
    workload = registry()[name]
    assert workload.cases.get("tiny"), f"{name} has no tiny case for the test suite"
    for params in workload.cases["tiny"]:
        for row in run_case(workload, Case(params), CPU, timed=False):
            assert row.status in ("ok", "unavailable", "no peer"), (row.status, row.note)


def _perturb(answer):
    """A deliberately wrong answer: every floating value moved by 10% + 1."""
    if isinstance(answer, torch.Tensor):
        return answer * 1.1 + 1 if answer.is_floating_point() else answer + 1
    if isinstance(answer, np.ndarray | float | np.floating):
        return answer * 1.1 + 1
    if isinstance(answer, tuple) and hasattr(answer, "_fields"):  # a NamedTuple
        return type(answer)(*(_perturb(a) for a in answer))
    if isinstance(answer, tuple | list):
        return type(answer)(_perturb(a) for a in answer)
    if isinstance(answer, dict):
        return {k: _perturb(v) for k, v in answer.items()}
    return answer


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_workload_check_rejects_a_wrong_answer(name):
    """Each workload's accuracy check reports a deliberately wrong answer as a failure,
    against every available peer (or, without one, against its own check)."""
    workload = registry()[name]
    params = workload.cases["tiny"][0]
    state = workload.setup(params, CPU)
    wrong = _perturb(workload.run(state))
    tol = workload.tol(params)
    peers = [p for p in workload.peers if p.available()]
    if not peers:
        assert not workload.check(wrong, None, state) <= tol
    for peer in peers:
        theirs = peer.run(peer.prepare(state))
        assert not workload.check(wrong, theirs, state) <= tol, peer.name


def test_command_line_writes_reports(tmp_path, capsys):
    code = main(["--size", "tiny", "--device", "cpu", "--only", "mvn_log_prob",
                 "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "mvn_log_prob" in out and "ceilings on cpu" in out
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["environment"]["ceilings"]["cpu"]["matmul_float64_gflops"] > 0
    assert {r["workload"] for r in payload["results"]} >= {"mvn_log_prob"}
    assert (tmp_path / "results.md").read_text().count("|") > 10
    assert (tmp_path / "ratios.png").stat().st_size > 1000


def _row(ratio, peer="numpy", status="ok", ours=1.0):
    return Result(workload="w", area="a", case="n=1", device="cpu", peer=peer,
                  status=status, ours_s=ours, peer_s=None if ratio is None else ours / ratio,
                  ratio=ratio, goal=1.0, goal_met=None if ratio is None else ratio <= 1.0)


def test_rounds_combine_to_the_median_round_with_the_range():
    """Per row, the round with the median ratio (its own times, so ratio = ours / peer
    still holds), the lowest and highest ratio over the rounds, and the verdict of the
    median; a failure in any round is the row's status."""
    rounds = [[_row(1.3, ours=2.0), _row(0.5, peer="scipy")],
              [_row(0.9, ours=1.0), _row(None, peer="scipy", status="accuracy failure")],
              [_row(1.1, ours=3.0), _row(0.4, peer="scipy")]]
    numpy_row, scipy_row = combine_rounds(rounds)
    assert (numpy_row.ratio, numpy_row.ours_s, numpy_row.goal_met) == (1.1, 3.0, False)
    assert (numpy_row.ratio_low, numpy_row.ratio_high, numpy_row.rounds) == (0.9, 1.3, 3)
    assert scipy_row.status == "accuracy failure" and scipy_row.rounds == 3
    assert "1.10x (0.90-1.30)" in markdown_table([numpy_row])
    assert combine_rounds(rounds[:1]) == rounds[0]  # one round: the rows as they are
    even = combine_rounds([[_row(1.2)], [_row(0.8)]])[0]
    assert (even.ratio, even.ratio_low, even.ratio_high) == (0.8, 0.8, 1.2)


def test_command_line_runs_rounds(tmp_path, capsys):
    code = main(["--size", "tiny", "--device", "cpu", "--only", "naive_bayes",
                 "--rounds", "2", "--out", str(tmp_path)])
    assert code == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    rows = payload["results"]
    assert rows and all(r["rounds"] == 2 for r in rows)
    assert len({(r["case"], r["peer"]) for r in rows}) == len(rows)  # one row per peer
    with pytest.raises(SystemExit):
        main(["--rounds", "0", "--out", str(tmp_path)])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--device", "cuda"])
    assert info.value.code == 0
    assert "no CUDA device" in capsys.readouterr().out


def test_peak_memory_in_a_fresh_process():
    workload = registry()["streaming_pca"]
    from benchmarks.harness import subprocess_peak_mb
    peak = subprocess_peak_mb(workload, Case(workload.cases["tiny"][0]), "torchmath")
    assert peak is not None and peak > 1.0


def test_qp_workload_without_qpth_reports_it_unavailable(monkeypatch):
    """qpth cannot be installed on a fresh machine (README): its QP rows say 'unavailable'
    and the other peers still run."""
    import importlib.util

    import benchmarks.harness as harness
    real = importlib.util.find_spec
    monkeypatch.setattr(harness.importlib.util, "find_spec",
                        lambda name, *a: None if name == "qpth" else real(name, *a))
    workload = registry()["qp_batch"]
    rows = run_case(workload, Case(workload.cases["tiny"][0]), CPU, timed=False)
    qpth = [r for r in rows if r.peer == "qpth"]
    assert len(qpth) == 1 and qpth[0].status == "unavailable"
    assert "qpth" in qpth[0].note
    assert any(r.peer != "qpth" and r.status == "ok" for r in rows)


def test_measure_times_with_the_process_torch_thread_count():
    # torch.utils.benchmark.Timer defaults to one thread; the harness must not, or torch
    # would be timed on one core against NumPy-based peers on all of them.
    from benchmarks.harness import measure
    before = torch.get_num_threads()
    seen = []
    try:
        torch.set_num_threads(2)
        measure(lambda: seen.append(torch.get_num_threads()), repeats=2)
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {2}
