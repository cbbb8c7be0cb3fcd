"""S(n), the permutation group: partition diagrams against independent counts.

The oracles here share no code with the package: Stirling numbers of the second kind from
their recurrence, and the rank of the Reynolds operator R = (1/n!) Σ_σ ρ(σ) on the space of
polynomial maps of one multidegree, computed in integers. R is a projector onto the
equivariant maps, so its rank is its trace, (1/n!) Σ_σ tr ρ(σ), and tr ρ(σ) is a signed count
of the basis elements (monomials in the input coordinates, times output coordinates) that σ
fixes. For a few small spaces the rank of Σ_σ ρ(σ) is also computed by exact elimination over
the rationals, so the trace shortcut is itself checked.
"""

from fractions import Fraction
from itertools import combinations, combinations_with_replacement, permutations, product
from math import factorial

import numpy as np
import pytest

from basis_compiler import enumerate_basis
from basis_compiler.errors import SignatureError, UnsupportedError
from basis_compiler.testing import assert_equivariant, random_group_element

pytestmark = pytest.mark.time_limit(120)


# ---------------------------------------------------------------------------------------------
# Independent oracles
# ---------------------------------------------------------------------------------------------


def stirling2(m: int, k: int) -> int:
    """Set partitions of m items into exactly k blocks: S(m, k) = k S(m-1, k) + S(m-1, k-1)."""
    if m == k:
        return 1
    if k == 0 or k > m:
        return 0
    return k * stirling2(m - 1, k) + stirling2(m - 1, k - 1)


def restricted_bell(m: int, n: int) -> int:
    """Set partitions of m items into at most n blocks."""
    return sum(stirling2(m, k) for k in range(0, min(m, n) + 1))


def coordinates(n: int, order: int, symmetry: str) -> list[tuple[int, ...]]:
    """Independent coordinates of a tensor on R^n: all tuples, sorted ones, or strictly increasing ones."""
    if symmetry == "sym":
        return list(combinations_with_replacement(range(n), order))
    if symmetry == "anti":
        return list(combinations(range(n), order))
    return list(product(range(n), repeat=order))


def signed_image(sigma, coord: tuple[int, ...], symmetry: str) -> tuple[tuple[int, ...], int]:
    """Where a permutation sends one coordinate, and the sign (sorting an antisymmetric index)."""
    moved = [sigma[i] for i in coord]
    if symmetry == "none":
        return tuple(moved), 1
    inversions = sum(1 for a in range(len(moved)) for b in range(a + 1, len(moved)) if moved[a] > moved[b])
    return tuple(sorted(moved)), (-1) ** inversions if symmetry == "anti" else 1


def signed_permutation(sigma, coords, symmetry):
    """(image index, sign) of each coordinate under sigma."""
    where = {c: i for i, c in enumerate(coords)}
    return [(where[img], s) for img, s in (signed_image(sigma, c, symmetry) for c in coords)]


def trace_on_monomials(action, degree: int) -> int:
    """Trace of a signed permutation of coordinates on the monomials of one degree: the signed
    count of the multisets of coordinates that it maps to themselves."""
    total = 0
    for mono in combinations_with_replacement(range(len(action)), degree):
        image = sorted(action[c][0] for c in mono)
        if image == list(mono):
            sign = 1
            for c in mono:
                sign *= action[c][1]
            total += sign
    return total


def reynolds_dimension(n: int, inputs, output, multidegree) -> int:
    """dim of S(n)-equivariant polynomial maps of one multidegree = trace of the Reynolds operator.

    inputs: [(order, symmetry)], output: (order, symmetry). Characters of permutation groups are
    real and σ is conjugate to σ⁻¹, so the trace of f ↦ σ f(σ⁻¹ ·) is χ_out(σ) Π_i χ_i(σ)."""
    total = 0
    for sigma in permutations(range(n)):
        out_coords = coordinates(n, *output)
        chi = sum(s for i, (j, s) in enumerate(signed_permutation(sigma, out_coords, output[1])) if i == j)
        for (order, sym), a in zip(inputs, multidegree):
            chi *= trace_on_monomials(signed_permutation(sigma, coordinates(n, order, sym), sym), a)
        total += chi
    assert total % factorial(n) == 0
    return total // factorial(n)


