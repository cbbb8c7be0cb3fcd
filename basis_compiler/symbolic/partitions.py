"""Partition diagrams, the terms of the permutation group S(n) (docs/math.md, "The permutation group").

The isotropic tensors of S(n) are generalized Kronecker deltas, so a term joins any number of
legs (output terminals and input legs together) through one delta: a term is a set partition
of the template's legs. A partition is stored as its restricted growth string (RGS): the block
number of each leg, blocks numbered in order of first appearance, so equal partitions have
equal strings and the lexicographic order on strings is a total order on partitions.

Two partitions that differ by a symmetry of the template (copies of one input, legs of a
symmetric/antisymmetric vertex, terminals of a symmetric/antisymmetric output) are the same
function up to the sign of that symmetry. Orbits are found by brute force over the template's
symmetry group: the set partitions are visited in increasing RGS order, and the first one not
yet seen is the least of its orbit (the canonical key); its whole orbit is then marked as seen.
The cost is about (number of set partitions) + (number of orbits) x (group order); MAX_PARTITIONS,
MAX_SYMMETRIES and MAX_ORBIT_WORK bound it, with an UnsupportedError beyond them (measured: 10
ordered legs about 3.5 s, 11 legs 15-20 s, 8 copies of a vector with an order-1 output 10 s). A symmetry that fixes a partition with sign -1 makes the term equal to minus
itself, hence zero (two legs of an antisymmetric input in one block).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import permutations, product

from ..errors import UnsupportedError
from .canonical import CanonicalForm, perm_sign
from .diagrams import IN, OUT, Template
from .signature import Signature, TensorType

MAX_PARTITIONS = 700_000
"""Most set partitions of one template's legs that are visited (Bell(11) = 678570 fits, Bell(12) does not)."""
MAX_SYMMETRIES = 50_000
"""Largest template symmetry group listed element by element (8! = 40320 copies of a vector fit)."""
MAX_ORBIT_WORK = 3_000_000
"""Most (orbit, symmetry) pairs applied while sweeping orbits."""

Symmetry = tuple[tuple[int, ...], int]
"""A template symmetry: the image of each leg, and the sign it multiplies a term by."""


