"""Checks of the independent dimension checker (tests/independent_dimension.py) itself,
against known mathematical facts and against its own second method.

Nothing here imports basis_compiler.
"""

import ast
import os
import random
import sys
from math import comb

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import independent_dimension as ind  # noqa: E402


# A hang (say in the exact rank step) fails in a minute, not at the CI timeout (tests/conftest.py).
pytestmark = pytest.mark.time_limit(60)

equivariant_dimension = ind.equivariant_dimension
isotropic_dimension = ind.isotropic_dimension

V = (1, "none", False)  # vector
SCALAR = (0, "none", False)
PSEUDO_SCALAR = (0, "none", True)
SYM2 = (2, "sym", False)
ANTI2 = (2, "anti", False)
PSEUDO_VECTOR = (1, "none", True)


# ----------------------------------------------------------------------------------
# Known facts from the brief
# ----------------------------------------------------------------------------------

ISOTROPIC_FACTS = [
    # (group, d, order, s, pseudo, dimension)
    ("O", 3, 8, None, False, 91),
    ("O", 4, 8, None, False, 105),
    ("O", 2, 6, None, False, 10),
    ("O", 3, 4, None, False, 3),
    ("O", 3, 3, None, False, 0),
    ("SO", 3, 3, None, False, 1),  # epsilon
    ("O", 3, 3, None, True, 1),  # epsilon as a pseudo-tensor
    ("Sp", 2, 4, None, False, 2),
    ("Sp", 4, 4, None, False, 3),
    ("Ost", 4, 4, 1, False, 3),  # Lorentz group O(1,3)
]


@pytest.mark.parametrize("group,d,order,s,pseudo,expected", ISOTROPIC_FACTS)
def test_isotropic_facts(group, d, order, s, pseudo, expected):
    assert isotropic_dimension(group, d, order, s=s, pseudo=pseudo) == expected


EQUIVARIANT_FACTS = [
    # (group, d, s, inputs, output, multidegree, dimension)
    ("O", 3, None, [V, V, V], V, (1, 0, 0), 1),
    ("O", 3, None, [V, V, V], V, (0, 1, 0), 1),
    ("O", 3, None, [V, V, V], V, (0, 0, 1), 1),
    ("O", 3, None, [V] * 4, SCALAR, (1, 1, 1, 1), 3),  # <v1,v2><v3,v4> and 2 more
    ("SO", 3, None, [V] * 3, SCALAR, (1, 1, 1), 1),  # triple product
    ("O", 3, None, [V] * 3, SCALAR, (1, 1, 1), 0),
    ("O", 3, None, [V] * 3, PSEUDO_SCALAR, (1, 1, 1), 1),
    ("SO", 3, None, [V, V], V, (1, 1), 1),  # cross product
    ("O", 3, None, [V], SYM2, (2,), 2),  # v v^T, |v|^2 I
    ("Sp", 4, None, [V, V], SCALAR, (1, 1), 1),  # q^T Omega p
    ("Ost", 4, 1, [V], SYM2, (2,), 2),  # v v^T, <v,v>_eta eta^-1
]


@pytest.mark.parametrize("group,d,s,inputs,output,degs,expected", EQUIVARIANT_FACTS)
def test_equivariant_facts(group, d, s, inputs, output, degs, expected):
    assert equivariant_dimension(group, d, inputs, output, degs, s=s) == expected


@pytest.mark.parametrize("method", ["weight", "direct"])
def test_small_facts_with_both_methods(method):
    # the cheap facts above, through the literal-definition method as well
    for group, d, order, s, pseudo, expected in ISOTROPIC_FACTS:
        if d ** order <= 256:
            assert isotropic_dimension(group, d, order, s=s, pseudo=pseudo, method=method) == expected
    for group, d, s, inputs, output, degs, expected in EQUIVARIANT_FACTS:
        assert equivariant_dimension(group, d, inputs, output, degs, s=s, method=method) == expected


