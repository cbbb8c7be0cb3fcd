"""Hopeless sizes are refused up front with a BasisCompilerError that says what to lower, and
large-but-fine requests stay fast (no enumeration of multidegrees that do not exist)."""

import math
import time
from itertools import product

import numpy as np
import pytest
import torch

from basis_compiler import BasisCompilerError, DegreeError, Signature, enumerate_basis
from basis_compiler.symbolic.enumeration import multidegree_count, multidegrees


# A hang (say in the exact rank step) fails in a minute, not at the CI timeout (tests/conftest.py).
pytestmark = pytest.mark.time_limit(60)


@pytest.mark.parametrize(
    "signature, degree, words",
    [
        ("O(5): -> 12", 0, "GiB"),  # rank step over 5**12 output entries
        ("O(3): -> 50s", 0, "GiB"),
        ("O(3): v:1 -> 50", 50, "GiB"),
        ("O(1000000000): -> 50", 0, "candidate diagrams"),  # independent, but (49)!! of them
        ("O(3): v:1 -> 2", 10**100, "multidegrees"),
        ("SO(9): u:1, v:1, w:1 -> 6a", 3, "Levi-Civita"),
    ],
)
def test_hopeless_sizes_are_refused_quickly(signature, degree, words):
    start = time.process_time()
    with pytest.raises(BasisCompilerError, match=words) as info:
        enumerate_basis(signature, degree)
    assert "lower" in str(info.value)
    assert time.process_time() - start < 20  # generous: these used to run for minutes or exhaust memory


def test_bad_degree_types_are_degree_errors():
    for bad in ({1: 1}, 1.5, "2", None, True, -1, (1, -1)):
        with pytest.raises(DegreeError):
            enumerate_basis("O(3): v:1, w:1 -> 0", bad)


@pytest.mark.parametrize("n_inputs, degree", [(0, 3), (1, 0), (1, 4), (3, 2), (4, 3)])
def test_multidegrees_match_brute_force(n_inputs, degree):
    sig = Signature.parse("O(3): " + ", ".join(f"v{i}:1" for i in range(n_inputs)) + " -> 0")
    brute = [md for md in product(range(degree + 1), repeat=n_inputs) if sum(md) <= degree]
    assert multidegrees(sig, degree) == brute
    assert multidegree_count(n_inputs, degree) == len(brute)


def test_many_inputs_visit_only_existing_multidegrees():
    # 18 vector inputs at degree 2: 190 multidegrees, not 3**18 candidates
    sig = "O(3): " + ", ".join(f"v{i}:1" for i in range(18)) + " -> 0"
    assert len(multidegrees(Signature.parse(sig), 2)) == math.comb(20, 2)
    basis = enumerate_basis(sig, 2)
    assert len(basis) == 1 + math.comb(18, 2) + 18  # constant, <v_i, v_j> (i < j), |v_i|^2


def test_family_size_beyond_int64_is_refused_cleanly():
    from basis_compiler.codegen.kinds import compile_kind

    with pytest.raises(BasisCompilerError):
        compile_kind("O(3): a[3037000500]:1 -> 2s", 2, "covariant")


def test_term_evaluate_follows_torch_inputs():
    basis = enumerate_basis("O(3): v:1, X:2s -> 2s", 2)
    rng = np.random.default_rng(0)
    x = {"v": rng.standard_normal(3), "X": (lambda a: a + a.T)(rng.standard_normal((3, 3)))}
    xt = {k: torch.tensor(v, dtype=torch.float32) for k, v in x.items()}
    for term in basis:
        y, yt = term.evaluate(x), term.evaluate(xt)
        assert isinstance(y, np.ndarray) and isinstance(yt, torch.Tensor) and yt.dtype == torch.float32
        np.testing.assert_allclose(yt.numpy(), y, rtol=1e-5, atol=1e-5)
