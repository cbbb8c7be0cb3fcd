"""Keep a linearly independent subset of candidate terms at the concrete d (exact, mod p)."""

from __future__ import annotations

import math
from itertools import permutations

import numpy as np
from tqdm import tqdm

from ..symbolic.canonical import perm_sign
from ..symbolic.evaluate import constant_operand, levi_civita
from ..errors import UnsupportedError
from .rank import PRIME, contract_mod, independent_columns
from ..symbolic.terms import Term


def independence_is_automatic(terms: list[Term]) -> bool:
    """Second fundamental theorem: without epsilon, distinct pairing orbits are independent
    once d >= legs/2 (O, SO, O(s,t)) or d >= legs (Sp)."""
    if not terms or any(t.uses_epsilon for t in terms):
        return not terms
    tmpl = terms[0].diagram.template
    if tmpl.sums_members:
        return False  # patterns of a set family coincide at small n (Σ_i a_i a_iᵀ = (Σ a)(Σ a)ᵀ at n = 1)
    return tmpl.signature.group.independence_is_automatic(tmpl.nlegs)


def random_inputs_mod_p(signature, batch: int, rng: np.random.Generator) -> dict[int, np.ndarray]:
    """Random residues per input (batch first, family axis next), with the declared symmetry."""
    d = signature.d
    out = {}
    for i, spec in enumerate(signature.inputs):
        n = spec.family if isinstance(spec.family, int) else None
        shape = (batch,) + ((n,) if n else ()) + (d,) * spec.type.order
        x = rng.integers(0, PRIME, size=shape, dtype=np.int64)
        k = spec.type.order
        if spec.type.symmetry != "none" and k > 1:
            lead = len(shape) - k
            acc = np.zeros_like(x)
            for p in permutations(range(k)):
                s = perm_sign(p) if spec.type.symmetry == "anti" else 1
                acc = acc + s * np.transpose(x, tuple(range(lead)) + tuple(lead + q for q in p))
            x = acc % PRIME
        out[i] = x
    return out


def _term_values(term: Term, xs: dict, consts: dict, batch: int) -> np.ndarray:
    spec = term.einsum
    lhs, out = spec.subscripts.split("->")
    subs = lhs.split(",") if lhs else []
    b = "\u0b85"  # a batch letter no diagram uses
    arrays, new_subs = [], []
    for ref, sub in zip(spec.refs, subs):
        if ref.kind == "input":
            x = xs[ref.input]
            label = None if term.diagram.labels is None else term.diagram.labels[ref.vertex]
            if label is not None and not term.sums_members:  # a set family keeps its member axis
                x = x[:, term.index_values[label]]
            arrays.append(x)
            new_subs.append(b + sub)
        else:
            arrays.append(constant_operand(ref, consts, term.signature.d))
            new_subs.append(sub)
    d, k = term.signature.d, term.signature.output.order
    if not any(ref.kind == "input" for ref in spec.refs):
        arrays.append(np.ones(batch, dtype=np.int64))
        new_subs.append(b)
    y = contract_mod(",".join(new_subs) + "->" + b + out, arrays)
    sym = term.signature.output.symmetry
    if sym != "none" and k > 1:
        acc = np.zeros_like(y)
        for p in permutations(range(k)):
            s = perm_sign(p) if sym == "anti" else 1
            acc = acc + s * np.transpose(y, (0,) + tuple(1 + q for q in p))
        y = acc % PRIME
    return y.reshape(batch, d**k if k else 1)


MAX_RANK_BYTES = 2 * 2**30
"""Largest estimated memory of one exact rank step (the term values at the first points)."""


