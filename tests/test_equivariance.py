"""Every returned term is equivariant, in float64, under random elements of every component."""

import pytest

from basis_compiler import enumerate_basis
from basis_compiler.testing import assert_equivariant


# A hang (say in the exact rank step) fails in a minute, not at the CI timeout (tests/conftest.py).
pytestmark = pytest.mark.time_limit(60)

CORPUS = [
    ("O(3): v:1, X:2s -> 2s", 3),
    ("O(3): E:1, B:1p -> 2s", 2),
    ("O(3): u:1, v:1, w:1 -> 0p", (1, 1, 1)),
    ("O(3): v:1, w:1 -> 1p", (1, 1)),
    ("O(2): A:2a, v:1 -> 2", 3),
    ("SO(3): v:1, w:1 -> 1", 2),
    ("SO(3): A:2a, v:1 -> 2s", 2),
    ("SO(4): u:1, v:1 -> 2a", (1, 1)),
    ("O(1,3): p[3]:1 -> 2s", 2),
    ("O(1,3): F:2a, p:1 -> 1", 3),
    ("O(1,3): p:1, q:1, r:1, s:1 -> 0p", (1, 1, 1, 1)),
    ("O(2,2): X:2s -> 2s", 2),
    ("Sp(4): q:1, p:1 -> 2", 4),
    ("Sp(4): q:1, M:2 -> 0", (2, 2)),
    ("Sp(2): a[3]:1 -> 2s", 2),
    ("Sp(6): S:2s -> 2a", 2),
    ("O(5): a[4]:1 -> 2s", 2),
]


@pytest.mark.parametrize("signature, degree", CORPUS)
def test_every_term_is_equivariant(signature, degree, rng):
    basis = enumerate_basis(signature, degree)
    assert len(basis) > 0
    for term in basis:
        assert_equivariant(term.evaluate, signature, rng, trials=2, rtol=1e-8, atol=1e-10)


def test_cross_product_is_a_pseudo_vector(rng):
    (cross,) = [t for t in enumerate_basis("SO(3): v:1, w:1 -> 1", (1, 1))]
    assert_equivariant(cross.evaluate, "O(3): v:1, w:1 -> 1p", rng)
    with pytest.raises(AssertionError):
        assert_equivariant(cross.evaluate, "O(3): v:1, w:1 -> 1", rng)


def test_symplectic_form(rng):
    (form,) = enumerate_basis("Sp(4): q:1, p:1 -> 0", (1, 1))
    x = {"q": rng.normal(size=4), "p": rng.normal(size=4)}
    q, p = x["q"], x["p"]
    expected = q[:2] @ p[2:] - q[2:] @ p[:2]
    assert abs(abs(form.evaluate(x)) - abs(expected)) < 1e-12 and abs(expected) > 1e-6
