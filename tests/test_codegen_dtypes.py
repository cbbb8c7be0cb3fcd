"""Dtypes of generated modules: the result has the inputs' floating dtype; integer inputs are
refused with a message saying how to convert them (never a silently wrong integer result)."""

import copy

import numpy as np
import pytest
import torch

from basis_compiler.codegen.store import compile_module

pytestmark = pytest.mark.time_limit(60)

FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def _symmetric(*shape, dtype=torch.float64):
    X = torch.randn(*shape, dtype=torch.float64)
    return (X + X.transpose(-1, -2)).to(dtype)


def test_covariant_layer_refuses_integer_inputs():
    # before: the 1/orbit-size scale was cast to int64 (0) and the result was silently wrong
    cls = compile_module("O(5): a[n]:1 -> 2s", 2, "covariant")
    S = torch.randint(-3, 4, (2, 6, 5))
    c = torch.randint(-3, 4, (2, cls.n_coeffs_for(6)))
    with pytest.raises(TypeError, match=r"coeffs has dtype torch.int64.*\.double\(\)"):
        cls()(c, a=S.double())
    with pytest.raises(TypeError, match=r"input 'a' has dtype torch.int64.*a\.double\(\) or a\.float\(\)"):
        cls()(c.double(), a=S)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
def test_polynomial_layer_refuses_integer_inputs(dtype):
    cls = compile_module("O(3): v:1, X:2s -> 2s", 3, "polynomial")
    v = torch.ones(4, 3, dtype=dtype)
    with pytest.raises(TypeError, match=r"input 'v' has dtype .*v\.double\(\)"):
        cls()(v=v, X=_symmetric(4, 3, 3, dtype=torch.float32))


@pytest.mark.parametrize("dtype", FLOATS)
def test_polynomial_layer_follows_the_input_dtype(dtype):
    cls = compile_module("O(3): v:1, X:2s -> 2s", 3, "polynomial", channels=2)
    layer = cls(out_channels=3)  # float32 weights
    v, X = torch.randn(4, 2, 3, dtype=torch.float64), _symmetric(4, 2, 3, 3)
    y = layer(v=v.to(dtype), X=X.to(dtype))
    assert y.dtype == dtype
    reference = copy.deepcopy(layer).double()(v=v, X=X)
    tol = {torch.float16: 3e-2, torch.bfloat16: 1e-1, torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
    scale = reference.abs().max()
    assert (y.double() - reference).abs().max() <= tol * scale
    y.float().sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.dtype == torch.float32  # the parameter's dtype


@pytest.mark.parametrize("dtype", FLOATS)
def test_covariant_and_invariants_follow_the_input_dtype(dtype):
    cov = compile_module("O(5): a[n]:1 -> 2s", 2, "covariant")
    inv = compile_module("O(5): a[n]:1 -> 2s", 2, "invariants")
    S, c = torch.randn(2, 6, 5, dtype=torch.float64), torch.randn(2, cov.n_coeffs_for(6), dtype=torch.float64)
    y, f = cov()(c.to(dtype), a=S.to(dtype)), inv()(a=S.to(dtype))
    assert y.dtype == dtype and f.dtype == dtype
    tol = {torch.float16: 3e-2, torch.bfloat16: 1e-1, torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
    ref = cov()(c, a=S)
    assert (y.double() - ref).abs().max() <= tol * ref.abs().max()


def test_inputs_of_different_dtypes_are_refused_by_name():
    cov = compile_module("O(5): a[n]:1 -> 2s", 2, "covariant")
    with pytest.raises(TypeError, match=r"'a' has dtype torch.float32 and 'coeffs' torch.float64"):
        cov()(torch.randn(2, cov.n_coeffs_for(3), dtype=torch.float64), a=torch.randn(2, 3, 5))
    poly = compile_module("O(3): v:1, X:2s -> 2s", 3, "polynomial")
    with pytest.raises(TypeError, match=r"'v' has dtype torch.float64 and 'X' torch.float32"):
        poly()(v=torch.randn(2, 3, dtype=torch.float64), X=_symmetric(2, 3, 3, dtype=torch.float32))


def test_generated_docstring_states_the_dtype_policy():
    for cls in (compile_module("O(3): v:1, X:2s -> 2s", 3, "polynomial"),
                compile_module("O(5): a[n]:1 -> 2s", 2, "covariant")):
        assert "Integer inputs raise TypeError" in cls.__doc__


def test_integer_values_are_exact_after_conversion():
    # the advertised conversion gives the exact integer result (float64 is exact at these sizes)
    cls = compile_module("O(5): a[n]:1 -> 2s", 2, "covariant")
    S = torch.randint(-3, 4, (2, 6, 5))
    c = torch.randint(-3, 4, (2, cls.n_coeffs_for(6)))
    y = cls()(c.double(), a=S.double())
    i, j = torch.triu_indices(6, 6)
    U = torch.zeros(2, 6, 6, dtype=torch.float64)
    U[:, i, j] = c[:, 1:].double()
    expected = S.double().transpose(1, 2) @ ((U + U.transpose(1, 2)) / 2) @ S.double()
    expected = expected + c[:, :1, None].double() * torch.eye(5, dtype=torch.float64)
    assert torch.equal(y, expected) or np.allclose(y.numpy(), expected.numpy(), rtol=0, atol=1e-12)