def reynolds_rank(n: int, inputs, output, multidegree) -> int:
    """Rank over Q of Σ_σ ρ(σ) on (monomials of the multidegree) x (output coordinates), by
    exact elimination: the explicit matrix version of reynolds_dimension."""
    spaces = [coordinates(n, o, s) for o, s in inputs]
    monos = [list(combinations_with_replacement(range(len(c)), a)) for c, a in zip(spaces, multidegree)]
    out_coords = coordinates(n, *output)
    basis = [(m, o) for m in product(*monos) for o in range(len(out_coords))]
    index = {b: i for i, b in enumerate(basis)}
    total = [[0] * len(basis) for _ in basis]
    for sigma in permutations(range(n)):
        acts = [signed_permutation(sigma, c, sym) for c, (_, sym) in zip(spaces, inputs)]
        out_act = signed_permutation(sigma, out_coords, output[1])
        for col, (mono, o) in enumerate(basis):
            sign = out_act[o][1]
            image = []
            for act, part in zip(acts, mono):
                image.append(tuple(sorted(act[c][0] for c in part)))
                for c in part:
                    sign *= act[c][1]
            total[index[(tuple(image), out_act[o][0])]][col] += sign
    return exact_rank(total)


def exact_rank(rows) -> int:
    """Rank over Q by Gaussian elimination with Fractions."""
    rows = [[Fraction(x) for x in r] for r in rows if any(r)]
    rank, col = 0, 0
    width = len(rows[0]) if rows else 0
    while rank < len(rows) and col < width:
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            col += 1
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        p = rows[rank]
        for i in range(rank + 1, len(rows)):
            if rows[i][col] != 0:
                f = rows[i][col] / p[col]
                rows[i] = [a - f * b for a, b in zip(rows[i], p)]
        rank += 1
        col += 1
    return rank


def multidegrees(n_inputs: int, degree) -> list[tuple[int, ...]]:
    if isinstance(degree, tuple):
        return [degree]
    return [md for md in product(range(degree + 1), repeat=n_inputs) if sum(md) <= degree]


FLAG = {"none": "", "sym": "s", "anti": "a"}


def text(n: int, inputs, output) -> str:
    ins = ", ".join(f"{name}:{o}{FLAG[s]}" for name, (o, s) in zip("XYZW", inputs))
    return f"S({n}): {ins} -> {output[0]}{FLAG[output[1]]}"


# (inputs, output, degree); every case is checked at n = 1..5 where the oracle is quick.
GRID = [
    ([(2, "none")], (2, "none"), (1,)),
    ([(1, "none")], (1, "none"), 3),
    ([(2, "sym")], (0, "none"), 2),
    ([(1, "none"), (1, "none")], (2, "none"), 2),
    ([(2, "anti")], (0, "none"), 2),
    ([(2, "anti")], (2, "anti"), (1,)),
    ([(1, "none")], (2, "anti"), 2),
    ([(1, "none")], (2, "sym"), 2),
    ([(2, "sym")], (2, "sym"), (1,)),
    ([(2, "none")], (0, "none"), 3),
    ([(3, "none")], (1, "none"), (1,)),
    ([(1, "none")], (3, "sym"), 2),
    ([(3, "anti")], (0, "none"), 2),
    ([(1, "none"), (2, "anti")], (1, "none"), (1, 1)),
]


def oracle_cost(n, inputs, output, degree):
    """Rough size of the oracle's loop: n! times the monomials of the largest multidegree."""
    size = 1
    for (o, _), a in zip(inputs, max(multidegrees(len(inputs), degree), key=sum)):
        size *= (n ** o + a) ** a
    return factorial(n) * size * n ** output[0]


CASES = [(n, *case) for case in GRID for n in range(1, 6) if oracle_cost(n, *case) < 3e6]


@pytest.mark.parametrize("n, inputs, output, degree", CASES)
def test_dimension_equals_reynolds_rank(n, inputs, output, degree):
    basis = enumerate_basis(text(n, inputs, output), degree)
    expected = sum(reynolds_dimension(n, inputs, output, md) for md in multidegrees(len(inputs), degree))
    assert len(basis) == expected


