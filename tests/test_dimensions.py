"""The enumerated basis has the dimension that an independent computation finds.

tests/independent_dimension.py shares no code with the package: it solves the Lie-algebra
(plus component) constraints on coefficient arrays of polynomial maps, with exact rank.
"""

import os
import sys

import pytest

from basis_compiler import Signature, enumerate_basis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import independent_dimension as ind  # noqa: E402


# A hang (say in the exact rank step) fails in a minute, not at the CI timeout (tests/conftest.py).
pytestmark = pytest.mark.time_limit(60)

GRID = [
    # (signature, multidegree)
    ("O(2): u:1, v:1, w:1 -> 2", (2, 2, 2)),
    ("O(3): u:1, v:1, w:1 -> 2", (2, 2, 2)),
    ("O(4): u:1, v:1, w:1 -> 2", (2, 2, 2)),
    ("O(2): u:1, v:1, w:1 -> 0", (2, 2, 2)),
    ("O(3): v:1, X:2s -> 2s", (2, 2)),
    ("O(2): v:1, X:2s -> 2s", (2, 2)),
    ("O(3): v:1, X:2s -> 2", (1, 2)),
    ("O(3): X:2s -> 0", (4,)),
    ("O(2): X:2s -> 0", (4,)),
    ("O(3): A:2a, v:1 -> 1", (2, 1)),
    ("O(3): A:2a -> 2a", (2,)),
    ("O(3): E:1, B:1p -> 2s", (2, 2)),
    ("O(3): E:1, B:1p -> 1p", (1, 2)),
    ("O(3): u:1, v:1 -> 1p", (1, 1)),
    ("O(3): C:3 -> 1", (1,)),
    ("O(3): C:3 -> 0", (2,)),
    ("O(3): -> 6", ()),
    ("O(2): -> 6", ()),
    ("SO(2): -> 4", ()),
    ("SO(2): u:1, v:1 -> 2", (1, 2)),
    ("SO(3): u:1, v:1 -> 2", (1, 1)),
    ("SO(3): A:2a, v:1 -> 1", (1, 1)),
    ("SO(3): v:1 -> 3", (2,)),
    ("SO(3): X:2s -> 1", (2,)),
    ("SO(4): u:1, v:1 -> 2a", (1, 1)),
    ("O(1,3): p:1, q:1 -> 2s", (2, 2)),
    ("O(1,2): p:1, F:2a -> 1", (1, 2)),
    ("O(1,3): F:2a -> 0p", (2,)),
    ("O(1,1): u:1, v:1 -> 2", (1, 2)),
    ("O(2,2): X:2s -> 2s", (2,)),
    ("Sp(2): q:1, p:1 -> 2", (2, 2)),
    ("Sp(2): -> 4", ()),
    ("Sp(4): q:1, p:1 -> 2", (1, 2)),
    ("Sp(4): S:2s -> 0", (3,)),
    ("Sp(4): q:1, M:2 -> 0", (2, 1)),
    ("Sp(4): A:2a -> 2s", (2,)),
    ("O(3): a[2]:1 -> 2s", (3,)),
    ("SO(3): a[3]:1 -> 1", (2,)),
    # cases where the exact rank step removes dependent diagrams
    ("O(3): -> 8", ()),
    ("O(3): X:2s -> 2s", (5,)),
    ("O(3): C:4 -> 4", (1,)),
    ("SO(3): u:1, v:1, w:1 -> 2", (1, 1, 1)),
    ("SO(3): A:2a, u:1 -> 2s", (2, 1)),
    ("Sp(2): q:1, p:1, r:1 -> 2", (1, 1, 2)),
    ("O(1,2): u:1, v:1, w:1 -> 1p", (1, 1, 1)),
]


def _types(sig: Signature):
    def t(x):
        return (x.order, x.symmetry, x.pseudo)

    inputs, degree_map = [], []
    for spec in sig.inputs:
        n = spec.family if spec.is_family else 1
        inputs += [t(spec.type)] * n
        degree_map.append(n)
    return inputs, degree_map, t(sig.output)


def _family_multidegrees(sizes, md):
    """All ways to split each family's degree among its members (for the independent count)."""
    from itertools import product

    choices = []
    for n, a in zip(sizes, md):
        choices.append([c for c in product(range(a + 1), repeat=n) if sum(c) == a])
    for pick in product(*choices):
        yield tuple(x for part in pick for x in part)


@pytest.mark.parametrize("signature, md", GRID)
def test_dimension_matches_independent_computation(signature, md):
    sig = Signature.parse(signature)
    inputs, sizes, output = _types(sig)
    g = sig.group
    group = {"O": "O", "SO": "SO", "Ost": "Ost", "Sp": "Sp"}[g.family]
    expected = sum(
        ind.equivariant_dimension(group, g.d, inputs, output, split, s=g.s if group == "Ost" else None)
        for split in _family_multidegrees(sizes, md)
    )
    assert len(enumerate_basis(sig, md)) == expected
