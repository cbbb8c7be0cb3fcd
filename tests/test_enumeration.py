"""The symbolic stage: known dimensions, canonical keys with signs, zero detection."""

import numpy as np
import pytest

from basis_compiler import DegreeError, covariant_basis, enumerate_basis, invariant_features
from basis_compiler.symbolic.canonical import canonical_form
from basis_compiler.symbolic.diagrams import OUT, Diagram
from basis_compiler.symbolic.enumeration import raw_matchings, templates
from basis_compiler.symbolic.evaluate import reference_value
from basis_compiler.symbolic.signature import Signature
from basis_compiler.testing import random_inputs


# A hang (say in the exact rank step) fails in a minute, not at the CI timeout (tests/conftest.py).
pytestmark = pytest.mark.time_limit(60)


@pytest.mark.parametrize(
    "signature, degree, expected",
    [
        ("O(3): -> 8", 0, 91),
        ("O(4): -> 8", 0, 105),
        ("O(2): -> 6", 0, 10),
        ("O(3): -> 4", 0, 3),
        ("O(3): -> 3", 0, 0),
        ("SO(3): -> 3", 0, 1),
        ("O(3): -> 3p", 0, 1),
        ("O(3): a:1, b:1, c:1, e:1 -> 0", (1, 1, 1, 1), 3),
        ("O(2): a:1, b:1, c:1, e:1 -> 0", (1, 1, 1, 1), 3),
        ("SO(3): u:1, v:1, w:1 -> 0", (1, 1, 1), 1),
        ("O(3): u:1, v:1, w:1 -> 0", (1, 1, 1), 0),
        ("O(3): u:1, v:1, w:1 -> 0p", (1, 1, 1), 1),
        ("SO(3): v:1, w:1 -> 1", (1, 1), 1),
        ("O(3): v:1, w:1 -> 1p", (1, 1), 1),
        ("O(3): v:1, w:1 -> 1", (1, 1), 0),
        ("Sp(4): q:1, p:1 -> 0", (1, 1), 1),
        ("Sp(4): q:1 -> 0", (2,), 0),
        ("Sp(2): -> 4", 0, 2),
        ("Sp(4): -> 4", 0, 3),
        ("O(3): v:1 -> 2s", (2,), 2),
        ("O(1,3): v:1 -> 2s", (2,), 2),
        ("O(3): A:2a -> 0", (1,), 0),
        ("O(3): X:2s -> 0", (3,), 3),
        ("O(3): v:1, X:2s -> 2s", 3, 20),
    ],
)
def test_known_dimensions(signature, degree, expected):
    assert len(enumerate_basis(signature, degree)) == expected


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_vectors_to_vector_degree_one(n):
    sig = "O(4): " + ", ".join(f"v{i}:1" for i in range(n)) + " -> 1"
    assert len(enumerate_basis(sig, 1)) == n


def test_small_d_has_fewer_terms():
    # maps from three vectors to a 2-tensor, quadratic in each: every diagram is independent at d=4
    o2 = enumerate_basis("O(2): u:1, v:1, w:1 -> 2", (2, 2, 2))
    o4 = enumerate_basis("O(4): u:1, v:1, w:1 -> 2", (2, 2, 2))
    assert len(o2) < len(o4) == o4.stats.orbits


def test_gram_determinant_relation_in_d2():
    # degree (2,2,2): uu.vv.ww, uu.vw^2, vv.uw^2, ww.uv^2, uv.vw.uw; in d = 2 the 3x3 Gram
    # determinant (a combination of exactly these five) vanishes
    sig = "O(2): u:1, v:1, w:1 -> 0"
    assert enumerate_basis(sig, (2, 2, 2)).stats.orbits == 5
    assert len(enumerate_basis(sig, (2, 2, 2))) == 4
    assert len(enumerate_basis(sig.replace("O(2)", "O(3)"), (2, 2, 2))) == 5


def test_cost_does_not_grow_with_d():
    small = enumerate_basis("O(6): v:1, w:1 -> 3", 3)
    big = enumerate_basis("O(1000): v:1, w:1 -> 3", 3)
    assert len(small) == len(big) == big.stats.orbits
    assert small.stats.candidates == big.stats.candidates


def test_raw_matchings_are_not_visited():
    b = enumerate_basis("O(3): X:2s -> 2s", (8,))
    assert b.stats.raw_matchings == 34459425
    assert b.stats.candidates < 1000 and b.stats.orbits == 67  # sum of partition numbers p(0..8)


