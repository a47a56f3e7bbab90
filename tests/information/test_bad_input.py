"""The bad-input policy on the information functions: a NaN is never masked into a
plausible number (issue 15 reproductions), with validation on (an error naming the
function and the argument) and off (NaN propagates)."""

import math

import pytest
import torch

import torchmath
from torchmath.information import (
    conditional_entropy,
    cross_entropy,
    entropy,
    f_divergence,
    joint_entropy,
    js_divergence,
    kl_divergence,
    self_information,
)

NAN = math.nan
UNIFORM3 = torch.full((3,), 1 / 3)

CASES = [
    ("entropy", "probs", lambda: entropy(probs=torch.tensor([0.5, NAN, 0.5]))),
    ("entropy", "logits", lambda: entropy(logits=torch.tensor([0.0, NAN]))),
    ("entropy", "log_probs", lambda: entropy(log_probs=torch.tensor([NAN, -0.1]))),
    ("kl_divergence", "p_logits",
     lambda: kl_divergence(p_logits=torch.tensor([0.0, NAN]), q_logits=torch.zeros(2))),
    ("kl_divergence", "q_probs",
     lambda: kl_divergence(p_probs=UNIFORM3, q_probs=torch.tensor([0.5, NAN, 0.5]))),
    ("js_divergence", "p_probs",
     lambda: js_divergence(p_probs=torch.tensor([0.5, NAN, 0.5]), q_probs=UNIFORM3)),
    ("js_divergence", "q_logits",
     lambda: js_divergence(p_probs=UNIFORM3, q_logits=torch.tensor([0.0, NAN, 1.0]))),
    ("cross_entropy", "p_probs",
     lambda: cross_entropy(p_probs=torch.tensor([0.5, NAN, 0.5]), q_probs=UNIFORM3)),
    ("cross_entropy", "q_logits",
     lambda: cross_entropy(p_probs=UNIFORM3, q_logits=torch.tensor([0.0, NAN, 1.0]))),
    ("f_divergence", "q_probs",
     lambda: f_divergence(p_probs=UNIFORM3, q_probs=torch.tensor([0.5, NAN, 0.5]))),
    ("joint_entropy", "joint", lambda: joint_entropy(torch.tensor([[0.5, NAN], [0.5, 0.0]]))),
    ("conditional_entropy", "joint",
     lambda: conditional_entropy(torch.tensor([[0.5, NAN], [0.5, 0.0]]))),
    ("self_information", "probs", lambda: self_information(probs=torch.tensor([0.5, NAN]))),
]


@pytest.mark.parametrize(("fn", "arg", "call"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_nan_raises_naming_function_and_argument(fn, arg, call):
    with pytest.raises(ValueError, match=rf"^{fn}: expected '{arg}'.*NaN"):
        call()


@pytest.mark.parametrize(("fn", "arg", "call"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_nan_propagates_with_validation_off(fn, arg, call, no_validation):
    out = call()
    assert torch.isnan(out).any(), f"{fn}({arg}=...NaN...) gave {out}"


def test_positive_infinite_logits_refused():
    with pytest.raises(ValueError, match=r"^entropy: expected 'logits' to hold no \+inf"):
        entropy(logits=torch.tensor([math.inf, 0.0]))


def test_negative_infinite_logits_are_zero_probabilities():
    # -inf logits are a legal zero probability: H = log 2 over the two others.
    out = entropy(logits=torch.tensor([-math.inf, 0.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(out, torch.tensor(math.log(2), dtype=torch.float64))


def test_legal_extremes_keep_their_limits():
    p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
    q = torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64)
    assert entropy(probs=p) == pytest.approx(math.log(2), rel=1e-12)  # 0 log 0 = 0
    assert kl_divergence(p_probs=p, q_probs=q) == math.inf  # KL to a zero-probability event
    assert cross_entropy(p_probs=p, q_probs=q) == math.inf


def test_vmap_with_validation_on_skips_value_checks():
    # The checks need a host sync; under vmap they are skipped (documented) instead of
    # failing on data-dependent control flow.
    probs = torch.softmax(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), -1)
    assert torchmath.get_validate_args()
    out = torch.func.vmap(lambda p: entropy(probs=p))(probs)
    torch.testing.assert_close(out, entropy(probs=probs))
    kl = torch.func.vmap(lambda p: kl_divergence(p_probs=p, q_probs=UNIFORM3))(probs)
    torch.testing.assert_close(kl, kl_divergence(p_probs=probs, q_probs=UNIFORM3))
