"""A basis term: a diagram (plus index values for a concrete family member) with its views."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import networkx as nx
import numpy as np

from .diagrams import EPS, OUT, Diagram
from ..errors import DegreeError
from .evaluate import INDEX_NAMES, EinsumSpec, OperandRef, einsum_spec, index_name, reference_value

__all__ = ["INDEX_NAMES", "Term"]


@dataclass(frozen=True)
class Term:
    """One equivariant polynomial term (for a symbolic family: a shape over index tuples J)."""

    diagram: Diagram
    """The contraction graph (family copies carry index variables as labels)."""
    index_values: tuple[int, ...] | None = None
    """Concrete family members per index variable, or None (no family, or a shape)."""
    index_symmetry: tuple[tuple[tuple[int, ...], int], ...] = ()
    """Shapes: (permutation of index variables, sign) pairs under which the term maps to sign * itself."""

    @property
    def signature(self):
        """The signature this term belongs to."""
        return self.diagram.template.signature

    @property
    def multidegree(self) -> tuple[int, ...]:
        """Number of copies of each input (a family counts all its members)."""
        return self.diagram.template.multidegree

    @property
    def uses_epsilon(self) -> bool:
        """Whether the Levi-Civita symbol appears."""
        return self.diagram.template.epsilon

    @property
    def is_shape(self) -> bool:
        """A family term whose index tuple J is still free (never a set-family term: its blocks are summed)."""
        return self.diagram.labels is not None and self.index_values is None and not self.sums_members

    @property
    def sums_members(self) -> bool:
        """A set-family term (a{n}:1): copies carry block ids, every block summed over the members."""
        return self.diagram.template.sums_members

    @cached_property
    def block_letters(self) -> dict[int, str]:
        """Set families: the summed member letter of each block id, as in the einsum ('a[i]')."""
        if not self.sums_members:
            return {}
        spec = self.einsum
        return {self.diagram.labels[ref.vertex]: name[name.index("[") + 1:-1]
                for ref, name in zip(spec.refs, spec.operands)
                if ref.kind == "input" and self.diagram.labels[ref.vertex] is not None}

    @cached_property
    def einsum(self) -> EinsumSpec:
        """Subscripts and operand names that compute the term (before output symmetrization)."""
        return einsum_spec(self.diagram)

    @property
    def is_invariant(self) -> bool:
        """True for a scalar term (no output legs)."""
        return self.signature.output.order == 0

    @property
    def is_covariant(self) -> bool:
        """Every connected component touches an output leg (the generators of Corollary 1)."""
        t = self.diagram.template
        return all(any(t.vertices[v].kind == OUT for v in comp) for comp in self.diagram.components())

    def evaluate(self, inputs: dict):
        """Slow float64 reference value on concrete inputs (dict by input name, no batch axis).

        Returns a numpy array, or a torch tensor (dtype and device of the first torch input)
        when the inputs are torch tensors."""
        labels = self.diagram.labels
        values = None
        if labels is not None and not self.sums_members:
            if self.index_values is None:
                raise DegreeError("a shape over a family needs index values: use term.with_indices((0, 1)).evaluate(inputs)")
            values = dict(enumerate(self.index_values))
        # torch tensors are recognised by duck typing: this stage never imports torch
        like = next((x for x in inputs.values() if hasattr(x, "new_tensor")), None)
        arrays = {k: x.detach().cpu().numpy() if hasattr(x, "new_tensor") else x for k, x in inputs.items()}
        y = reference_value(self.diagram, arrays, values)
        return y if like is None else like.new_tensor(y)

    @property
    def index_sizes(self) -> dict[int, int | str]:
        """Family size for each index variable (label) of the term; empty without families and
        for set families (whose blocks are summed, not free)."""
        t = self.diagram.template
        if t.sums_members:
            return {}
        return {lab: t.signature.inputs[t.vertices[vi].input].family
                for vi, lab in enumerate(self.diagram.labels or ()) if lab is not None}

    def with_indices(self, index_values: tuple[int, ...]) -> "Term":
        """The concrete term of a shape for one index tuple J."""
        return Term(self.diagram, tuple(index_values), self.index_symmetry)

    def _operand_name(self, ref: OperandRef, name: str) -> str:
        if ref.kind != "input" or self.diagram.labels is None or self.sums_members:
            return name
        label = self.diagram.labels[ref.vertex]
        if label is None:
            return name
        base = name.split("[")[0]
        if self.index_values is not None:
            return f"{base}[{self.index_values[label]}]"
        return f"{base}[{index_name(label)}]"

    @cached_property
    def operand_names(self) -> tuple[str, ...]:
        """Operand names with family members resolved where index values are known."""
        spec = self.einsum
        return tuple(self._operand_name(k, n) for k, n in zip(spec.refs, spec.operands))

    @cached_property
    def latex(self) -> str:
        """Index-notation LaTeX, e.g. X^{ab} X^{bc} with repeated indices summed (S(n): sums written
        out, like Σ_c X^{ac} δ^{ab} in LaTeX, since a block's letter may occur once or many times)."""
        spec = self.einsum
        lhs, out = spec.subscripts.split("->")
        group = self.signature.group
        _, form_tex, _, inverse_tex = group.symbols
        names = {group.form_name: form_tex, group.inverse_name: f"({inverse_tex})" if "^" in inverse_tex else inverse_tex,
                 "epsilon": r"\varepsilon", "delta": r"\delta", "ones": r"\mathbf{1}"}
        parts = []
        members = set(self.block_letters.values())
        for sub, name in zip(lhs.split(","), self.operand_names):
            base = names.get(name, name)
            if "[" in name and sub[:1] in members and name.endswith(f"[{sub[0]}]"):
                sub = sub[1:]  # a set family's member letter is its subscript, not a tensor index
            if "[" in base:
                base = base.replace("[", "_{").replace("]", "}")
            parts.append(f"{base}^{{{sub}}}" if sub else base)
        body = " ".join(parts) or "1"
        if group.partition_diagrams:
            # a block's letter may occur once or many times, so sums are written out
            summed = "".join(dict.fromkeys(c for c in lhs if c not in out and c != ","))
            body = rf"\sum_{{{summed}}} {body}" if summed else body
        elif members:
            # set families: every member block is summed, even one that occurs once (Σ_i a_i)
            body = rf"\sum_{{{''.join(sorted(members, key=lhs.index))}}} {body}"
        sym = self.signature.output.symmetry
        if sym != "none" and len(out) > 1:
            body = (r"\mathrm{Sym}" if sym == "sym" else r"\mathrm{Alt}") + rf"\left[{body}\right]"
        return body

    def _repr_latex_(self) -> str:
        return f"${self.latex}$"

    def __repr__(self) -> str:
        spec = self.einsum
        return f"Term({spec.subscripts!r}, {list(self.operand_names)})"

    @cached_property
    def graph(self) -> nx.MultiGraph:
        """The term as a networkx MultiGraph.

        Nodes: ('in', name, copy) with kind='input', input, copy, order, index (index variable
        name, member number or None); ('out', position) with kind='output'; ('eps',) with
        kind='epsilon'. Edges: kind 'delta' / 'eta' / 'omega' (form between two tensor legs),
        'inverse' (free pair of output legs: delta, eta or -Omega), 'identity' (tensor leg to
        output leg); attribute 'legs' = ((node, slot), (node, slot)) in stored orientation,
        tail -> head, which matters for Omega ('oriented' True).

        Set families (a{n}:1): a copy's index is its block's letter (the einsum's member letter);
        copies with one letter are one member, and every letter is summed over all members
        (node attribute summed=True on set-family copies; the graph attribute summed_indices
        lists the letters).

        S(n) partition diagrams: each block is a node ('delta', b) with kind='delta' (the
        generalized Kronecker delta), size (its number of legs) and block b (blocks numbered by
        their least leg); every leg is one edge of kind 'block' from its block node to the leg's
        vertex, legs = ((('delta', b), position of the leg within the block), (node, slot)),
        oriented False. Input and output nodes are as above; there is no epsilon node.
        """
        d = self.diagram
        t = d.template
        sig = t.signature
        g = nx.MultiGraph(signature=str(sig), multidegree=self.multidegree)
        if self.sums_members:
            g.graph["summed_indices"] = tuple(sorted(set(self.block_letters.values())))

        def node(vi: int):
            v = t.vertices[vi]
            if v.kind == OUT:
                return ("out", v.input)
            if v.kind == EPS:
                return ("eps",)
            return ("in", sig.inputs[v.input].name, v.copy)

        for vi, v in enumerate(t.vertices):
            if v.kind == OUT:
                g.add_node(node(vi), kind="output", position=v.input)
            elif v.kind == EPS:
                g.add_node(node(vi), kind="epsilon", order=v.nlegs)
            else:
                label = None if d.labels is None else d.labels[vi]
                index = None
                extra = {}
                if label is not None and self.sums_members:
                    index, extra = self.block_letters[label], {"summed": True}
                elif label is not None:
                    index = self.index_values[label] if self.index_values is not None else index_name(label)
                g.add_node(node(vi), kind="input", input=sig.inputs[v.input].name, copy=v.copy,
                           order=v.nlegs, index=index, **extra)
        if sig.group.partition_diagrams:
            for b, block in enumerate(d.blocks):
                g.add_node(("delta", b), kind="delta", size=len(block), block=b)
                for i, leg in enumerate(block):
                    nv = node(t.leg_vertex[leg])
                    g.add_edge(("delta", b), nv, kind="block", oriented=False,
                               legs=((("delta", b), i), (nv, t.leg_slot[leg])))
            return g
        form = sig.group.form_name
        for u, w in d.edges:
            tu, tw = t.is_tensor_leg(u), t.is_tensor_leg(w)
            kind = form if tu and tw else "inverse" if not (tu or tw) else "identity"
            oriented = sig.group.form_antisymmetric and kind != "identity"
            nu, nw = node(t.leg_vertex[u]), node(t.leg_vertex[w])
            g.add_edge(nu, nw, kind=kind, oriented=oriented,
                       legs=((nu, t.leg_slot[u]), (nw, t.leg_slot[w])))
        return g
