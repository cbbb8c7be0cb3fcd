"""Readable formulas of S(n) partition terms, built from the term's graph (`Term.graph`).

Every block of the partition is one index letter: output positions get i, j, k, ... in output
order, and a block without output legs is a summed letter (the next free one). So a term reads
like ``Σ_k X_ik``, ``X_ii``, ``δ_ij Σ_k X_kk`` or ``(Σ_i x_i)²``:

- a block with several output legs ties their letters with ``δ_ij`` (a generalized delta,
  ``δ_ijk`` for three); an output leg alone in its block is the all-ones vector ``1_i``;
- each component without output legs is a scalar factor with its own sums, letters restarting
  after the output letters, so equal factors compare equal and become powers;
- the components with output legs are written together, after the scalar factors;
- equal factors inside one product become powers (``x_i²``);
- ``Sym[...]`` / ``Alt[...]`` wraps the product when the output is (anti)symmetric and the
  unsymmetrized term is not already.
"""

from __future__ import annotations

from itertools import groupby

import networkx as nx
import sympy

from ..symbolic.evaluate import INDEX_NAMES
from ..symbolic.partitions import output_symmetry

_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _letter(i: int) -> str:
    return f"{INDEX_NAMES[i % len(INDEX_NAMES)]}{i // len(INDEX_NAMES) or ''}"


def _subscript(letters: list[str]) -> str:
    return ("," if any(len(x) > 1 for x in letters) else "").join(letters)


def _product(factors: list[tuple[str, str]]) -> tuple[str, str]:
    """Equal factors as powers, in the given order of first appearance."""
    counts: dict[tuple[str, str], int] = {}
    for f in factors:
        counts[f] = counts.get(f, 0) + 1
    text = " ".join(t + (str(c).translate(_SUP) if c > 1 else "") for (t, _), c in counts.items())
    tex = " ".join(x + (f"^{{{c}}}" if c > 1 else "") for (_, x), c in counts.items())
    return text, tex


class _PartitionRenderer:
    def __init__(self, term):
        self.term = term
        self.g = term.graph
        self.k = term.signature.output.order
        # members of each block node: output positions and (input node, slot) legs
        self.outputs: dict = {}
        self.legs: dict = {}
        for _, _, data in self.g.edges(data=True):
            (block, _), (node, slot) = data["legs"]
            if self.g.nodes[node]["kind"] == "output":
                self.outputs.setdefault(block, []).append(self.g.nodes[node]["position"])
            else:
                self.legs.setdefault(block, []).append((node, slot))

    def inputs(self, nodes) -> list:
        found = [n for n in nodes if self.g.nodes[n]["kind"] == "input"]
        order = {spec.name: i for i, spec in enumerate(self.term.signature.inputs)}
        return sorted(found, key=lambda n: (order[n[1]], n[2]))

    def factors(self, nodes, first_summed: int):
        """(summed letters, factors) of a group of components; factors are (text, tex) pairs."""
        letters: dict = {}
        for block in (n for n in nodes if self.g.nodes[n]["kind"] == "delta"):
            outs = sorted(self.outputs.get(block, []))
            if outs:
                letters[block] = _letter(outs[0])
        summed, nxt = [], first_summed
        slot_letter: dict = {}
        for block, members in self.legs.items():
            for m in members:
                slot_letter[m] = block
        inputs = self.inputs(nodes)
        for node in inputs:
            # summed letters in order of first appearance, input by input, slot by slot
            for slot in range(self.g.nodes[node]["order"]):
                block = slot_letter[(node, slot)]
                if block not in letters:
                    letters[block] = _letter(nxt)
                    summed.append(letters[block])
                    nxt += 1
        factors = []
        for block in sorted((n for n in nodes if self.g.nodes[n]["kind"] == "delta"), key=lambda b: b[1]):
            outs = sorted(self.outputs.get(block, []))
            sub = _subscript([_letter(p) for p in outs])
            if len(outs) > 1:
                factors.append((f"δ_{sub}", rf"\delta_{{{sub}}}"))
            elif outs and not self.legs.get(block):
                factors.append((f"1_{sub}", rf"\mathbf{{1}}_{{{sub}}}"))
        for node in inputs:
            name = self.g.nodes[node]["input"]
            sub = _subscript([letters[slot_letter[(node, s)]] for s in range(self.g.nodes[node]["order"])])
            tex_name = sympy.latex(sympy.Symbol(name))
            if "_" in tex_name or "^" in tex_name:
                tex_name = "{" + tex_name + "}"
            factors.append((f"{name}_{sub}" if sub else name, f"{tex_name}_{{{sub}}}" if sub else tex_name))
        return summed, factors

    def group(self, nodes, first_summed: int) -> tuple[str, str, bool]:
        """(text, tex, is a sum) of one group of components."""
        summed, factors = self.factors(nodes, first_summed)
        text, tex = _product(factors)
        if summed:
            sub = _subscript(summed)
            return f"Σ_{sub} {text}", rf"\sum_{{{sub}}} {tex}", True
        return text, tex, False

    def render(self) -> tuple[str, str]:
        comps = [set(c) for c in nx.connected_components(self.g)]
        tensor = set().union(*(c for c in comps if any(self.g.nodes[n]["kind"] == "output" for n in c)))
        scalars = [self.group(c, self.k) for c in comps if not c & tensor]
        scalars.sort()
        pieces = []
        for (text, tex, is_sum), run in groupby(scalars):
            count = len(list(run))
            needs_brackets = is_sum and (count > 1 or len(scalars) > 1 or tensor)
            if needs_brackets or (count > 1 and " " in text):
                text, tex = f"({text})", f"({tex})"
            if count > 1:
                text, tex = text + str(count).translate(_SUP), tex + f"^{{{count}}}"
            pieces.append((text, tex))
        if tensor:
            text, tex, _ = self.group(tensor, self.k)
            pieces.append((text, tex))
        if not pieces:
            return "1", "1"
        text, tex = " ".join(p[0] for p in pieces), r" \, ".join(p[1] for p in pieces)
        out = self.term.signature.output
        if out.order >= 2 and out.symmetry != "none" and output_symmetry(self.term.diagram) != out.symmetry:
            wrap = ("Sym", r"\mathrm{Sym}") if out.symmetry == "sym" else ("Alt", r"\mathrm{Alt}")
            text, tex = f"{wrap[0]}[{text}]", f"{wrap[1]}[{tex}]"
        return text, tex


def partition_formula(term) -> tuple[str, str]:
    """(text, LaTeX) of an S(n) partition term, e.g. ('Σ_k X_ik', r'\\sum_{k} X_{ik}')."""
    return _PartitionRenderer(term).render()