# ----------------------------------------------------------------------------------
# Further classical facts (whole sequences)
# ----------------------------------------------------------------------------------

def test_so3_riordan_numbers():
    # dim of SO(3)-invariants in (R^3)^{(x) n}: Riordan numbers
    riordan = [1, 0, 1, 1, 3, 6, 15, 36, 91]
    assert [isotropic_dimension("SO", 3, n) for n in range(9)] == riordan
    # O(3): the even orders are tensors, the odd ones pseudo-tensors (one epsilon)
    assert [isotropic_dimension("O", 3, n) for n in range(8)] == [1, 0, 1, 0, 3, 0, 15, 0]
    assert [isotropic_dimension("O", 3, n, pseudo=True) for n in range(8)] == [0, 0, 0, 1, 0, 6, 0, 36]


def test_o2_and_so2_central_binomials():
    # SO(2): zero-weight count C(2k, k); O(2): half of it (tensors and pseudo-tensors)
    for k in range(5):
        assert isotropic_dimension("SO", 2, 2 * k) == comb(2 * k, k)
        assert isotropic_dimension("O", 2, 2 * k) == (comb(2 * k, k) + (k == 0)) // 2
        assert isotropic_dimension("O", 2, 2 * k, pseudo=True) == comb(2 * k, k) // 2
        assert isotropic_dimension("O", 2, 2 * k + 1) == 0


def test_sp2_catalan_and_sp4():
    catalan = [1, 1, 2, 5, 14]
    assert [isotropic_dimension("Sp", 2, 2 * k) for k in range(5)] == catalan
    assert isotropic_dimension("Sp", 2, 3) == 0
    # Sp(4), order 6: the 15 pairings minus one relation (no 3-crossing matchings)
    assert isotropic_dimension("Sp", 4, 6) == 14


def test_so4_is_su2_squared():
    # so(4) = sl2 + sl2, R^4 = C^2 (x) C^2: invariants in V^{(x)2k} = Catalan(k)^2
    assert [isotropic_dimension("SO", 4, 2 * k) for k in range(4)] == [1, 1, 4, 25]
    assert isotropic_dimension("O", 4, 6) == 15
    assert isotropic_dimension("O", 4, 6, pseudo=True) == 10


def test_d_equals_one():
    assert [isotropic_dimension("O", 1, n) for n in range(5)] == [1, 0, 1, 0, 1]
    assert [isotropic_dimension("O", 1, n, pseudo=True) for n in range(5)] == [0, 1, 0, 1, 0]
    assert [isotropic_dimension("SO", 1, n) for n in range(5)] == [1] * 5
    for method in ("weight", "direct"):
        # O(1) = {+1, -1}: u v^2 is equivariant, u v is not (but is, into pseudo-vectors)
        assert equivariant_dimension("O", 1, [V, V], V, (1, 2), method=method) == 1
        assert equivariant_dimension("O", 1, [V, V], V, (1, 1), method=method) == 0
        assert equivariant_dimension("O", 1, [V, V], PSEUDO_VECTOR, (1, 1), method=method) == 1


def test_symmetric_matrix_invariants_are_partitions():
    # O(d)-invariant polynomials of a symmetric matrix: polynomials in tr X, ..., tr X^d
    def partitions(n, largest):
        if n == 0:
            return 1
        return sum(partitions(n - p, p) for p in range(1, min(n, largest) + 1))

    for d in (2, 3):
        for k in range(6):
            assert equivariant_dimension("O", d, [SYM2], SCALAR, (k,)) == partitions(k, d)