@pytest.mark.parametrize("n, inputs, output, md", [
    (2, [(2, "none")], (2, "none"), (1,)),
    (3, [(2, "none")], (2, "none"), (1,)),
    (2, [(1, "none")], (1, "none"), (3,)),
    (3, [(2, "anti")], (0, "none"), (2,)),
    (3, [(1, "none"), (1, "none")], (2, "sym"), (1, 1)),
    (4, [(1, "none")], (2, "anti"), (2,)),
])
def test_trace_shortcut_equals_explicit_reynolds_rank(n, inputs, output, md):
    # the oracle's trace formula against the rank of the explicit Reynolds matrix
    rank = reynolds_rank(n, inputs, output, md)
    assert rank == reynolds_dimension(n, inputs, output, md)
    assert len(enumerate_basis(text(n, inputs, output), md)) == rank


@pytest.mark.parametrize("n", range(1, 7))
def test_two_ign_layer_counts_partitions_with_at_most_n_blocks(n):
    # Maron et al. 2019: the linear equivariant maps R^{n x n} -> R^{n x n}, 15 once n >= 4
    assert len(enumerate_basis(f"S({n}): X:2 -> 2", (1,))) == restricted_bell(4, n)
    assert restricted_bell(4, 2) == 8 and restricted_bell(4, 3) == 14 and restricted_bell(4, 4) == 15


@pytest.mark.parametrize("signature, legs", [
    ("S(5): X:2 -> 2", 4), ("S(6): T:3 -> 2", 5), ("S(5): X:2 -> 3", 5), ("S(6): X:2, v:1 -> 3", 6),
    ("S(3): X:2 -> 1", 3), ("S(4): T:4 -> 0", 4),
])
def test_one_copy_of_each_ordered_input_gives_bell_many(signature, legs):
    degree = tuple(1 for _ in signature.split("->")[0].split(","))
    n = int(signature[2])
    assert len(enumerate_basis(signature, degree)) == restricted_bell(legs, n)


@pytest.mark.parametrize("n, legs", [(2, 5), (3, 5), (4, 6), (2, 6), (3, 7)])
def test_below_the_leg_count_the_exact_rank_step_keeps_restricted_bell(n, legs):
    # one copy of an order-(legs-2) input and an order-2 output: legs legs, all ordered
    basis = enumerate_basis(f"S({n}): T:{legs - 2} -> 2", (1,))
    assert len(basis) == restricted_bell(legs, n)
    assert basis.stats.orbits == restricted_bell(legs, legs)


def test_quadratic_invariants_of_a_vector():
    basis = enumerate_basis("S(5): x:1 -> 0", 2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5)
    values = sorted(float(t.evaluate({"x": x})) for t in basis)
    expected = sorted([1.0, x.sum(), (x ** 2).sum(), x.sum() ** 2])
    assert np.allclose(values, expected)


# ---------------------------------------------------------------------------------------------
# Equivariance, zeros, signs
# ---------------------------------------------------------------------------------------------

EQUIVARIANCE = [
    ("S(4): X:2 -> 2", (1,)),
    ("S(3): x:1 -> 1", 3),
    ("S(4): X:2s -> 2s", 2),
    ("S(4): x:1, y:1 -> 2", 2),
    ("S(4): A:2a, v:1 -> 2a", 2),
    ("S(5): x:1 -> 3s", 2),
    ("S(3): T:3a, v:1 -> 1", (1, 2)),
    ("S(2): X:2 -> 2", (2,)),
]


@pytest.mark.parametrize("signature, degree", EQUIVARIANCE)
def test_every_term_is_equivariant(signature, degree, rng):
    basis = enumerate_basis(signature, degree)
    assert len(basis) > 0
    for term in basis:
        assert_equivariant(term.evaluate, signature, rng, trials=2)


