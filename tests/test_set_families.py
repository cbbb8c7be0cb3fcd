"""Set families a{n}:1: the G x S(n)-equivariant polynomials, members exchangeable.

The oracle is the Reynolds operator of S(n) applied to the basis of the *indexed* family a[n]
(a different enumeration path: shapes over index tuples J, expanded per orbit and pruned by the
rank step): every G-equivariant polynomial in the members a_1..a_n is a combination of that
basis, and averaging over the n! member permutations projects onto the S(n)-invariant ones, so
the rank of the averaged terms is the dimension of the G x S(n)-equivariant maps. The averages
are evaluated numerically (the package's float64 reference, at small integer points, where the
values are exact integers) and their rank is computed by a Gaussian elimination mod p written
here; it must equal len(enumerate_basis("G: a{n}:1 ... -> ...", degree)) at that n.
"""

from itertools import permutations
from math import factorial

import numpy as np
import pytest

from basis_compiler import enumerate_basis
from basis_compiler.errors import SignatureError, UnsupportedError
from basis_compiler.symbolic.signature import Signature
from basis_compiler.testing import assert_equivariant, random_inputs

pytestmark = pytest.mark.time_limit(300)

P = 2_147_483_629  # a prime below 2**31: products of two residues fit int64


def rank_mod_p(m: np.ndarray) -> int:
    """Rank of an integer matrix modulo P, by plain Gaussian elimination."""
    a = np.array(m, dtype=object) % P
    a = np.array(a, dtype=np.int64)
    rank, rows, cols = 0, a.shape[0], a.shape[1]
    for c in range(cols):
        pivot = next((r for r in range(rank, rows) if a[r, c]), None)
        if pivot is None:
            continue
        a[[rank, pivot]] = a[[pivot, rank]]
        a[rank] = a[rank] * pow(int(a[rank, c]), P - 2, P) % P
        factors = a[:, c].copy()
        factors[rank] = 0
        nz = np.nonzero(factors)[0]
        for r in nz:
            a[r] = (a[r] - factors[r] * a[rank]) % P
        rank += 1
    return rank


def reynolds_dimension(text: str, family: str, n: int, degree: int, seed: int = 0) -> int:
    """dim of the G x S(n)-equivariant maps: the rank of the S(n)-averaged indexed-family basis."""
    indexed = Signature.parse(text.replace("{n}", f"[{n}]"))
    basis = enumerate_basis(indexed, degree)
    out = indexed.output
    scale = factorial(out.order)  # the reference symmetrizes with 1/k!: values become integers
    width = indexed.d ** out.order
    points = 2 * -(-len(basis) // width) + 8  # small integer points are sometimes degenerate: be generous
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(points):
        x = random_inputs(indexed, rng, integer=True)
        block = np.zeros((width, len(basis)))
        for sigma in permutations(range(n)):
            moved = dict(x, **{family: x[family][list(sigma)]})
            for c, term in enumerate(basis):
                block[:, c] += np.asarray(term.evaluate(moved)).reshape(-1) * scale
        rows.append(block)
    values = np.vstack(rows)
    exact = np.rint(values)
    assert np.abs(values - exact).max() < 1e-6, "reference values at integer points are not integers"
    return rank_mod_p(exact.astype(np.int64))


GRID = [
    ("O(3): a{n}:1 -> 2s", "a", 4),
    ("O(3): a{n}:1 -> 0", "a", 4),
    ("O(2): a{n}:1, v:1 -> 1", "a", 3),
    ("O(1,3): p{n}:1 -> 0", "p", 4),
    ("Sp(2): q{n}:1 -> 0", "q", 4),
    ("SO(3): a{n}:1 -> 1", "a", 3),  # ε terms; Σ_ij ε(a_i, a_j, ·) = 0 is dropped as a zero
]


@pytest.mark.parametrize("text, family, degree", GRID)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_dimension_is_the_reynolds_rank_of_the_indexed_basis(text, family, degree, n):
    expected = reynolds_dimension(text, family, n, degree)
    basis = enumerate_basis(text.replace("{n}", f"{{{n}}}"), degree)
    assert len(basis) == expected, (text, n, degree, len(basis), expected)


@pytest.mark.parametrize("text, single", [("O(3): a{1}:1 -> 2s", "O(3): a:1 -> 2s"),
                                          ("O(2): a{1}:1, v:1 -> 1", "O(2): a:1, v:1 -> 1")])
def test_one_member_is_a_single_input(text, single):
    # at n = 1 the patterns of a degree collapse to one term each: the rank step must find it
    assert len(enumerate_basis(text, 4 if "2s" in text else 3)) == len(enumerate_basis(single, 4 if "2s" in text else 3))


def test_symbolic_size_lists_every_pattern_unpruned():
    shapes = enumerate_basis("O(3): a{n}:1 -> 2s", 2)
    formulas = [t.graph.graph.get("summed_indices", ()) for t in shapes]
    assert len(shapes) == 5  # δ, Σ_i a_i a_iᵀ, Σ_i |a_i|² δ, Σ_ij a_i a_jᵀ, Σ_ij ⟨a_i,a_j⟩ δ
    assert formulas == [(), ("i",), ("i",), ("i", "j"), ("i", "j")]
    # at n = 1 (concrete) the rank step merges Σ_ij a_i a_jᵀ into Σ_i a_i a_iᵀ
    assert len(enumerate_basis("O(3): a{1}:1 -> 2s", 2)) == 3


def test_terms_are_sums_over_members():
    basis = enumerate_basis("O(3): a{n}:1 -> 2s", 2)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 3))
    by_einsum = {t.einsum.subscripts: t for t in basis}
    assert np.allclose(by_einsum["ia,ib->ab"].evaluate({"a": a}), a.T @ a)
    s = a.sum(0)
    assert np.allclose(by_einsum["ia,jb->ab"].evaluate({"a": a}), np.outer(s, s))
    assert by_einsum["ia,jb->ab"].operand_names == ("a[i]", "a[j]")
    quartic = [t for t in enumerate_basis("O(3): a{n}:1 -> 2s", (4,)) if t.einsum.subscripts == "ia,jb,ic,jc->ab"]
    (term,) = quartic
    gram = a @ a.T
    assert np.allclose(term.evaluate({"a": a}), sum(gram[i, j] * np.outer(a[i], a[j]) for i in range(4) for j in range(4)))
    assert term.latex == r"\mathrm{Sym}\left[\sum_{ij} a_{i}^{a} a_{j}^{b} a_{i}^{c} a_{j}^{c}\right]"