def test_misc_small_facts():
    # Hodge dual: antisymmetric 2-tensor -> pseudo-vector in O(3)
    assert equivariant_dimension("O", 3, [ANTI2], PSEUDO_VECTOR, (1,)) == 1
    assert equivariant_dimension("O", 3, [ANTI2], V, (1,)) == 0
    # sl2 adjoint (= symmetric 2-tensors of Sp(2)): invariant ring generated in degree 2
    assert [equivariant_dimension("Sp", 2, [SYM2], SCALAR, (k,)) for k in range(5)] == [1, 0, 1, 0, 1]
    # |v|^2 v is the only cubic vector field
    assert equivariant_dimension("O", 3, [V], V, (3,)) == 1
    # antisymmetric output of order > d is the zero space
    assert equivariant_dimension("O", 2, [V], (3, "anti", False), (3,)) == 0
    # Sp: v^T Omega v = 0
    assert equivariant_dimension("Sp", 4, [V], SCALAR, (2,)) == 0


def test_three_vectors_to_two_tensor():
    # output legs paired (5 scalar monomials) + v_i v_i^T (3 x 2) + v_i v_j^T (6 x 2) = 23
    # for d >= 4; Gram-type relations lower it in d = 2, 3.
    got = [equivariant_dimension("O", d, [V] * 3, (2, "none", False), (2, 2, 2)) for d in (2, 3, 4, 5)]
    assert got == [13, 22, 23, 23]
    got = [equivariant_dimension("O", d, [V] * 3, SYM2, (2, 2, 2)) for d in (2, 3, 4, 5)]
    assert got == [10, 16, 17, 17]
    # SO(2): twice O(2) (rotation by 90 degrees); SO(5): no room for an epsilon
    assert equivariant_dimension("SO", 2, [V] * 3, (2, "none", False), (2, 2, 2)) == 26
    assert equivariant_dimension("SO", 5, [V] * 3, (2, "none", False), (2, 2, 2)) == 23


def test_lorentz_signatures():
    # O(s,t) has the same invariants as O(d); the direct method uses the metric eta
    for s in range(0, 5):
        assert isotropic_dimension("Ost", 4, 4, s=s, method="direct") == 3
        assert equivariant_dimension("Ost", 4, [V], SYM2, (2,), s=s, method="direct") == 2
    assert equivariant_dimension("Ost", 2, [V], SCALAR, (2,), s=1, method="direct") == 1
    assert equivariant_dimension("Ost", 2, [V], PSEUDO_SCALAR, (2,), s=1, method="direct") == 0
    assert isotropic_dimension("Ost", 2, 2, s=1, pseudo=True, method="direct") == 1


# ----------------------------------------------------------------------------------
# The two methods agree (fixed-seed random sample of small cases)
# ----------------------------------------------------------------------------------

def _space_dim(d, t):
    k, sym, _ = t
    if sym == "none":
        return d ** k
    return comb(d + k - 1, k) if sym == "sym" else comb(d, k)


def test_methods_agree_on_random_small_cases():
    rng = random.Random(20240601)
    groups = (
        [("O", d, None) for d in (1, 2, 3, 4)]
        + [("SO", d, None) for d in (1, 2, 3, 4)]
        + [("Sp", d, None) for d in (2, 4)]
        + [("Ost", d, s) for d in (2, 3, 4) for s in range(d + 1)]
    )
    syms = ["none", "sym", "anti"]
    checked = nonzero = 0
    while checked < 150:
        group, d, s = rng.choice(groups)
        n = rng.randint(0, 3)
        inputs = [(rng.choice([1, 1, 2, 2, 3]), rng.choice(syms), rng.random() < 0.3) for _ in range(n)]
        output = (rng.choice([0, 1, 1, 2, 2, 3]), rng.choice(syms), rng.random() < 0.3)
        degs = tuple(rng.randint(0, 2) for _ in range(n))
        size = _space_dim(d, output)
        for t, a in zip(inputs, degs):
            dim = _space_dim(d, t)
            size *= comb(dim + a - 1, a) if dim else int(a == 0)
        if size == 0 or size > 300:
            continue
        a = equivariant_dimension(group, d, inputs, output, degs, s=s, method="direct")
        b = equivariant_dimension(group, d, inputs, output, degs, s=s)
        c = equivariant_dimension(group, d, inputs, output, degs, s=s, all_roots=True)
        assert a == b == c, (group, d, s, inputs, output, degs, a, b, c)
        checked += 1
        nonzero += a > 0
    assert nonzero > 30  # the sample is not trivially all zeros


