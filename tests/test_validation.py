"""The shared argument checks: one wording, the function and argument named."""

import pytest
import torch

import torchmath
from tests.helpers import assert_raises_naming
from torchmath import _validation as v


def test_message_names_function_argument_expected_and_got():
    err = assert_raises_naming(ValueError, lambda: v.check_shape(
        "mvn_log_prob", "scale_tril", torch.zeros(2, 3), (3, 3)), "mvn_log_prob",
        "'scale_tril'", "(..., 3, 3)", "(2, 3)")
    assert str(err) == "mvn_log_prob: expected 'scale_tril' of shape (..., 3, 3), got (2, 3)"


def test_exactly_one():
    assert v.check_exactly_one("f", a=None, b=2) == ("b", 2)
    assert_raises_naming(ValueError, lambda: v.check_exactly_one("f", a=1, b=2), "f:", "'a'",
                         "'b'")
    assert_raises_naming(ValueError, lambda: v.check_exactly_one("f", a=None, b=None), "none")


def test_value_checks_and_global_switch():
    nan = torch.tensor([1.0, float("nan")])
    assert_raises_naming(ValueError, lambda: v.check_finite("f", "x", nan), "'x'", "NaN")
    assert_raises_naming(ValueError, lambda: v.check_simplex("f", "p", torch.tensor([0.5, 0.6])),
                         "'p'", "sum to one")
    assert_raises_naming(ValueError, lambda: v.check_positive_definite(
        "f", "cov", -torch.eye(2)), "'cov'", "positive definite", "-1")
    torchmath.set_validate_args(False)
    try:
        assert v.check_finite("f", "x", nan) is nan  # skipped: no host sync
    finally:
        torchmath.set_validate_args(True)


def test_scalar_checks():
    assert_raises_naming(ValueError, lambda: v.check_positive("f", "lr", -1.0), "'lr'", "-1.0")
    assert_raises_naming(ValueError, lambda: v.check_in_range(
        "f", "delta", 1.0, 0, 1, low_open=True, high_open=True), "'delta'", "(0, 1)")
    assert_raises_naming(TypeError, lambda: v.check_int("f", "k", 1.5), "'k'", "integer")
    assert_raises_naming(ValueError, lambda: v.check_choice("f", "kind", "x", ("a", "b")),
                         "'kind'", "'x'")
    assert_raises_naming(ValueError, lambda: v.check_labels("f", "y", torch.tensor([0, 3]), 3),
                         "'y'", "[0, 3)")
    with pytest.raises(TypeError):
        v.check_labels("f", "y", torch.tensor([0.0]))
