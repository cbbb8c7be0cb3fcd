"""Orbit enumeration of diagrams for one template.

Matchings are built leg by leg. Partners that a symmetry of the partial matching swaps are
tried once: unmatched legs of one symmetric/antisymmetric vertex (or of epsilon), untouched
copies of one input, untouched terminals of a symmetric output. This keeps the candidate count
near the number of orbits instead of (m-1)!!; canonical keys then merge what is left.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
import math

from ..errors import UnsupportedError
from .canonical import CanonicalForm, canonical_form, vertex_colour
from .diagrams import IN, OUT, Diagram, Template
from .partitions import PartitionDiagram, bell_number, partition_orbits
from .set_families import block_count, check_set_families, set_family_patterns
from .signature import Signature


def multidegrees(signature: Signature, degree: int | tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every multidegree of total <= degree (int), in lexicographic order, or just the given one
    (tuple). Built entry by entry, so only multidegrees that exist are visited."""
    if isinstance(degree, tuple):
        return [degree]

    def rest(n: int, budget: int) -> Iterator[tuple[int, ...]]:
        if n == 0:
            yield ()
            return
        for a in range(budget + 1):
            for tail in rest(n - 1, budget - a):
                yield (a,) + tail

    return list(rest(len(signature.inputs), degree))


def at_generic_size(signature: Signature, degree: int | tuple[int, ...]) -> Signature:
    """A signature whose group has a symbolic size (S(n)) at the size its terms are listed at: the
    most legs a term of this degree has (at least 1). Partition diagrams on m legs are
    independent at every n >= m (docs/math.md), so the terms there are the terms of every larger
    n. Any other signature is returned as it is."""
    if signature.group.size_symbol is None:
        return signature
    orders = [s.type.order for s in signature.inputs]
    if isinstance(degree, int):
        inner = degree * max(orders, default=0)
    else:
        inner = sum(a * o for a, o in zip(degree, orders))
    legs = inner + signature.output.order
    return replace(signature, group=signature.group.at_size(max(legs, 1)))


def multidegree_count(n_inputs: int, degree: int) -> int:
    """How many multidegrees of total <= degree `n_inputs` inputs have: C(degree + n, n)."""
    return math.comb(degree + n_inputs, n_inputs)


def templates(signature: Signature, md: tuple[int, ...]) -> list[Template]:
    """The templates of one multidegree: with and/or without epsilon, as the group and parity allow."""
    g = signature.group
    check_set_families(signature)
    legs = signature.output.order + sum(a * s.type.order for a, s in zip(md, signature.inputs))
    parity = (signature.output.pseudo + sum(a * s.type.pseudo for a, s in zip(md, signature.inputs))) % 2
    if g.partition_diagrams:
        # generalized deltas join any number of legs: one template, whatever the parity of legs
        return [Template(signature, md, False)]
    options = g.epsilon_options(parity)
    out = []
    for eps in options:
        if not eps and legs % 2 == 0:
            out.append(Template(signature, md, False))
        # epsilon legs must all meet other legs (epsilon against a symmetric form vanishes)
        if eps and legs >= g.d and (legs - g.d) % 2 == 0:
            out.append(Template(signature, md, True))
    return out


def raw_matchings(t: Template) -> Iterator[tuple[tuple[int, int], ...]]:
    """Perfect matchings of the template's legs, pruned by the partial matching's obvious symmetries."""
    n = t.nlegs
    partner = [-1] * n
    touched = [0] * len(t.vertices)
    probe = Diagram(t, ())
    colours = [vertex_colour(probe, vi) for vi in range(len(t.vertices))]
    leg_vertex, leg_slot = t.leg_vertex, t.leg_slot
    sym = [v.symmetry != "none" for v in t.vertices]
    # A leg pair of one vertex contracted through the form vanishes when the symmetries clash:
    # an antisymmetric vertex (epsilon included) with a symmetric form, a symmetric one with Omega.
    clash = "sym" if t.signature.group.form_antisymmetric else "anti"
    vanishing_loop = [v.symmetry == clash for v in t.vertices]

    def next_leg() -> int:
        # Match legs of ordered (non-symmetric) vertices first, touched ones before untouched:
        # a free leg of a symmetric vertex (epsilon, X:2s) then has interchangeable partners
        # tried once, while starting from it would branch over every distinct partner.
        best, best_rank = -1, 5
        for leg in range(n):
            if partner[leg] < 0:
                vi = leg_vertex[leg]
                rank = (0 if touched[vi] else 1) if not sym[vi] else (2 if touched[vi] else 3)
                if rank < best_rank:
                    best, best_rank = leg, rank
                    if rank == 0:
                        break
        return best

    def rec() -> Iterator[tuple[tuple[int, int], ...]]:
        leg = next_leg()
        if leg < 0:
            yield tuple(sorted((u, v) for u, v in enumerate(partner) if u < v))
            return
        vl = leg_vertex[leg]
        seen = set()
        for q in range(n):
            if q == leg or partner[q] >= 0:
                continue
            vq = leg_vertex[q]
            if vq == vl and vanishing_loop[vl]:
                continue
            if touched[vq] == 0 and vq != vl:
                key = ("u", colours[vq], "*" if sym[vq] else leg_slot[q])
            elif sym[vq]:
                key = ("t", vq)
            else:
                key = ("l", q)
            if key in seen:
                continue
            seen.add(key)
            partner[leg], partner[q] = q, leg
            touched[vl] += 1
            touched[vq] += 1
            yield from rec()
            touched[vl] -= 1
            touched[vq] -= 1
            partner[leg] = partner[q] = -1

    yield from rec()