def test_another_prime_gives_the_same_answers():
    p = 2147483629  # another prime below 2**31
    assert isotropic_dimension("O", 3, 8, prime=p) == 91
    assert equivariant_dimension("O", 4, [V] * 3, (2, "none", False), (2, 2, 2), prime=p) == 23


# ----------------------------------------------------------------------------------
# Internals: exact modular rank, argument checks, independence from the package
# ----------------------------------------------------------------------------------

def _rank_fraction_free(M):
    """Exact rank over Q with python integers (Bareiss-free simple elimination)."""
    from fractions import Fraction

    A = [[Fraction(int(x)) for x in row] for row in M]
    rank, rows = 0, len(A)
    cols = len(A[0]) if rows else 0
    for c in range(cols):
        piv = next((r for r in range(rank, rows) if A[r][c] != 0), None)
        if piv is None:
            continue
        A[rank], A[piv] = A[piv], A[rank]
        for r in range(rows):
            if r != rank and A[r][c] != 0:
                f = A[r][c] / A[rank][c]
                A[r] = [x - f * y for x, y in zip(A[r], A[rank])]
        rank += 1
    return rank


@pytest.mark.parametrize("big", [False, True])
def test_rank_mod_p_matches_exact_rank(big):
    rng = np.random.default_rng(7 + big)
    p = ind.DEFAULT_PRIME
    for _ in range(25):
        nr, nc = (int(x) for x in rng.integers(1, 40, 2))
        r = int(rng.integers(0, min(nr, nc) + 1))
        A = rng.integers(-3, 4, (nr, r))
        B = rng.integers(-3, 4, (r, nc))
        if big:  # entries too large for the exact float Gram shortcut
            B = B * (2 ** 40 + 3)
        M = [[int(sum(int(A[i, k]) * int(B[k, j]) for k in range(r))) for j in range(nc)] for i in range(nr)]
        entries = {(i, j): M[i][j] for i in range(nr) for j in range(nc) if M[i][j]}
        assert ind._rank_mod_p(entries, nr, nc, p) == _rank_fraction_free(M)
    # tall, rank-deficient, several panels of the blocked elimination
    A = rng.integers(-2, 3, (300, 90))
    B = rng.integers(-2, 3, (90, 150))
    M = A @ B
    entries = {(i, j): int(M[i, j]) for i, j in zip(*np.nonzero(M))}
    assert ind._rank_mod_p(entries, 300, 150, p) == 90


def test_matmul_mod_is_exact():
    rng = np.random.default_rng(3)
    p = ind.DEFAULT_PRIME
    X = rng.integers(p - 1000, p, (20, 64)).astype(np.int64)
    Y = rng.integers(p - 1000, p, (64, 30)).astype(np.int64)
    got = ind._matmul_mod(X, Y, p)
    for i in range(20):
        for j in range(30):
            assert int(got[i, j]) == sum(int(X[i, k]) * int(Y[k, j]) for k in range(64)) % p


def test_argument_errors():
    with pytest.raises(ValueError):
        isotropic_dimension("U", 3, 2)
    with pytest.raises(ValueError):
        isotropic_dimension("Sp", 3, 2)
    with pytest.raises(ValueError):
        isotropic_dimension("Ost", 4, 2)  # s missing
    with pytest.raises(ValueError):
        equivariant_dimension("O", 3, [V], V, (1, 1))
    with pytest.raises(ValueError):
        equivariant_dimension("O", 3, [(1, "hermitian", False)], V, (1,))


def test_checker_does_not_use_the_package():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "independent_dimension.py")
    with open(path) as fh:
        tree = ast.parse(fh.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "itertools", "bisect", "collections", "numpy"}, imported
