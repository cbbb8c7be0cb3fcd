"""Set families a{n}:1 (docs/math.md, "Set families"): the terms of G x S(n).

The members of a set family are exchangeable, so a term must be invariant under permuting them.
A term is a G-diagram whose family copies carry *block ids* as labels (several copies may share
one): copies with the same block id are the same member, and every block is summed over all
members independently,

    term = Σ_{J: blocks -> [n]} D_J        (e.g. Σ_i a_i a_iᵀ, Σ_ij ⟨a_i,a_j⟩ a_i a_jᵀ).

Equivalently: a shape of the indexed family a[n] summed over J restricted to one equality
pattern (a set partition of its index variables). Block ids are dummy summation variables, so
two labellings that differ by renaming blocks (within one family) are the same term. The
canonical key is therefore the least labelled canonical key (canonical.canonical_form, where
equal labels are equal vertex colours, so copies of one block are interchangeable) over every
renaming of the blocks, brute force: a term has at most a few blocks (MAX_SET_COPIES copies).
A renaming or an automorphism that maps the labelled diagram to minus itself makes the sum
zero (Σ_ij ε(a_i, a_j, ·) = 0, since renaming i <-> j flips its sign).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import permutations, product

from ..errors import UnsupportedError
from .canonical import CanonicalForm, canonical_form
from .diagrams import IN, Diagram, Template
from .partitions import set_partitions
from .signature import Signature

MAX_SET_COPIES = 7
"""Most copies of one set family in a term (its set partitions and block renamings are listed)."""


def check_set_families(signature: Signature) -> None:
    """Refuse what set-family terms do not cover yet: a signature that mixes set families (a{n})
    with indexed families (b[m]), whose terms would need free index tuples and sums at once."""
    kinds = {s.is_set_family for s in signature.inputs if s.is_family}
    if len(kinds) > 1:
        names = ", ".join(str(s) for s in signature.inputs if s.is_family)
        raise UnsupportedError(
            f"{signature}: mixing set families (a{{n}}:1) with indexed families (b[m]:1) in one signature is "
            f"not supported yet ({names}); make all of them sets or all indexed, e.g. \"O(3): a{{n}}:1, b{{m}}:1 -> 2s\""
        )


def member_components(diagram: Diagram) -> list[list[int]]:
    """Connected components of a set-family term, where copies of one block (one summed member)
    are joined as if by an edge: the member sums factor exactly over these components, so a term
    is a product of its components' terms (Σ_ij a_i a_iᵀ |a_j|² = Σ_i a_i a_iᵀ · Σ_j |a_j|²),
    while Σ_ij ⟨a_i,a_j⟩ a_i a_jᵀ is one piece. Sorted lists of vertex indices, like
    Diagram.components."""
    comps = diagram.components()
    if diagram.labels is None:
        return comps
    parent = list(range(len(comps)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[int, int] = {}
    for k, comp in enumerate(comps):
        for v in comp:
            label = diagram.labels[v]
            if label is None:
                continue
            other = first.setdefault(label, k)
            a, b = find(k), find(other)
            if a != b:
                parent[a] = b
    merged: dict[int, list[int]] = {}
    for k, comp in enumerate(comps):
        merged.setdefault(find(k), []).extend(comp)
    return sorted(sorted(c) for c in merged.values())


def set_family_copies(t: Template) -> list[list[int]]:
    """Vertex indices of the copies of each set family with copies in the template, by input."""
    copies: dict[int, list[int]] = {}
    for vi, v in enumerate(t.vertices):
        if v.kind == IN and t.signature.inputs[v.input].is_set_family:
            copies.setdefault(v.input, []).append(vi)
    out = [copies[i] for i in sorted(copies)]
    for group in out:
        if len(group) > MAX_SET_COPIES:
            raise UnsupportedError(
                f"{t.signature} at multidegree {t.multidegree}: {len(group)} copies of one set family "
                f"(limit {MAX_SET_COPIES}: their equality patterns are listed by brute force); lower the degree"
            )
    return out


def block_labellings(t: Template) -> Iterator[tuple[int | None, ...]]:
    """Every equality pattern of the set-family copies: one set partition of each family's
    copies, blocks numbered globally (family by family, first appearance within a family), so a
    block id names one summed member variable. None for vertices that are not set-family copies."""
    groups = set_family_copies(t)
    for choice in product(*(list(set_partitions(len(g))) for g in groups)):
        labels: list[int | None] = [None] * len(t.vertices)
        first = 0
        for group, rgs in zip(groups, choice):
            for vi, b in zip(group, rgs):
                labels[vi] = first + b
            first += max(rgs, default=-1) + 1
        yield tuple(labels)


def block_count(labels: tuple[int | None, ...] | None) -> int:
    """Number of blocks (summed member variables) of a labelling."""
    return len({lab for lab in labels or () if lab is not None})


def _renamings(t: Template, labels: tuple[int | None, ...]) -> Iterator[tuple[int | None, ...]]:
    """The labelling under every renaming of block ids within each family (identity first)."""
    blocks_of: dict[int, list[int]] = {}
    for vi, lab in enumerate(labels):
        if lab is not None and lab not in blocks_of.get(t.vertices[vi].input, []):
            blocks_of.setdefault(t.vertices[vi].input, []).append(lab)
    families = list(blocks_of.values())
    for choice in product(*(permutations(f) for f in families)):
        rename = {a: b for family, image in zip(families, choice) for a, b in zip(family, image)}
        yield tuple(None if lab is None else rename[lab] for lab in labels)


def set_canonical_form(diagram: Diagram, oriented: bool) -> CanonicalForm:
    """Canonical key of a set-family term up to renaming its blocks, the sign of the diagram
    relative to the key's representative, and zero-ness (some renaming or automorphism maps the
    labelled diagram to minus itself, so the sum over members cancels)."""
    t = diagram.template
    best, signs, zero = None, set(), False
    for labels in _renamings(t, diagram.labels):
        cf = canonical_form(Diagram(t, diagram.edges, labels), oriented)
        zero = zero or cf.zero
        if best is None or cf.key < best:
            best, signs = cf.key, {cf.sign}
        elif cf.key == best:
            signs.add(cf.sign)
    zero = zero or len(signs) > 1
    return CanonicalForm(best, 0 if zero else signs.pop(), zero)


def set_family_patterns(diagram: Diagram, oriented: bool) -> Iterator[tuple[Diagram, CanonicalForm]]:
    """The diagram under every equality pattern of its set-family copies, with the set canonical
    form of each (zeros and repeats included: the caller merges keys)."""
    t = diagram.template
    for labels in block_labellings(t):
        labelled = Diagram(t, diagram.edges, labels)
        yield labelled, set_canonical_form(labelled, oriented)