@dataclass(frozen=True)
class PartitionDiagram:
    """A set partition of a template's legs: one S(n) term up to a sign."""

    template: Template
    """Vertices and legs (output terminals first, then input copies; never epsilon)."""
    rgs: tuple[int, ...]
    """Block number of each leg, numbered in order of first appearance (a restricted growth string)."""
    labels: None = None
    """Family index variables; always None (families are not supported under S(n))."""

    @cached_property
    def blocks(self) -> tuple[tuple[int, ...], ...]:
        """The blocks as sorted leg tuples, in order of their least leg."""
        out: list[list[int]] = []
        for leg, b in enumerate(self.rgs):
            if b == len(out):
                out.append([])
            out[b].append(leg)
        return tuple(tuple(b) for b in out)

    @property
    def edges(self):
        """Pairing-based stages read a Diagram's edges; a partition has none, so they get a clear
        refusal instead of an AttributeError."""
        raise UnsupportedError(
            f"{self.template.signature}: S(n) terms are partition diagrams (blocks, not pairings) and have no "
            "pairing edges; read .blocks or the term's einsum instead (code generation prints S(n) layers from "
            "the einsum: compile_module('S(5): X:2 -> 2', 1, 'polynomial', channels=4))"
        )

    def components(self) -> list[list[int]]:
        """Connected components (vertices joined through shared blocks) as sorted vertex lists."""
        t = self.template
        parent = list(range(len(t.vertices)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for block in self.blocks:
            first = find(t.leg_vertex[block[0]])
            for leg in block[1:]:
                other = find(t.leg_vertex[leg])
                if other != first:
                    parent[other] = first
        groups: dict[int, list[int]] = {}
        for vi in range(len(t.vertices)):
            groups.setdefault(find(vi), []).append(vi)
        return sorted(groups.values())


def set_partitions(n: int) -> Iterator[tuple[int, ...]]:
    """Every set partition of n items as an RGS, in increasing lexicographic order."""
    rgs = [0] * n

    def rec(i: int, top: int) -> Iterator[tuple[int, ...]]:
        if i == n:
            yield tuple(rgs)
            return
        for b in range(top + 2):
            rgs[i] = b
            yield from rec(i + 1, max(top, b))

    if n == 0:
        yield ()
        return
    yield from rec(1, 0)


def bell_number(n: int) -> int:
    """The number of set partitions of n items (Bell triangle)."""
    row = [1]
    for _ in range(n):
        nxt = [row[-1]]
        for x in row:
            nxt.append(nxt[-1] + x)
        row = nxt
    return row[0]


def symmetry_order(t: Template) -> int:
    """Order of the template's symmetry group (copies, leg orders of symmetric vertices, output terminals)."""
    size = 1
    for v in t.vertices:
        if v.kind == IN and v.symmetry != "none":
            size *= math.factorial(v.nlegs)
    for a in t.multidegree:
        size *= math.factorial(a)
    if t.signature.output.symmetry != "none":
        size *= math.factorial(t.signature.output.order)
    return size


def template_symmetries(t: Template) -> list[Symmetry]:
    """Every element of the template's symmetry group as (leg images, sign), the identity first.

    An element permutes the copies of each input (slot by slot), then the legs within each
    symmetric/antisymmetric input copy, and the terminals of a symmetric/antisymmetric output;
    the sign is that of the leg permutations of antisymmetric vertices and output."""
    if symmetry_order(t) > MAX_SYMMETRIES:
        raise UnsupportedError(
            f"{t.signature} at multidegree {t.multidegree}: the template has {symmetry_order(t):,} symmetries "
            f"(copies of an input, symmetric legs); partition diagrams are canonicalised by brute force over "
            f"at most {MAX_SYMMETRIES:,}; lower the degree"
        )
    factors: list[list[tuple[dict[int, int], int]]] = []
    out = t.signature.output
    out_legs = [leg for vi, v in enumerate(t.vertices) if v.kind == OUT for leg in t.vertex_legs[vi]]
    if out.symmetry != "none" and len(out_legs) > 1:
        factors.append([(dict(zip(out_legs, p)), perm_sign(p) if out.symmetry == "anti" else 1)
                        for p in permutations(out_legs)])
    for i, spec in enumerate(t.signature.inputs):
        copies = [vi for vi, v in enumerate(t.vertices) if v.kind == IN and v.input == i]
        if len(copies) > 1 and spec.type.order > 0:
            # move copy c's legs onto copy p[c]'s legs, slot by slot
            factors.append([({a: b for c, pc in zip(copies, p)
                              for a, b in zip(t.vertex_legs[c], t.vertex_legs[pc])}, 1)
                            for p in permutations(copies)])
        if spec.type.symmetry != "none" and spec.type.order > 1:
            for c in copies:
                legs = t.vertex_legs[c]
                factors.append([(dict(zip(legs, p)), perm_sign(p) if spec.type.symmetry == "anti" else 1)
                                for p in permutations(legs)])
    elements = []
    for choice in product(*factors):
        image = list(range(t.nlegs))
        sign = 1
        for mapping, s in choice:
            # compose: each factor acts after the previous ones
            image = [mapping.get(x, x) for x in image]
            sign *= s
        elements.append((tuple(image), sign))
    return elements


def apply(rgs: tuple[int, ...], image: tuple[int, ...]) -> tuple[int, ...]:
    """The partition with leg l moved to image[l], renumbered as an RGS."""
    moved = [0] * len(rgs)
    for leg, b in enumerate(rgs):
        moved[image[leg]] = b
    renumber: dict[int, int] = {}
    return tuple(renumber.setdefault(b, len(renumber)) for b in moved)


def canonical_partition(diagram: PartitionDiagram, symmetries: list[Symmetry] | None = None) -> CanonicalForm:
    """Least RGS of the diagram's orbit, the sign with diagram = sign * (function of the key), and
    whether a symmetry maps the diagram to minus itself (then it is zero and the sign is 0)."""
    symmetries = template_symmetries(diagram.template) if symmetries is None else symmetries
    best, signs = None, set()
    for image, sign in symmetries:
        img = apply(diagram.rgs, image)
        if best is None or img < best:
            best, signs = img, {sign}
        elif img == best:
            signs.add(sign)
    zero = len(signs) > 1
    return CanonicalForm((best,), 0 if zero else signs.pop(), zero)


def partition_orbits(t: Template) -> tuple[list[tuple[PartitionDiagram, CanonicalForm]], int, int]:
    """Distinct nonzero partition terms of a template, as (diagram, canonical form) with the
    diagram the least RGS of its orbit; ordered by number of blocks, then RGS (so the exact rank
    step, which prefers earlier terms, keeps the coarse partitions when n < legs).
    Returns (terms, set partitions visited, zero orbits dropped)."""
    total = bell_number(t.nlegs)
    if total > MAX_PARTITIONS:
        raise UnsupportedError(
            f"{t.signature} at multidegree {t.multidegree}: {t.nlegs} legs have {total:,} set partitions "
            f"(limit {MAX_PARTITIONS:,}, 11 legs); lower the degree or the output order"
        )
    symmetries = template_symmetries(t)
    seen: set[tuple[int, ...]] = set()
    found, zeros, work = [], 0, 0
    for rgs in set_partitions(t.nlegs):
        if rgs in seen:
            continue
        work += len(symmetries)
        if work > MAX_ORBIT_WORK:
            raise UnsupportedError(
                f"{t.signature} at multidegree {t.multidegree}: the orbit sweep over {len(symmetries):,} "
                f"template symmetries exceeds {MAX_ORBIT_WORK:,} steps; lower the degree"
            )
        zero = False
        for image, sign in symmetries:
            img = apply(rgs, image)
            if img == rgs:
                zero = zero or sign < 0
            elif len(symmetries) > 1:
                seen.add(img)
        if zero:
            zeros += 1
        else:
            found.append((PartitionDiagram(t, rgs), CanonicalForm((rgs,), 1, False)))
    found.sort(key=lambda item: (max(item[0].rgs, default=-1), item[0].rgs))
    return found, total, zeros


def output_symmetry(diagram: PartitionDiagram) -> str | None:
    """'sym' / 'anti' when the unsymmetrized term is already (anti)symmetric in its output legs."""
    t = diagram.template
    sig = t.signature
    k = sig.output.order
    if k < 2:
        return "sym"
    plain = Template(Signature(sig.group, sig.inputs, TensorType(k, "none", sig.output.pseudo)), t.multidegree, False)
    symmetries = template_symmetries(plain)
    base = canonical_partition(PartitionDiagram(plain, diagram.rgs), symmetries)
    signs = set()
    for p in range(k - 1):
        # output terminals are legs 0..k-1: swap terminals p and p+1
        image = tuple({p: p + 1, p + 1: p}.get(leg, leg) for leg in range(t.nlegs))
        cf = canonical_partition(PartitionDiagram(plain, apply(diagram.rgs, image)), symmetries)
        if cf.key != base.key:
            return None
        signs.add(cf.sign * base.sign)
    return "sym" if signs == {1} else "anti" if signs == {-1} else None
