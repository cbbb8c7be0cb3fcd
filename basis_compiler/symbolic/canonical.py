"""Canonical keys with signs: two diagrams get the same key exactly when they are the same
function up to sign, and the sign between them is the ratio of their signs.

A key is the sorted tuple of the canonical codes of the connected components. A component's
code is the least, over every traversal that an isomorphism cannot tell apart, of the
component relabelled in traversal order (vertex colours plus partner positions), so equal
codes mean isomorphic components. Each traversal also carries a sign: the permutation sign of
antisymmetric vertices' legs (antisymmetric inputs, epsilon), the flips of oriented Omega
edges, and of an antisymmetric output's positions. If two minimal traversals disagree in sign,
an automorphism maps the term to minus itself and the term is identically zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

from .diagrams import OUT, Diagram

Code = tuple


@dataclass(frozen=True)
class CanonicalForm:
    """The canonical key of a diagram, its sign relative to the key's representative, and zero-ness."""

    key: tuple
    """Sorted component codes (hashable; equal keys mean equal functions up to sign)."""
    sign: int
    """+1 or -1: diagram = sign * (canonical function of key)."""
    zero: bool
    """True when the diagram is identically zero (equal to minus itself)."""


def perm_sign(seq) -> int:
    """Sign of the permutation that sorts `seq` (distinct items)."""
    seq = list(seq)
    sign = 1
    for i in range(len(seq)):
        for j in range(i + 1, len(seq)):
            if seq[i] > seq[j]:
                sign = -sign
    return sign


def vertex_colour(diagram: Diagram, vi: int) -> tuple:
    """Colour of a vertex: what an isomorphism must preserve."""
    v = diagram.template.vertices[vi]
    if v.kind == OUT:
        return ("out", v.input) if v.symmetry == "none" else ("out",)
    if diagram.labels is not None and diagram.labels[vi] is not None:
        return (v.kind, v.input, diagram.labels[vi])
    return (v.kind, v.input)


def canonical_form(diagram: Diagram, oriented: bool) -> CanonicalForm:
    """Canonical key, sign and zero flag of a diagram; `oriented` for antisymmetric forms (Sp)."""
    t = diagram.template
    comps = []
    zero = False
    for vertices in diagram.components():
        code, sign, comp_zero, order = _component(diagram, vertices, oriented)
        zero = zero or comp_zero
        comps.append((code, sign, order))
    comps.sort(key=lambda c: c[0])
    sign = 1
    for _, s, _ in comps:
        sign *= s
    if t.signature.output.symmetry == "anti":
        # The output sign of the whole term: output positions in the global canonical order.
        outs = [t.vertices[t.leg_vertex[leg]].input for _, _, order in comps for leg in order
                if t.vertices[t.leg_vertex[leg]].kind == OUT]
        sign *= perm_sign(outs)
        for (c1, _, o1), (c2, _, _) in zip(comps, comps[1:]):
            n_out = sum(1 for leg in o1 if t.vertices[t.leg_vertex[leg]].kind == OUT)
            zero = zero or (c1 == c2 and n_out % 2 == 1)
    return CanonicalForm(tuple(c[0] for c in comps), 0 if zero else sign, zero)


def _component(diagram: Diagram, vertices: list[int], oriented: bool):
    """Minimal code over isomorphism-invariant traversals of one component, with sign."""
    t = diagram.template
    partner = diagram.partner
    colours = {vi: vertex_colour(diagram, vi) for vi in vertices}
    # Start from the smallest colour class (fewest members, then least colour): an invariant rule.
    classes: dict[tuple, list[int]] = {}
    for vi in vertices:
        classes.setdefault(colours[vi], []).append(vi)
    start_colour = min(classes, key=lambda c: (len(classes[c]), c))

    def partner_key(leg: int) -> tuple:
        other = partner[leg]
        w = t.leg_vertex[other]
        slot = t.leg_slot[other] if t.vertices[w].symmetry == "none" else -1
        return (colours.get(w, ()), slot)

    def orders(vi: int, entry: int | None):
        legs = t.vertex_legs[vi]
        if t.vertices[vi].symmetry == "none" or len(legs) <= 1:
            return [legs]
        rest = [leg for leg in legs if leg != entry]
        # Interchangeable legs are ordered by what they meet (an invariant), so only legs that
        # meet equal colours need to be tried in every order.
        groups: dict[tuple, list[int]] = {}
        for leg in rest:
            groups.setdefault(partner_key(leg), []).append(leg)
        result = [() if entry is None else (entry,)]
        for key in sorted(groups):
            result = [r + p for r in result for p in _group_orders(groups[key])]
        return result

    def _group_orders(legs: list[int]) -> list[tuple[int, ...]]:
        # Legs that meet leaves (one-leg vertices) of one colour: every order gives the same
        # code, since swapping two such leaves is an automorphism. Its sign is that of one
        # transposition (all are conjugate), so the identity and one swap decide zero-ness.
        if len(legs) > 1 and all(t.vertices[t.leg_vertex[partner[leg]]].nlegs == 1 for leg in legs):
            return [tuple(legs), (legs[1], legs[0], *legs[2:])]
        return list(permutations(legs))

    best = None
    best_signs: set[int] = set()
    best_order: list[int] = []
    best_core = 1
    stack = [(list(o), [vs], 0) for vs in classes[start_colour] for o in orders(vs, None)]
    while stack:
        order, visit, p = stack.pop()
        while p < len(order) and t.leg_vertex[partner[order[p]]] in visit:
            p += 1
        if p < len(order):
            q = partner[order[p]]
            vq = t.leg_vertex[q]
            for o in orders(vq, q):
                stack.append((order + list(o), visit + [vq], p + 1))
            continue
        pos = {leg: i for i, leg in enumerate(order)}
        code = (tuple(colours[vi] for vi in visit), tuple(pos[partner[leg]] for leg in order))
        if best is None or code < best:
            core, out = _traversal_sign(diagram, order, pos, oriented)
            best, best_signs, best_order, best_core = code, {core * out}, order, core
        elif code == best:
            core, out = _traversal_sign(diagram, order, pos, oriented)
            best_signs.add(core * out)
    # The output's own sign is applied once for the whole term (canonical_form), so the
    # component reports its sign without it; zero-ness uses the full sign.
    return best, best_core, len(best_signs) > 1, best_order


def _traversal_sign(diagram: Diagram, order: list[int], pos: dict[int, int], oriented: bool) -> tuple[int, int]:
    """(sign from antisymmetric vertices and Omega orientations, sign of an antisymmetric output's order)."""
    t = diagram.template
    sign = 1
    out_positions = []
    seen_anti = set()
    for leg in order:
        vi = t.leg_vertex[leg]
        v = t.vertices[vi]
        if v.kind == OUT:
            out_positions.append(v.input)
        elif v.symmetry == "anti" and vi not in seen_anti:
            seen_anti.add(vi)
            sign *= perm_sign([t.leg_slot[x] for x in order if t.leg_vertex[x] == vi])
    if oriented:
        for leg in order:
            other = diagram.partner[leg]
            if leg < other and t.is_tensor_leg(leg) == t.is_tensor_leg(other) and pos[leg] > pos[other]:
                sign = -sign
    out_sign = perm_sign(out_positions) if t.signature.output.symmetry == "anti" else 1
    return sign, out_sign
