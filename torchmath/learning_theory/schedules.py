r"""Schedules for a regularization weight (the KL weight :math:`\beta` of an ELBO).

Annealing :math:`\beta` from 0 to 1 over the first epochs keeps a VAE from collapsing
its posterior onto the prior before the decoder has learned anything (Bowman et al.
2016). :class:`torchmath.callbacks.KLAnnealing` applies it in a Lightning ``Trainer``.
"""

from __future__ import annotations

import math

from torchmath._validation import check_choice, check_int, fail

__all__ = ["annealed_weight"]


def annealed_weight(step: int, start: float = 0.0, end: float = 1.0, n_steps: int = 10, *,
                    kind: str = "linear", cycles: int = 1) -> float:
    r"""The value of a weight annealed from ``start`` to ``end`` over ``n_steps``.

    With progress :math:`u = \min(s / n, 1)` (per cycle when ``cycles > 1``):

    .. math::
        \beta(s) = \beta_0 + (\beta_1 - \beta_0)\,g(u),\quad
        g(u) = u \ (\text{linear}),\ \tfrac12(1 - \cos \pi u)\ (\text{cosine}),\
        \sigma(12u - 6)\ (\text{sigmoid})

    Cyclical annealing repeats the ramp ``cycles`` times within ``n_steps`` steps, each
    ramp over half a cycle followed by a plateau (Fu et al. 2019). Source: Bowman et al.
    (2016), "Generating Sentences from a Continuous Space"; Fu et al. (2019).

    Args:
        step: the current epoch or step (``>= 0``).
        start, end: the weight at the beginning and after the ramp.
        n_steps: length of the ramp (``>= 1``); constant ``end`` afterwards.
        kind: ``"linear"``, ``"cosine"`` or ``"sigmoid"``.
        cycles: number of ramps (``>= 1``).

    Returns:
        the weight (a Python float).

    Raises:
        ValueError: ``step < 0``, ``n_steps < 1``, ``cycles < 1``, unknown ``kind``.

    Example:
        >>> [annealed_weight(s, 0.0, 1.0, 4) for s in range(6)]
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """
    fn = "annealed_weight"
    check_int(fn, "step", step, minimum=0)
    check_int(fn, "n_steps", n_steps, minimum=1)
    check_int(fn, "cycles", cycles, minimum=1)
    check_choice(fn, "kind", kind, ("linear", "cosine", "sigmoid"))
    for name, v in (("start", start), ("end", end)):
        if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
            raise fail(fn, name, "to be a number", v, TypeError)
    if cycles == 1:
        u = min(step / n_steps, 1.0)
    elif step >= n_steps:
        u = 1.0
    else:
        period = n_steps / cycles
        u = min((step % period) / (period / 2), 1.0)
    if kind == "cosine":
        g = 0.5 * (1 - math.cos(math.pi * u))
    elif kind == "sigmoid":
        g = 0.0 if u == 0 else 1.0 if u == 1 else 1 / (1 + math.exp(-(12 * u - 6)))
    else:
        g = u
    return float(start + (end - start) * g)
