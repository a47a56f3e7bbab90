"""``check_estimator``: the estimator contract as a runnable check, shipped for users.

Like scikit-learn's ``check_estimator``, :func:`check_estimator` runs the whole contract of
:class:`torchmath._estimator.Estimator` on one estimator and a small dataset, and raises
``AssertionError`` naming the first rule that fails. Use it in the tests of your own
estimators (subclasses of the torchmath base); torchmath's suite runs it over all of its
estimators. :func:`check_estimator_distributed` is the multi-process part: call it on
every rank of an initialized 2-process group.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from torchmath._estimator import ConvergenceWarning, Estimator, NotFittedError
from torchmath._validation import get_validate_args, set_validate_args

__all__ = ["check_estimator", "check_estimator_distributed"]

#: Methods that take ``X`` and give the model's outputs, in the order they are tried.
_X_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function",
              "transform", "score_samples")
#: The label sets every classifier must keep as given.
LABEL_SETS = ((0, 1), (1, 2, 3), (3, 7, 11))


def _fresh(est: Estimator, **changes: Any) -> Estimator:
    return type(est)(**{**est.get_params(), **changes})


def _fit(est: Estimator, data: Any, **kwargs: Any) -> Estimator:
    """``fit`` with the warnings of a short iteration budget silenced (these checks are
    about the shell, not about convergence)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(data, **kwargs)


def _kind(data: tuple[Tensor, ...]) -> str:
    if len(data) < 2:
        return "none"
    return "targets" if data[1].is_floating_point() else "labels"


def _outputs(est: Estimator, X: Tensor) -> dict[str, Tensor]:
    """Everything the fitted model computes from ``X`` (or its buffers, for estimators
    that take no ``X`` once fitted, such as ``RunningMoments``)."""
    out = {name: getattr(est, name)(X) for name in _X_METHODS if hasattr(est, name)}
    if not out:
        out = {name: buf for name, buf in est.named_buffers() if buf.numel()}
    return {k: (v[0] if isinstance(v, tuple) else v).detach() for k, v in out.items()}


def _close(a: dict[str, Tensor], b: dict[str, Tensor], what: str, rtol: float,
           atol: float) -> None:
    assert a.keys() == b.keys(), f"{what}: outputs {sorted(a)} != {sorted(b)}"
    for key in a:
        x, y = a[key], b[key]
        assert x.shape == y.shape, f"{what}: {key} has shape {tuple(x.shape)}, " \
                                   f"expected {tuple(y.shape)}"
        if x.is_floating_point():
            torch.testing.assert_close(x, y.to(x), rtol=rtol, atol=atol,
                                       msg=lambda m, k=key: f"{what}: {k}: {m}")
        else:
            assert torch.equal(x, y.to(x)), f"{what}: {key} differs"


def _raises(exc: type[Exception], fn: Callable[[], Any], *names: str, what: str) -> None:
    try:
        fn()
    except exc as e:
        text = str(e)
        for name in names:
            assert name in text, f"{what}: {name!r} not in the message {text!r}"
        return
    except Exception as e:  # noqa: BLE001 - any other type is the failure being reported
        raise AssertionError(f"{what}: expected {exc.__name__}, got {type(e).__name__}: "
                             f"{e}") from e
    raise AssertionError(f"{what}: expected {exc.__name__}, nothing was raised")


def _uneven(data: tuple[Tensor, ...], n_batches: int = 7) -> list[tuple[Tensor, ...]]:
    """``n_batches`` batches of uneven sizes (one of a single row) covering the rows."""
    n = data[0].shape[0]
    cuts = [round(i * n / n_batches) for i in range(n_batches + 1)]
    cuts[1] = 1
    cuts[2:-1] = [min(c + i % 3, n) for i, c in enumerate(cuts[2:-1], 1)]
    return [tuple(t[a:b] for t in data) for a, b in zip(cuts[:-1], cuts[1:], strict=True)
            if b > a]


