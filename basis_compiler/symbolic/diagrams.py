"""The graph value: vertices (input copies, the epsilon node, output terminals), legs, a matching.

Legs are numbered output terminals first, then input copies in signature order, then the
epsilon node. An edge (u, v) with u < v stands for the form B[u, v] between two tensor legs,
B^{-1}[u, v] between two output legs, and a plain delta between a tensor leg and an output leg.
For Sp the forms are antisymmetric, so this stored orientation matters (reversing flips the sign).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .signature import Signature

OUT, IN, EPS = "out", "in", "eps"


@dataclass(frozen=True)
class Vertex:
    """One node of a diagram: an input copy, the epsilon node or one output terminal."""

    kind: str
    """'in', 'eps' or 'out'."""
    input: int
    """Input index in signature order ('in'); the output position ('out'); -1 for epsilon."""
    copy: int
    """Copy number among the copies of the same input (0 for others)."""
    nlegs: int
    """Number of legs (the tensor order; 1 for an output terminal; d for epsilon)."""
    symmetry: str
    """'none' (legs ordered), 'sym' or 'anti' (legs interchangeable, anti with a sign)."""


@dataclass(frozen=True)
class Template:
    """The vertices and legs of every diagram of one multidegree (with or without epsilon)."""

    signature: Signature
    """The signature the diagram belongs to."""
    multidegree: tuple[int, ...]
    """Number of copies of each input."""
    epsilon: bool
    """Whether one Levi-Civita node takes part."""

    @cached_property
    def vertices(self) -> tuple[Vertex, ...]:
        """All vertices in leg order."""
        sig = self.signature
        out = sig.output
        vs = [Vertex(OUT, pos, 0, 1, out.symmetry) for pos in range(out.order)]
        for i, (spec, a) in enumerate(zip(sig.inputs, self.multidegree)):
            vs += [Vertex(IN, i, c, spec.type.order, spec.type.symmetry) for c in range(a)]
        if self.epsilon:
            vs.append(Vertex(EPS, -1, 0, sig.d, "anti"))
        return tuple(v for v in vs if v.nlegs > 0 or v.kind == IN)

    @cached_property
    def leg_vertex(self) -> tuple[int, ...]:
        """Vertex index of each leg."""
        return tuple(vi for vi, v in enumerate(self.vertices) for _ in range(v.nlegs))

    @cached_property
    def leg_slot(self) -> tuple[int, ...]:
        """Slot (index position) of each leg within its vertex."""
        return tuple(s for v in self.vertices for s in range(v.nlegs))

    @cached_property
    def vertex_legs(self) -> tuple[tuple[int, ...], ...]:
        """Legs of each vertex, in slot order."""
        legs, start = [], 0
        for v in self.vertices:
            legs.append(tuple(range(start, start + v.nlegs)))
            start += v.nlegs
        return tuple(legs)

    @property
    def nlegs(self) -> int:
        """Total number of legs."""
        return len(self.leg_vertex)

    @cached_property
    def sums_members(self) -> bool:
        """Whether a set family (a{n}:1) has copies here: its terms sum over members, with block
        ids as labels (symbolic/set_families.py), and pairing independence says nothing about them."""
        return any(v.kind == IN and self.signature.inputs[v.input].is_set_family for v in self.vertices)

    def is_tensor_leg(self, leg: int) -> bool:
        """Input or epsilon leg (as opposed to an output terminal)."""
        return self.vertices[self.leg_vertex[leg]].kind != OUT


@dataclass(frozen=True)
class Diagram:
    """A perfect matching on a template's legs: one term up to a sign."""

    template: Template
    """Vertices and legs."""
    edges: tuple[tuple[int, int], ...]
    """Matched leg pairs (u, v), u < v, sorted; orientation u -> v for antisymmetric forms."""
    labels: tuple[int, ...] | None = None
    """For family copies: the index variable of each vertex (None where not a family copy); for
    set families (a{n}:1) a block id, shared by the copies that are one summed member."""

    @cached_property
    def partner(self) -> tuple[int, ...]:
        """Partner leg of each leg."""
        p = [0] * self.template.nlegs
        for u, v in self.edges:
            p[u], p[v] = v, u
        return tuple(p)

    def components(self) -> list[list[int]]:
        """Connected components as sorted lists of vertex indices (a vertex with no legs is alone)."""
        t = self.template
        parent = list(range(len(t.vertices)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for u, v in self.edges:
            a, b = find(t.leg_vertex[u]), find(t.leg_vertex[v])
            if a != b:
                parent[a] = b
        groups: dict[int, list[int]] = {}
        for vi in range(len(t.vertices)):
            groups.setdefault(find(vi), []).append(vi)
        return sorted(groups.values())