def rank_step_bytes(n_terms: int, d: int, order: int) -> int:
    """Estimated peak memory of the rank step: int64 values of every term at the first batch of
    points (d**order output entries each), their stacked copy and the float64 residues."""
    width = d**order
    batch = -(-n_terms // width) + 2
    return 3 * 8 * batch * width * n_terms


def check_rank_step_fits(template) -> None:
    """Refuse a template before enumerating it when even one of its terms would not fit the
    rank step (a huge output tensor d**k where independence is not automatic)."""
    automatic = template.signature.group.independence_is_automatic(template.nlegs) and not template.sums_members
    if not template.epsilon and automatic:
        return
    _check_bytes(template.signature, template.multidegree, 1)


def _check_bytes(sig, multidegree, n_terms: int) -> None:
    need = rank_step_bytes(n_terms, sig.d, sig.output.order)
    if need > MAX_RANK_BYTES:
        raise UnsupportedError(
            f"deciding independence of {n_terms if n_terms > 1 else 'the'} terms of {sig} at multidegree "
            f"{multidegree} needs about {need / 2**30:.3g} GiB (each term has {sig.d}**{sig.output.order} output "
            f"entries; limit {MAX_RANK_BYTES / 2**30:.0f} GiB); lower the output order or the degree"
        )


def independent_terms(terms: list[Term], seed: int = 0) -> list[Term]:
    """Greedy maximal independent subset (earlier terms preferred), decided exactly mod p."""
    if independence_is_automatic(terms):
        return list(terms)
    sig = terms[0].signature
    _check_bytes(sig, terms[0].multidegree, len(terms))
    g = sig.group
    consts = {"form": g.form() % PRIME, "inverse": g.inverse_form() % PRIME}
    if any(t.uses_epsilon for t in terms):
        consts["epsilon"] = levi_civita(sig.d) % PRIME
    width = sig.d ** sig.output.order
    rng = np.random.default_rng(seed)

    def blocks():
        # Enough points for full rank in the first pass; the rank step stops at the first chunk
        # of rows that adds no rank, so more passes happen only if that was not enough.
        batch = -(-len(terms) // width) + 2
        while True:
            xs = random_inputs_mod_p(sig, batch, rng)
            # a progress bar for long rank steps (tqdm hides it when stderr is not a terminal)
            bar = tqdm(terms, desc=f"exact rank: {len(terms)} terms at {batch} points mod p", leave=False,
                       disable=None if len(terms) >= 1000 else True)
            yield np.stack([_term_values(t, xs, consts, batch) for t in bar], axis=2).reshape(-1, len(terms))
            batch = max(2, -(-256 // width))

    keep = independent_columns(blocks())
    return [terms[i] for i in keep]


MAX_INDEX_GRID = 5_000_000
"""Largest number of index tuples J (n**m) examined to list the orbits of a family term."""


def index_tuples(term: Term) -> list[tuple[int, ...]]:
    """Canonical index tuples J of a shape (the least J of each orbit of its index symmetry, in
    lexicographic order), dropping J that a sign -1 relabelling fixes (those terms vanish).

    The family sizes must be concrete. Vectorized over all n**m tuples.
    """
    sizes = term.index_sizes
    labels = sorted(sizes)
    dims = [sizes[lab] for lab in labels]
    total = math.prod(dims)  # Python ints: n**m can exceed int64
    if total > MAX_INDEX_GRID:
        raise UnsupportedError(
            f"{term!r} has {total} index tuples; lower the degree or the family size (limit {MAX_INDEX_GRID})"
        )
    grid = np.indices(dims).reshape(len(dims), -1).T if dims else np.zeros((1, 0), dtype=np.int64)
    code = np.ravel_multi_index(grid.T, dims) if dims else np.zeros(1, dtype=np.int64)
    best = code.copy()
    zero = np.zeros(code.shape, dtype=bool)
    strides = np.array([int(np.prod(dims[i + 1:])) for i in range(len(dims))], dtype=np.int64)
    symmetry = [(perm, sign) for perm, sign in term.index_symmetry
                if all(dims[p] == dims[i] for i, p in enumerate(perm))]
    for start in range(0, len(symmetry), 64):
        chunk = symmetry[start:start + 64]
        # the code of J o perm is linear in J: one product for a chunk of permutations
        weights = np.zeros((len(dims), len(chunk)), dtype=np.int64)
        for k, (perm, _) in enumerate(chunk):
            for i, j in enumerate(perm):
                weights[j, k] += strides[i]
        images = grid @ weights
        signs = np.array([sign for _, sign in chunk])
        zero |= ((images == code[:, None]) & (signs < 0)).any(1)
        np.minimum(best, images.min(1), out=best)
    keep = (best == code) & ~zero
    return [tuple(int(v) for v in row) for row in grid[keep]]