def _other_value(value: Any) -> Any:
    """A different valid-looking value of a setting, or ``None`` if none is known."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 if value else 1.0
    if isinstance(value, Tensor) and value.is_floating_point():
        return value * 2 + 1
    if isinstance(value, list | tuple) and value and \
            all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return type(value)(2 * v + 1 for v in value)
    return None


def _round_trip(fitted: Estimator) -> Estimator:
    buffer = io.BytesIO()
    torch.save(fitted.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh = _fresh(fitted)
    fresh.load_state_dict(state)
    return fresh


def _check_fit_inputs(estimator: Estimator, method: str, data: tuple[Tensor, ...],
                      kind: str) -> None:
    """Bad inputs to ``fit``/``partial_fit`` are named errors."""
    name = type(estimator).__name__
    fn = f"{name}.{method}"
    X, rest = data[0], data[1:]

    def call(*d: Tensor) -> None:
        getattr(_fresh(estimator), method)(d if len(d) > 1 else d[0])

    for bad, label in ((float("nan"), "NaN"), (float("inf"), "inf")):
        Xb = X.clone()
        Xb[len(X) // 2, 0] = bad
        _raises(ValueError, lambda Xb=Xb: call(Xb, *rest), fn, "'X'",
                what=f"{fn} with {label} in X")
    if kind == "targets":
        yb = data[1].clone()
        yb[0] = float("nan")
        _raises(ValueError, lambda: call(X, yb), fn, "'y'", what=f"{fn} with NaN in y")
    _raises(ValueError, lambda: call(*(t[:0] for t in data)), fn, "'data'",
            what=f"{fn} on 0 rows")
    _raises(ValueError, lambda: call(X[:, :0], *rest), fn, "'X'", what=f"{fn} on 0 features")
    if kind != "none":
        _raises(ValueError, lambda: call(X, data[1][:-1]), fn, "'X'", "'y'",
                what=f"{fn} with a label column of another length")
    _raises(TypeError, lambda: call(X.long(), *rest), fn, "'X'", what=f"{fn} with integer X")


def check_estimator(estimator: Estimator, data: tuple[Tensor, ...], *,
                    rtol: float = 1e-7, atol: float = 1e-9) -> None:
    """Run the estimator contract on ``estimator`` (unfitted) with ``data``.

    Args:
        estimator: an unfitted torchmath estimator (its settings are copied; it is not
            modified).
        data: ``(X,)``, ``(X, y)`` with real targets, or ``(X, y)`` with integer labels:
            float64 ``X`` with at least 30 rows; classifiers' labels ``0..K-1``, K >= 2.
        rtol, atol: tolerances of "the same model" (uneven batches vs one tensor).

    Checks, in order: use before ``fit`` raises :class:`torchmath.NotFittedError`;
    NaN/inf, empty, zero-feature and mismatched inputs to ``fit`` (and ``partial_fit``)
    are ``ValueError``\\ s naming the method and the argument; an input that requires grad
    fits as its values (no buffer carries a graph, ``copy.deepcopy`` works); classifiers
    keep the label sets ``{0, 1}``, ``{1, 2, 3}`` and ``{3, 7, 11}`` as given; inputs of
    another dtype are cast to the model's (and of another device moved, where CUDA is
    available); NaN in a prediction input is a named error while validation is on and not
    checked while it is off; ``repr``, ``get_params``/``set_params`` and
    ``sklearn.base.clone``; a ``state_dict`` saved with ``torch.save`` and read with
    ``torch.load(weights_only=True)`` into a fresh estimator predicts bit-identically,
    and a state fitted under another value of a shape-giving setting is refused by name;
    7 uneven batches give the one-tensor model; an iterative estimator with
    ``max_iter=1`` warns :class:`torchmath.ConvergenceWarning` and records ``n_iter`` and
    ``converged``.

    Shape:
        ``X``: ``(n, d)`` (float64, ``n >= 30``); ``y``: ``(n,)`` targets or labels, or
        ``(n, k)`` targets.

    Raises:
        AssertionError: naming the rule that failed.

    Example:
        >>> import torch
        >>> from torchmath.linalg import LinearRegression
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.randn(40, 3, generator=g, dtype=torch.float64)
        >>> check_estimator(LinearRegression(), (X, X.sum(1)))  # returns None when it holds
    """
    name = type(estimator).__name__
    kind = _kind(data)
    X = data[0]
    base = _fresh(estimator)

    # -- not fitted --------------------------------------------------------------------
    methods = [m for m in _X_METHODS if hasattr(base, m)]
    for m in methods:
        _raises(NotFittedError, lambda m=m: getattr(base, m)(X), "fit",
                what=f"{name}.{m} before fit")
    assert not base.is_fitted, f"{name}: a fresh estimator says it is fitted"

    # -- bad input to fit ----------------------------------------------------------------
    fits = ["fit"] + (["partial_fit"] if hasattr(base, "partial_fit") else [])
    for method in fits:
        _check_fit_inputs(estimator, method, data, kind)

    # -- the reference fit; requires-grad input ----------------------------------------
    fitted = _fit(_fresh(estimator), data)
    assert fitted.is_fitted, f"{name}.fit: the model does not say it is fitted"
    reference = _outputs(fitted, X)
    grad_data = (X.clone().requires_grad_(True),) + tuple(
        t.clone().requires_grad_(True) if t.is_floating_point() else t for t in data[1:])
    with_grad = _fit(_fresh(estimator), grad_data)
    for bname, buf in with_grad.named_buffers():
        assert not buf.requires_grad and buf.grad_fn is None, \
            f"{name}.fit on inputs that require grad: buffer {bname!r} carries a graph"
    copy.deepcopy(with_grad)
    with torch.no_grad():
        _close(_outputs(with_grad, X), reference, f"{name}: fit on inputs that require grad",
               rtol, atol)

    # -- prediction-time inputs ----------------------------------------------------------
    if methods:
        dtype = X.dtype
        other = torch.float32 if dtype == torch.float64 else torch.float64
        for m in methods:
            out = getattr(fitted, m)(X.to(other))
            out = out[0] if isinstance(out, tuple) else out
            if out.is_floating_point():
                assert out.dtype == reference[m].dtype, \
                    f"{name}.{m}: an input of {other} gave {out.dtype}, expected the " \
                    f"model's {reference[m].dtype} (inputs are cast to the model's dtype)"
            if torch.cuda.is_available():
                out = getattr(fitted, m)(X.cuda())
                out = out[0] if isinstance(out, tuple) else out
                assert out.device == reference[m].device, \
                    f"{name}.{m}: a CUDA input gave {out.device}, expected the model's"
            Xn = X.clone()
            Xn[0, 0] = float("nan")
            _raises(ValueError, lambda m=m, Xn=Xn: getattr(fitted, m)(Xn), f"{name}.{m}",
                    "'X'", what=f"{name}.{m} with NaN in X")
            _raises(ValueError, lambda m=m: getattr(fitted, m)(torch.cat([X, X], -1)),
                    f"{name}.{m}", "'X'", what=f"{name}.{m} with another feature count")
            previous = get_validate_args()
            set_validate_args(False)
            try:
                getattr(fitted, m)(Xn)  # not checked (and no host sync) when off
            finally:
                set_validate_args(previous)
        if hasattr(fitted, "score"):
            score = fitted.score(*data)
            assert isinstance(score, Tensor) and bool(torch.isfinite(score).all()), \
                f"{name}.score: expected a finite tensor, got {score!r}"

    # -- labels kept as given ------------------------------------------------------------
    if kind == "labels":
        y = data[1]
        for labels in LABEL_SETS:
            values = torch.tensor(labels)
            idx = y % len(labels)
            as_index = _fit(_fresh(estimator), (X, idx))
            as_labels = _fit(_fresh(estimator), (X, values[idx]))
            assert torch.equal(as_labels.classes.cpu(), values), \
                f"{name}: labels {labels} kept as {as_labels.classes.tolist()}"
            assert torch.equal(as_labels.predict(X).cpu(), values[as_index.predict(X).cpu()]), \
                f"{name}.predict: labels {labels} are not returned as given"
            if hasattr(as_labels, "predict_proba"):
                torch.testing.assert_close(as_labels.predict_proba(X),
                                           as_index.predict_proba(X), rtol=rtol, atol=atol)
                assert as_labels.predict_proba(X).shape[-1] == len(labels)

    # -- settings: repr, get_params, set_params, clone ---------------------------------------
    params = estimator.get_params()
    text = repr(estimator)
    assert text.startswith(f"{name}("), f"repr: {text!r} does not start with {name}("
    assert set(params) == set(type(estimator)._param_names())
    assert _fresh(estimator).set_params(**params) is not None
    _raises(ValueError, lambda: _fresh(estimator).set_params(no_such_setting=1),
            "no_such_setting", what=f"{name}.set_params with an unknown name")
    try:
        from sklearn.base import clone
    except ImportError:  # pragma: no cover - scikit-learn is optional
        clone = None
    if clone is not None:
        twin = clone(estimator)
        assert type(twin) is type(estimator) and twin is not estimator
        assert set(twin.get_params()) == set(params)

    # -- state_dict round trip and a refused load ----------------------------------------------
    loaded = _round_trip(fitted)
    assert loaded.is_fitted, f"{name}: a loaded fitted state does not say it is fitted"
    for key, value in _outputs(loaded, X).items():
        expect = reference[key]
        assert value.dtype == expect.dtype and torch.equal(value, expect), \
            f"{name}: {key} after state_dict -> torch.load(weights_only=True) -> a fresh " \
            f"estimator is not bit-identical"
    refused = False
    for setting in type(estimator)._state_settings:
        alt = _other_value(getattr(estimator, setting))
        if alt is None:
            continue
        try:
            other = _fresh(estimator, **{setting: alt})
        except (ValueError, TypeError):
            continue
        _raises(ValueError, lambda other=other: other.load_state_dict(fitted.state_dict()),
                name, setting, what=f"{name}.load_state_dict of a state fitted with "
                f"another {setting}")
        refused = True
        break
    assert refused or not type(estimator)._state_settings, \
        f"{name}: no setting could be varied to check that a foreign state is refused"

    # -- uneven batches --------------------------------------------------------------------------
    batched = _fit(_fresh(estimator), _uneven(data))
    _close(_outputs(batched, X), reference, f"{name}: 7 uneven batches vs one tensor",
           rtol, atol)

    # -- convergence -------------------------------------------------------------------------------
    iterative = "max_iter" in params and getattr(estimator, "fit_hyperparameters", True)
    if iterative:
        short = _fresh(estimator, max_iter=1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            short.fit(data if len(data) > 1 else data[0])
        assert any(issubclass(w.category, ConvergenceWarning) for w in caught), \
            f"{name}.fit with max_iter=1: no torchmath.ConvergenceWarning"
        assert hasattr(short, "n_iter") and hasattr(short, "converged"), \
            f"{name}: an iterative estimator records n_iter and converged"
        assert not bool(short.converged.all()), f"{name}: converged says True at max_iter=1"


def check_estimator_distributed(estimator: Estimator, data: tuple[Tensor, ...], *,
                                rtol: float = 1e-10, atol: float = 1e-10) -> list[str]:
    """The multi-process part of the contract; call it on every rank of an initialized
    2-process group (gloo or NCCL).

    Each rank fits (a) its uneven shard of ``data`` as uneven batches, (b) the whole data
    on rank 0 and an empty shard (0-row tensors) on rank 1, (c) the whole data on rank 0
    and no batches at all on rank 1; every fit must equal the one-process fit of all of
    ``data`` (``sync=False``) on every rank.

    Args:
        estimator: an unfitted torchmath estimator (its settings are copied).
        data: the whole dataset, the same on every rank, as for :func:`check_estimator`.
        rtol, atol: tolerances of "the same model".

    Shape:
        as :func:`check_estimator`.

    Raises:
        ValueError: no process group is initialized (from ``torch.distributed``).

    Returns:
        the failures found, as messages (empty when the contract holds).
    """
    import torch.distributed as dist

    rank = dist.get_rank()
    name = type(estimator).__name__
    X = data[0]
    n = X.shape[0]
    single = _outputs(_fit(_fresh(estimator), data, sync=False), X)
    cut = n // 3
    shard = tuple(t[:cut] for t in data) if rank == 0 else tuple(t[cut:] for t in data)
    layouts = {
        "uneven shards": _uneven(shard, 5) if shard[0].shape[0] >= 15 else [shard],
        "an empty shard": data if rank == 0 else tuple(t[:0] for t in data),
        "a rank with no batches": data if rank == 0 else [],
    }
    failures = []
    for layout, part in layouts.items():
        try:
            if isinstance(part, tuple) and len(part) == 1:
                part = part[0]
            got = _outputs(_fit(_fresh(estimator), part), X)
            _close(got, single, f"{name} under 2 processes, {layout}", rtol, atol)
        except Exception as e:  # noqa: BLE001 - reported to the caller
            failures.append(f"rank {rank}: {name}, {layout}: {type(e).__name__}: {e}")
    return failures