def family_labels(t: Template) -> tuple[int | None, ...]:
    """Index variables 0, 1, ... for the copies of family inputs (None elsewhere)."""
    labels, nxt = [], 0
    for v in t.vertices:
        if v.kind == IN and t.signature.inputs[v.input].is_family:
            labels.append(nxt)
            nxt += 1
        else:
            labels.append(None)
    return tuple(labels)


MAX_CANDIDATES = 1_000_000
"""Most candidate matchings one template may generate before enumeration is refused."""


def orbit_representatives(t: Template) -> tuple[list[tuple[Diagram, CanonicalForm]], int, int]:
    """Distinct nonzero terms (shapes, for families) of a template, first representative per key.

    Family copies are merged like copies of one input, but a family term is zero only if it
    vanishes with every copy labelled by its own index variable (eps(a_i, a_j, .) is not zero).
    Set families (a{n}:1) give one term per equality pattern of their copies instead
    (set_family_orbits). Returns (terms, candidates generated, zero keys dropped).
    """
    if t.sums_members:
        return set_family_orbits(t)
    oriented = t.signature.group.form_antisymmetric
    labels = family_labels(t)
    has_family = any(lab is not None for lab in labels)
    found: dict[tuple, tuple[Diagram, CanonicalForm]] = {}
    zeros: set[tuple] = set()
    count = 0
    if orbit_count_lower_bound(t) > MAX_CANDIDATES:
        _refuse(t, orbit_count_lower_bound(t))
    for edges in raw_matchings(t):
        count += 1
        if count > MAX_CANDIDATES:
            _refuse(t, count)
        diagram = Diagram(t, edges)
        cf = canonical_form(diagram, oriented)
        if cf.key in found or cf.key in zeros:
            continue
        if has_family:
            labelled = Diagram(t, edges, labels)
            zero = canonical_form(labelled, oriented).zero
            diagram = labelled
        else:
            zero = cf.zero
        if zero:
            zeros.add(cf.key)
        else:
            found[cf.key] = (diagram, cf)
    return list(found.values()), count, len(zeros)


def set_family_orbits(t: Template) -> tuple[list[tuple[Diagram, CanonicalForm]], int, int]:
    """Distinct nonzero set-family terms of a template: every G-diagram orbit under every
    equality pattern of its set-family copies (blocks summed), merged by the set canonical key.
    Fewer blocks first, so the exact rank step prefers Σ_i a_i a_iᵀ to (Σ_i a_i)(Σ_j a_j)ᵀ when
    a small family size makes them equal. Returns (terms, candidates generated, zero keys dropped)."""
    oriented = t.signature.group.form_antisymmetric
    if orbit_count_lower_bound(t) > MAX_CANDIDATES:
        _refuse(t, orbit_count_lower_bound(t))
    shapes: set[tuple] = set()
    found: dict[tuple, tuple[Diagram, CanonicalForm]] = {}
    zeros: set[tuple] = set()
    count = 0
    for edges in raw_matchings(t):
        count += 1
        if count > MAX_CANDIDATES:
            _refuse(t, count)
        key = canonical_form(Diagram(t, edges), oriented).key
        if key in shapes:
            continue
        shapes.add(key)
        for labelled, cf in set_family_patterns(Diagram(t, edges), oriented):
            if cf.zero:
                zeros.add(cf.key)
            elif cf.key not in found:
                found[cf.key] = (labelled, cf)
    terms = sorted(found.values(), key=lambda item: block_count(item[0].labels))
    return terms, count, len(zeros)


def orbit_count_lower_bound(t: Template) -> int:
    """At least this many distinct matchings up to the template's symmetries: raw count over the
    size of the symmetry group (leg orders of symmetric vertices, copies of an input, symmetric
    output terminals), a cheap test for hopeless enumerations."""
    sym_size = 1
    for v in t.vertices:
        if v.symmetry != "none" and v.kind != OUT:
            sym_size *= math.factorial(v.nlegs)
    for a in t.multidegree:
        sym_size *= math.factorial(a)
    if t.signature.output.symmetry != "none":
        sym_size *= math.factorial(t.signature.output.order)
    return -(-raw_matching_count(t) // sym_size)


def _refuse(t: Template, at_least: int) -> None:
    raise UnsupportedError(
        f"{t.signature} at multidegree {t.multidegree}: at least {at_least:.3g} candidate diagrams "
        f"({t.nlegs} legs{', with epsilon' if t.epsilon else ''}; limit {MAX_CANDIDATES:,}); "
        "lower the degree or the output order"
    )


def diagram_orbits(t: Template) -> tuple[list[tuple[Diagram | PartitionDiagram, CanonicalForm]], int, int]:
    """Distinct nonzero terms of a template with the enumerator its group uses: pairings
    (orbit_representatives) or set partitions of the legs (S(n), partitions.partition_orbits).
    Returns (terms, candidates generated, zero keys dropped)."""
    if t.signature.group.partition_diagrams:
        return partition_orbits(t)
    return orbit_representatives(t)


def raw_diagram_count(t: Template) -> int:
    """How many diagrams a naive enumeration visits: (m-1)!! pairings, or Bell(m) set partitions."""
    if t.signature.group.partition_diagrams:
        return bell_number(t.nlegs)
    return raw_matching_count(t)


def raw_matching_count(t: Template) -> int:
    """(m-1)!! for m legs, where epsilon legs may not meet each other."""
    m = t.nlegs
    eps = t.signature.d if t.epsilon else 0
    rest = m - eps
    # choose partners of the epsilon legs among the others, then pair up the remainder
    count = 1
    for i in range(eps):
        count *= rest - i
    free = rest - eps
    for k in range(free - 1, 0, -2):
        count *= k
    return count