def test_random_elements_are_permutation_matrices(rng):
    from basis_compiler.symbolic.signature import Signature

    group = Signature.parse("S(6): x:1 -> 0").group
    seen = set()
    for _ in range(50):
        g = random_group_element(group, rng)
        assert set(np.unique(g)) <= {0.0, 1.0}
        assert (g.sum(0) == 1).all() and (g.sum(1) == 1).all()
        seen.add(g.tobytes())
    assert len(seen) > 30  # not stuck on a few elements


def test_antisymmetric_input_with_two_legs_in_one_block_vanishes():
    # every partition of X:2a alone: {x0 x1} (X_ii = 0) and {x0}{x1} (Σ X_ij = 0) both vanish
    basis = enumerate_basis("S(5): A:2a -> 0", (1,))
    assert len(basis) == 0 and basis.stats.zero_dropped == 2
    # the output terminals tie the legs apart: A itself survives, A_ii δ does not
    basis = enumerate_basis("S(5): A:2a -> 2", (1,))
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 5))
    a = a - a.T
    for term in basis:
        assert np.abs(term.evaluate({"A": a})).max() > 1e-9
    assert len(basis) == reynolds_dimension(5, [(2, "anti")], (2, "none"), (1,))


def test_antisymmetric_output_of_one_vector_is_zero():
    # x_i 1_j - x_j 1_i survives; δ_ij x_i and 1_i 1_j are symmetric and vanish under Alt
    basis = enumerate_basis("S(4): x:1 -> 2a", (1,))
    assert len(basis) == 1
    assert enumerate_basis("S(4): -> 2a", 0).terms == ()


def test_copies_of_one_input_merge_up_to_symmetry():
    # n >= legs, so no rank step runs: only the merging of copies brings Bell(4) = 15 down
    basis = enumerate_basis("S(4): X:2 -> 0", (2,))
    assert basis.stats.orbits == len(basis) == reynolds_dimension(4, [(2, "none")], (0, "none"), (2,))
    assert len({t.diagram.rgs for t in basis}) == len(basis) < 15


# ---------------------------------------------------------------------------------------------
# Parsing and refusals
# ---------------------------------------------------------------------------------------------


def test_signature_round_trips_and_refuses_pseudo_and_families():
    from basis_compiler.symbolic.signature import Signature

    assert str(Signature.parse("S(5): X:2s, v:1 -> 2a")) == "S(5): X:2s, v:1 -> 2a"
    with pytest.raises(SignatureError, match="pseudo.*not supported under S\\(5\\)"):
        Signature.parse("S(5): v:1p -> 0")
    with pytest.raises(SignatureError, match="family inputs"):
        Signature.parse("S(5): a[n]:1 -> 0")
    with pytest.raises(SignatureError, match="only O takes two numbers"):
        Signature.parse("S(2,3): v:1 -> 0")


def test_pairing_stages_get_a_clear_refusal():
    # pairing-based stages read edges; a partition diagram refuses with the package's error
    term = enumerate_basis("S(4): X:2 -> 2", (1,))[0]
    with pytest.raises(UnsupportedError, match="no pairing edges"):
        term.diagram.edges


def test_huge_templates_are_refused_clearly():
    with pytest.raises(UnsupportedError, match="set partitions"):
        enumerate_basis("S(20): T:12 -> 0", (1,))
    with pytest.raises(UnsupportedError, match="symmetries"):
        enumerate_basis("S(20): x:1 -> 0", (9,))


# ---------------------------------------------------------------------------------------------
# Views: the graph (checked by a brute-force sum over block values), formulas, JSON, DOT, PNG
# ---------------------------------------------------------------------------------------------