@pytest.mark.parametrize("text, degree", [(t, d) for t, _, d in GRID] + [("O(3): a{n}:1, X:2s -> 2s", 3)])
def test_every_term_is_equivariant_and_permutation_invariant(text, degree):
    rng = np.random.default_rng(2)
    sig = Signature.parse(text)
    family = next(s.name for s in sig.inputs if s.is_set_family)
    for term in enumerate_basis(text, degree):
        assert_equivariant(term.evaluate, text, rng, trials=1, n=4, rtol=1e-8, atol=1e-9)
        x = random_inputs(sig, rng, n=4)
        moved = dict(x, **{family: x[family][rng.permutation(4)]})
        assert np.allclose(term.evaluate(moved), term.evaluate(x), rtol=1e-10, atol=1e-10), term


def test_zero_patterns_are_dropped():
    # Σ_i ε(a_i, a_i, ·) and Σ_ij ε(a_i, a_j, ·) vanish; nothing with ε survives at degree 2
    basis = enumerate_basis("SO(3): a{n}:1 -> 1", (2,))
    assert len(basis) == 0 and basis.stats.zero_dropped == 2
    # Sp: Σ_i q_iᵀΩq_i = 0 and Σ_ij q_iᵀΩq_j = 0
    assert len(enumerate_basis("Sp(2): q{n}:1 -> 0", (2,))) == 0


def test_signature_round_trip_and_refusals():
    for text in ["O(3): a{n}:1 -> 2s", "O(1,3): p{5}:1, v:1 -> 0", "Sp(4): q{m}:1, r{n}:1 -> 0"]:
        sig = Signature.parse(text)
        assert str(sig) == text and Signature.parse(str(sig)) == sig
        assert all(s.is_set_family for s in sig.inputs if s.is_family)
    assert Signature.parse("O(3): a{n}:1 -> 2s") != Signature.parse("O(3): a[n]:1 -> 2s")
    assert str(Signature.parse("O(3): a{n}:1 -> 2s").with_family_sizes(a=4)) == "O(3): a{4}:1 -> 2s"
    with pytest.raises(SignatureError, match="a\\{n\\}:1"):
        Signature.parse("O(3): a{}:1 -> 2s")
    with pytest.raises(SignatureError, match="not supported under S\\(3\\)"):
        Signature.parse("S(3): a{n}:1 -> 0")
    with pytest.raises(UnsupportedError, match="mixing set families"):
        enumerate_basis("O(3): a{n}:1, b[m]:1 -> 0", 2)


def test_generated_modules_refuse_mixed_set_and_indexed_families():
    # Set families have generated modules (tests/test_set_family_codegen.py); a signature mixing
    # them with indexed families is refused by every entry point, as enumerate_basis refuses it.
    from basis_compiler import compile_module, covariant_basis, invariant_features

    mixed = "O(3): a{n}:1, b[m]:1 -> 2s"
    for call in (lambda: covariant_basis(mixed, 2),
                 lambda: invariant_features(mixed, 2),
                 lambda: compile_module(mixed, 2, "covariant"),
                 lambda: compile_module(mixed, 2, "invariants"),
                 lambda: compile_module(mixed, 2, "polynomial")):
        with pytest.raises(UnsupportedError, match="mixing set families"):
            call()


def partitions_into_at_most(k: int, parts: int) -> int:
    """Integer partitions of k into at most `parts` parts (p(k, m) = p(k, m-1) + p(k-m, m))."""
    if k == 0:
        return 1
    if parts == 0 or k < 0:
        return 0
    return partitions_into_at_most(k, parts - 1) + partitions_into_at_most(k - parts, parts)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_scalar_members_give_the_symmetric_polynomials(n):
    # a{n}:0 is n exchangeable numbers: the invariants of degree k are the symmetric polynomials,
    # one monomial symmetric function per partition of k into at most n parts
    basis = enumerate_basis(f"O(3): a{{{n}}}:0 -> 0", 5)
    assert len(basis) == sum(partitions_into_at_most(k, n) for k in range(6))


def test_show_and_exports():
    from basis_compiler.inspect.export import from_json, table, to_dot

    basis = enumerate_basis("O(3): a{n}:1 -> 2s", 2)
    text = table(basis)
    assert "Σ_i a_i a_iᵀ" in text and "Σ_ij ⟨a_i,a_j⟩ δ" in text and "ia,jb->ab" in text
    graphs = from_json(basis.to_json())
    assert [dict(g.nodes(data=True)) for g in graphs] == [dict(t.graph.nodes(data=True)) for t in basis]
    assert "a_i" in to_dot(basis)