def test_families_shapes_and_concrete():
    shapes = enumerate_basis("O(5): a[n]:1 -> 2s", 2)
    assert len(shapes) == 3 and all(t.is_shape or sum(t.multidegree) == 0 for t in shapes)
    concrete = enumerate_basis("O(5): a[4]:1 -> 2s", 2)
    assert len(concrete) == 1 + 2 * (4 * 5 // 2)
    cov = covariant_basis("O(5): a[100]:1 -> 2s", 2)
    assert len(cov) == 2 and all(t.is_covariant for t in cov)
    inv = invariant_features("O(5): a[100]:1 -> 2s", 2)
    assert len(inv) == 1 and inv[0].is_invariant
    # the shape a_i a_j^T (symmetric output) is symmetric in (i, j)
    (outer,) = [t for t in cov if sum(t.multidegree) == 2]
    assert {perm for perm, sign in outer.index_symmetry} == {(0, 1), (1, 0)}
    assert all(sign == 1 for _, sign in outer.index_symmetry)


def test_family_antisymmetric_shape_is_not_zero():
    # eps(a_i, a_j, .) is a nonzero shape, antisymmetric in (i, j); a_i x a_i vanishes
    shapes = enumerate_basis("SO(3): a[n]:1 -> 1", (2,))
    (cross,) = [t for t in shapes if t.uses_epsilon]
    assert sorted(sign for _, sign in cross.index_symmetry) == [-1, 1]
    concrete = enumerate_basis("SO(3): a[3]:1 -> 1", (2,))
    assert sum(t.uses_epsilon for t in concrete) == 3  # pairs i < j only


@pytest.mark.parametrize("bad", [-1, (1,), (1, -1, 0), "2", 1.5, True])
def test_bad_degree(bad):
    with pytest.raises(DegreeError):
        enumerate_basis("O(3): v:1, w:1 -> 0", bad)


METAMORPHIC = [
    ("O(3): v:1, X:2s -> 2s", (2, 2)),
    ("O(3): A:2a, v:1 -> 2", (2, 2)),
    ("SO(3): u:1, v:1 -> 2a", (2, 1)),
    ("SO(3): u:1, A:2a -> 1", (2, 2)),
    ("O(3): v:1, w:1 -> 2a", (1, 1)),
    ("Sp(4): q:1, M:2 -> 2", (2, 1)),
    ("Sp(4): q:1, S:2s -> 2s", (2, 2)),
    ("Sp(4): q:1, A:2a -> 2a", (2, 2)),
    ("O(1,3): p:1, F:2a -> 1", (1, 2)),
    ("O(3): C:3, v:1 -> 3s", (1, 2)),
]


def _random_symmetry(t, rng):
    """A leg permutation that only relabels copies, permutes legs of symmetric vertices and
    terminals of a symmetric output: it maps every diagram to +- the same function."""
    perm = list(range(t.nlegs))
    vertices = t.vertices
    groups = {}
    for vi, v in enumerate(vertices):
        key = ("out",) if v.kind == OUT and v.symmetry != "none" else (v.kind, v.input) if v.kind != OUT else ("out", vi)
        groups.setdefault(key, []).append(vi)
    for members in groups.values():
        images = list(rng.permutation(members))
        for src, dst in zip(members, images):
            slots = list(range(vertices[src].nlegs))
            if vertices[src].symmetry != "none" and vertices[src].kind != OUT:
                slots = list(rng.permutation(slots))
            for s, leg in enumerate(t.vertex_legs[src]):
                perm[leg] = t.vertex_legs[dst][slots[s]]
    return perm


@pytest.mark.parametrize("signature, md", METAMORPHIC)
def test_relabelled_diagrams_share_key_and_sign(signature, md, rng):
    sig = Signature.parse(signature)
    oriented = sig.group.form_antisymmetric
    inputs = random_inputs(sig, rng)
    checked = 0
    for t in templates(sig, md):
        for k, edges in enumerate(raw_matchings(t)):
            if k % 3:
                continue
            d1 = Diagram(t, edges)
            perm = _random_symmetry(t, rng)
            d2 = Diagram(t, tuple(sorted((min(perm[u], perm[v]), max(perm[u], perm[v])) for u, v in edges)))
            c1, c2 = canonical_form(d1, oriented), canonical_form(d2, oriented)
            assert c1.key == c2.key
            y1, y2 = reference_value(d1, inputs), reference_value(d2, inputs)
            # an independent float check of the keys' claim: d1 = c1.sign R and d2 = c2.sign R
            if c1.zero:
                assert c2.zero and np.allclose(y1, 0, atol=1e-9) and np.allclose(y2, 0, atol=1e-9)
            else:
                scale = max(1.0, np.abs(y1).max())
                assert np.allclose(y2 * c2.sign, y1 * c1.sign, atol=1e-9 * scale)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("signature, md", METAMORPHIC)
def test_zero_flags_agree_with_evaluation(signature, md, rng):
    # Flagged zero must vanish numerically. The converse needs d large: at d = 3 some terms vanish
    # by a dimension identity (u^T A (eps:A) = 0 for antisymmetric A), which the rank step drops.
    sig = Signature.parse(signature)
    big = Signature.parse(signature.replace("(3)", "(7)").replace("(4)", "(8)").replace("(1,3)", "(1,7)"))
    inputs, big_inputs = random_inputs(sig, rng), random_inputs(big, rng)
    for t in templates(sig, md):
        for edges in raw_matchings(t):
            d = Diagram(t, edges)
            zero = canonical_form(d, sig.group.form_antisymmetric).zero
            if zero:
                assert np.allclose(reference_value(d, inputs), 0, atol=1e-9)
            elif not t.epsilon:
                y = reference_value(Diagram(type(t)(big, t.multidegree, False), edges), big_inputs)
                assert not np.allclose(y, 0, atol=1e-9)
    for term in enumerate_basis(sig, md):
        assert not np.allclose(term.evaluate(inputs), 0, atol=1e-9)


def test_dedup_is_idempotent():
    b1 = enumerate_basis("O(3): v:1, X:2s -> 2s", 4)
    b2 = enumerate_basis("O(3): v:1, X:2s -> 2s", 4)
    keys1 = [canonical_form(t.diagram, False).key for t in b1]
    assert len(set(keys1)) == len(keys1)
    assert keys1 == [canonical_form(t.diagram, False).key for t in b2]