def value_from_graph(term, inputs, n):
    """The term's value summed block by block from Term.graph alone: every block node takes each
    value in 0..n-1, a leg reads its block's value, output positions too; then the output's
    declared symmetry is imposed by averaging."""
    g = term.graph
    blocks = sorted(node for node, kind in g.nodes(data="kind") if kind == "delta")
    where = {}
    for _, _, data in g.edges(data=True):
        (block, _), (node, slot) = data["legs"]
        where[(node, slot)] = blocks.index(block)
    out = term.signature.output
    y = np.zeros((n,) * out.order)
    nodes = [(node, data) for node, data in g.nodes(data=True) if data["kind"] == "input"]
    for values in product(range(n), repeat=len(blocks)):
        prod_ = 1.0
        for node, data in nodes:
            prod_ *= inputs[data["input"]][tuple(values[where[(node, s)]] for s in range(data["order"]))]
        y[tuple(values[where[(("out", p), 0)]] for p in range(out.order))] += prod_
    if out.symmetry != "none" and out.order > 1:
        acc = np.zeros_like(y)
        for p in permutations(range(out.order)):
            inversions = sum(1 for a in range(len(p)) for b in range(a + 1, len(p)) if p[a] > p[b])
            acc += (-1) ** inversions * np.transpose(y, p) if out.symmetry == "anti" else np.transpose(y, p)
        y = acc / factorial(out.order)
    return y


@pytest.mark.parametrize("signature, degree", [
    ("S(3): X:2 -> 2", (1,)), ("S(3): x:1, A:2a -> 2s", 2), ("S(3): x:1 -> 3", 2), ("S(4): X:2s -> 0", 2),
    ("S(3): -> 3a", 0), ("S(3): v:1 -> 2a", (2,)),
])
def test_graph_schema_evaluates_like_the_einsum(signature, degree):
    from basis_compiler.testing import random_inputs

    basis = enumerate_basis(signature, degree)
    n = basis.signature.d
    x = random_inputs(basis.signature, np.random.default_rng(3))
    for term in basis:
        g = term.graph
        assert all(data["kind"] == "block" and not data["oriented"] for _, _, data in g.edges(data=True))
        legs = sum(data.get("order", 1) for _, data in g.nodes(data=True) if data["kind"] in ("input", "output"))
        assert g.number_of_edges() == legs
        assert sum(data["size"] for _, data in g.nodes(data=True) if data["kind"] == "delta") == legs
        assert np.allclose(term.evaluate(x), value_from_graph(term, x, n))


def test_formulas_read_as_sums():
    from basis_compiler.inspect.export import formula

    rows = [formula(t) for t in enumerate_basis("S(5): x:1 -> 0", 2)]
    assert rows == ["1", "Σ_i x_i", "Σ_i x_i²", "(Σ_i x_i)²"]
    rows = {formula(t) for t in enumerate_basis("S(5): X:2 -> 2", (1,))}
    assert {"X_ij", "X_ji", "δ_ij X_ii", "Σ_k δ_ij X_ik", "(Σ_kl X_kl) δ_ij", "Σ_k 1_j X_ik", "1_j X_ii"} <= rows
    assert len(rows) == 15
    assert "Sym[1_j x_i]" in {formula(t) for t in enumerate_basis("S(4): x:1 -> 2s", (1,))}
    assert [formula(t) for t in enumerate_basis("S(4): -> 3", 0)][0] == "δ_ijk"


def test_json_dot_latex_and_png(tmp_path):
    import json

    import matplotlib.image
    import networkx as nx

    from basis_compiler.inspect.export import from_json, png_size, to_latex

    basis = enumerate_basis("S(4): x:1, X:2 -> 2", 1)
    for g, term in zip(from_json(basis.to_json()), basis):
        assert dict(g.nodes(data=True)) == dict(term.graph.nodes(data=True))
        assert sorted(map(repr, g.edges(data=True))) == sorted(map(repr, term.graph.edges(data=True)))
        assert nx.is_isomorphic(g, term.graph)
    data = json.loads(basis.to_json())
    assert any({"id": "delta:0", "kind": "delta", "size": 3, "block": 0} in t["graph"]["nodes"] for t in data["terms"])
    dot = basis.to_dot()
    assert dot.count("subgraph cluster_") == len(basis) and "shape=point" in dot
    latex = to_latex(basis)
    assert r"\sum_{k}" in latex and r"\delta_{ij}" in latex
    assert any(t.latex.startswith(r"\sum_{") for t in basis)  # Term.latex writes S(n) sums out
    path = tmp_path / "s4.png"
    small = enumerate_basis("S(5): X:2 -> 2", (1,))
    small.draw(path)
    assert matplotlib.image.imread(path).shape[:2] == png_size(len(small))
