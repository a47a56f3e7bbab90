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


def test_value_checks_refuse_nan_explicitly():
    from torchmath._validation import (
        check_nonnegative_tensor,
        check_positive,
        check_positive_definite,
        check_simplex,
    )

    nan = torch.tensor([0.5, float("nan"), 0.5])
    for check in (check_simplex, check_nonnegative_tensor, check_positive):
        with pytest.raises(ValueError, match=r"^f: expected 'p'.*NaN"):
            check("f", "p", nan)
    A = torch.eye(2)
    A[0, 1] = A[1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^f: expected 'A' to be positive definite.*NaN"):
        check_positive_definite("f", "A", A)  # not torch's eigvalsh error on NaN


def test_check_cholesky_without_validation_gives_nan_not_a_number(no_validation):
    from torchmath._validation import check_cholesky

    L = check_cholesky("f", "A", -torch.eye(2))
    assert torch.isnan(L).all()
    torch.testing.assert_close(check_cholesky("f", "A", 4 * torch.eye(2)), 2 * torch.eye(2))


def test_validating_is_off_under_vmap_and_compile():
    from torchmath._validation import validating

    seen = []
    torch.func.vmap(lambda x: seen.append(validating()) or x)(torch.ones(2))
    torch.func.grad(lambda x: seen.append(validating()) or x.sum())(torch.ones(2))
    assert seen == [False, True]  # grad alone can still check values


def test_dtype_rule():
    from torchmath._validation import compute_dtype

    f32, f64 = torch.ones(1), torch.ones(1, dtype=torch.float64)
    assert compute_dtype(f32, f64) == (torch.float64, torch.float64)
    assert compute_dtype(f32.half()) == (torch.float32, torch.float16)
    assert compute_dtype(f32.bfloat16(), f32) == (torch.float32, torch.float32)
