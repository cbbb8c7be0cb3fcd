"""Readable formulas of basis terms (text and LaTeX), built from each term's graph (`Term.graph`). A connected component becomes a
readable factor when it is simple enough, otherwise it is written in index notation, which is
always exact:

- two vectors joined: ``⟨v,w⟩`` (``⟨v,w⟩_η`` for O(s,t), ``⟨q,p⟩_Ω`` = qᵀΩp for Sp);
- a chain of order-2 tensors between vectors: ``vᵀXw``, ``vᵀXηYw``; a cycle: ``tr(X²)``, ``tr(XᵀY)``;
- a chain that ends at output legs: ``Xv`` (one leg), ``X²`` or ``δ`` / ``η`` / ``Ω⁻¹`` (two legs);
- the Levi-Civita symbol: ``ε(v,w,·)``: vector arguments first (by name), then one ``·`` per
  output leg in output order (the sign of that reordering is carried);
- factors that carry output legs are multiplied in output order: ``v wᵀ`` for two vectors and
  an order-2 output, ``δ⊗v`` otherwise; scalar factors come first: ``⟨a_i,a_j⟩ δ``;
- ``Sym[...]`` / ``Alt[...]`` wraps the product when the output is (anti)symmetric and the
  unsymmetrized term is not already (anti)symmetric;
- index notation (a scalar component in parentheses: ``(C^{abcd} C^{abcd}) δ``; all components
  with output legs together when one of them needs it: ``⟨v,v⟩ C^{abcc}``): every index upper,
  repeated indices summed, the free letters a, b, c, ... are the output legs in output order,
  forms other than δ explicit (``X^{ac} X^{cb}`` for O(d); ``v^{c} η^{cd} w^{d}`` for O(s,t));
- family members: ``a_i``, ``a_j`` for a shape over index tuples, ``a_3`` for a concrete member;
  a set family (a{n}:1) sums every member letter: ``Σ_i a_i a_iᵀ``, ``Σ_ij ⟨a_i,a_j⟩ a_i``;
- S(n) partition terms: index notation with sums, ``Σ_k X_ik``, ``(Σ_i x_i)²`` (partition_formulas.py).

Antisymmetric transposes become signs (Aᵀ = -A, Ωᵀ = -Ω), so a formula can start with ``-``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import groupby

import networkx as nx
import opt_einsum as oe
import sympy

from ..symbolic.canonical import canonical_form, perm_sign
from ..symbolic.diagrams import Diagram, Template
from ..symbolic.partitions import output_symmetry as partition_output_symmetry
from ..symbolic.set_families import set_canonical_form
from ..symbolic.signature import Signature, TensorType
from .partition_formulas import partition_formula


_SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


# --------------------------------------------------------------------------------------------
# Formulas
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Formula:
    """A term's readable formula as plain text and as LaTeX (math mode, mathtext-safe)."""

    text: str
    tex: str


@dataclass(frozen=True)
class _Piece:
    text: str
    tex: str
    simple: bool = True
    """A one-character name (can be juxtaposed with its neighbours without a space)."""


@dataclass(frozen=True)
class _Factor:
    text: str
    tex: str
    slots: tuple[int, ...] = ()
    """Output positions this factor carries, in its own slot order."""
    sign: int = 1
    column: _Piece | None = None
    """For a chain ending in a vector with one output leg: the column vector (for v wᵀ)."""
    compound: bool = False
    """Needs parentheses inside a ⊗ product."""


def _power(p: _Piece, n: int) -> _Piece:
    if n == 1:
        return p
    wrap = not p.simple or "ᵀ" in p.text
    text = (f"({p.text})" if wrap else p.text) + str(n).translate(_SUP)
    tex = (f"({p.tex})" if "^" in p.tex else p.tex) + f"^{{{n}}}"
    return _Piece(text, tex, p.simple)


def _join(pieces: list[_Piece]) -> _Piece:
    if all(p.simple for p in pieces):
        text = "".join(p.text for p in pieces)
    else:
        text = " ".join(p.text for p in pieces)
    return _Piece(text, " ".join(p.tex for p in pieces), len(pieces) == 1 and pieces[0].simple)


def _transpose(p: _Piece, bare: bool) -> _Piece:
    if bare:
        return _Piece(p.text + "ᵀ", p.tex + r"^{\top}", p.simple)
    return _Piece(f"({p.text})ᵀ", f"({p.tex})^{{\\top}}", False)


class _Renderer:
    """Walks one term's graph and writes its formula."""

    def __init__(self, term):
        self.term = term
        self.g = term.graph
        self.sig = term.signature
        group = self.sig.group
        self.group = group
        self.form_text, self.form_tex, self.inv_text, self.inv_tex = group.symbols
        # an inverse with a superscript of its own needs brackets before index superscripts
        self.inv_index_text = f"({self.inv_text})" if len(self.inv_text) > 1 else self.inv_text
        self.inv_index_tex = f"({self.inv_tex})" if "^" in self.inv_tex else self.inv_tex
        self.partner: dict = {}
        for _, _, data in self.g.edges(data=True):
            a, b = data["legs"]
            self.partner[a] = (b, data["kind"], True)
            self.partner[b] = (a, data["kind"], False)
        self.symmetry = {
            n: self.sig.input(data["input"]).type.symmetry
            for n, data in self.g.nodes(data=True)
            if data["kind"] == "input"
        }

    # ---- pieces ---------------------------------------------------------------------------
    def name(self, node) -> _Piece:
        data = self.g.nodes[node]
        name, index = data["input"], data["index"]
        tex = sympy.latex(sympy.Symbol(name))
        if index is None:
            return _Piece(name, tex, len(name) == 1)
        if "_" in tex or "^" in tex:
            tex = "{" + tex + "}"
        return _Piece(f"{name}_{index}", f"{tex}_{{{index}}}", False)

    def kind(self, node) -> str:
        return self.g.nodes[node]["kind"]

    def order(self, node) -> int:
        return self.g.nodes[node].get("order", 1)

    def is_matrix(self, node) -> bool:
        return self.kind(node) == "input" and self.order(node) == 2

    # ---- walks ----------------------------------------------------------------------------
    def walk(self, leg, stop=None):
        """Follow a chain of order-2 tensors from `leg`: (items, sign, end leg).

        Items: ('mat', node, transposed), ('form', name) between two tensor legs, ('inv',) for
        a free output pair. Antisymmetric transposes are folded into the sign.
        """
        items, sign = [], 1
        while True:
            other, kind, is_tail = self.partner[leg]
            if kind == "inverse":
                items.append(("inv",))
                sign *= -1 if self.group.form_antisymmetric and not is_tail else 1
            elif kind == self.group.form_name and not self.group.form_is_identity:
                items.append(("form", kind))
                sign *= -1 if self.group.form_antisymmetric and not is_tail else 1
            node, slot = other
            if node == stop or not self.is_matrix(node):
                return items, sign, other
            transposed = slot == 1
            if transposed and self.symmetry[node] == "sym":
                transposed = False
            elif transposed and self.symmetry[node] == "anti":
                transposed, sign = False, -sign
            items.append(("mat", node, transposed))
            leg = (node, 1 - slot)

    def chain(self, items) -> list[_Piece]:
        """Pieces of a matrix product, equal neighbours merged into powers."""
        pieces = []
        for it in items:
            if it[0] == "mat":
                p = self.name(it[1])
                pieces.append(_transpose(p, True) if it[2] else p)
            elif it[0] == "form":
                pieces.append(_Piece(self.form_text, self.form_tex))
            else:
                pieces.append(_Piece(self.inv_text, self.inv_tex))
        out = []
        for _, run in groupby(pieces):
            run = list(run)
            out.append(_power(run[0], len(run)))
        return out

    @staticmethod
    def transposes(items) -> int:
        return sum(1 for it in items if it[0] == "mat" and it[2])

    # ---- components -----------------------------------------------------------------------
    def component(self, nodes: set):
        """A _Factor for one connected component, or None when it needs index notation."""
        kinds = {n: self.kind(n) for n in nodes}
        if len(nodes) == 1:
            (n,) = nodes
            if kinds[n] == "input" and self.order(n) == 0:
                return _Factor(self.name(n).text, self.name(n).tex, compound=not self.name(n).simple)
        if any(k == "input" and self.order(n) > 2 for n, k in kinds.items()):
            return None
        if "epsilon" in kinds.values():
            return self.epsilon(nodes)
        ends = [n for n in nodes if kinds[n] == "output" or (kinds[n] == "input" and self.order(n) == 1)]
        if not ends:
            return self.cycle(nodes)
        return self.path(ends)

    def cycle(self, nodes):
        best = None
        for start in sorted(nodes):
            for s in (0, 1):
                first = ("mat", start, s == 0)
                sign = 1
                if first[2] and self.symmetry[start] != "none":
                    sign = -1 if self.symmetry[start] == "anti" else 1
                    first = ("mat", start, False)
                items, sgn, _ = self.walk((start, s), stop=start)
                items = [first] + items
                body = _join(self.chain(items))
                cand = (self.transposes(items), sign * sgn < 0, body.text, body.tex, sign * sgn)
                if best is None or cand < best:
                    best = cand
        _, _, text, tex, sign = best
        return _Factor(f"tr({text})", rf"\mathrm{{tr}}({tex})", (), sign)

    def path(self, ends):
        outs = sorted((n for n in ends if self.kind(n) == "output"), key=lambda n: self.g.nodes[n]["position"])
        starts = outs[:1] if outs else sorted(ends)
        best = None
        for start in starts:
            items, sign, (end, _) = self.walk((start, 0))
            mats = [it for it in items if it[0] == "mat"]
            if self.kind(start) == "output":
                p0 = self.g.nodes[start]["position"]
                if self.kind(end) == "output":
                    body = _join(self.chain(items))
                    slots = (p0, self.g.nodes[end]["position"])
                    return _Factor(body.text, body.tex, slots, sign, compound=len(mats) > 1 or len(items) > 1)
                pieces = self.chain(items) + [self.name(end)]
                body = _join(pieces)
                return _Factor(body.text, body.tex, (p0,), sign, column=body, compound=len(pieces) > 1)
            u, w = self.name(start), self.name(end)
            if not mats:
                # the inner product is subscripted by its form unless that is δ
                identity = self.group.form_is_identity
                sub_t = "" if identity else f"_{self.form_text}"
                sub_x = "" if identity else f"_{{{self.form_tex}}}"
                text = f"⟨{u.text},{w.text}⟩{sub_t}"
                tex = rf"\langle {u.tex}, {w.tex}\rangle{sub_x}"
            else:
                body = _join([_transpose(u, True)] + self.chain(items) + [w])
                text, tex = body.text, body.tex
            cand = (self.transposes(items), sign < 0, text, tex, sign)
            if best is None or cand < best:
                best = cand
        _, _, text, tex, sign = best
        return _Factor(text, tex, (), sign)

    def epsilon(self, nodes):
        eps = ("eps",)
        args, dots, sign, seen = [], [], 1, {eps}
        for slot in range(self.order(eps)):
            items, s, (end, _) = self.walk((eps, slot), stop=eps)
            sign *= s
            seen.update(it[1] for it in items if it[0] == "mat")
            seen.add(end)
            if self.kind(end) == "output" and not items:
                args.append(None)
                dots.append(self.g.nodes[end]["position"])
            elif self.kind(end) == "input" and self.order(end) == 1:
                args.append(_join(self.chain(items) + [self.name(end)]))
            else:
                return None
        if seen != set(nodes):
            return None
        # ε is alternating: list the arguments as (vectors by name, output slots in output order)
        # and carry the sign of that reordering.
        dot_of = dict(zip((j for j, a in enumerate(args) if a is None), dots))
        new = sorted((j for j, a in enumerate(args) if a is not None), key=lambda j: (args[j].text, args[j].tex))
        new += sorted(dot_of, key=dot_of.get)
        sign *= perm_sign(new)
        slots = tuple(sorted(dots))
        dot = _Piece("·", r"\cdot")
        args = [dot if args[j] is None else args[j] for j in new]
        text = "ε(" + ",".join(a.text for a in args) + ")"
        tex = r"\varepsilon(" + ", ".join(a.tex for a in args) + ")"
        return _Factor(text, tex, slots, sign)

    # ---- index notation -------------------------------------------------------------------
    def index_factors(self) -> list[tuple[frozenset, str, str]]:
        """(nodes, text, tex) per index-notation factor, letters a, b, ... for the outputs first."""
        letters: dict = {}
        count = 0

        def new() -> str:
            nonlocal count
            count += 1
            return oe.get_symbol(count - 1)

        outs = sorted((n for n, k in self.g.nodes(data="kind") if k == "output"), key=lambda n: n[1])
        for n in outs:
            letters[(n, 0)] = new()
        extra = []
        for _, _, data in self.g.edges(data=True):
            a, b = data["legs"]
            kind = data["kind"]
            if kind == "identity":
                out, leg = (a, b) if self.kind(a[0]) == "output" else (b, a)
                letters[leg] = letters[out]
            elif kind == "inverse":
                sub = letters[a] + letters[b]
                extra.append((frozenset({a[0], b[0]}), f"{self.inv_index_text}^{{{sub}}}",
                              f"{self.inv_index_tex}^{{{sub}}}"))
            elif self.group.form_is_identity:
                letters[a] = letters[b] = new()
            else:
                letters[a], letters[b] = new(), new()
                sub = letters[a] + letters[b]
                extra.append((frozenset({a[0], b[0]}), f"{self.form_text}^{{{sub}}}", f"{self.form_tex}^{{{sub}}}"))
        factors = []
        for n, data in self.g.nodes(data=True):
            if data["kind"] == "output":
                continue
            sub = "".join(letters[(n, s)] for s in range(data["order"]))
            if data["kind"] == "epsilon":
                base = _Piece("ε", r"\varepsilon")
            else:
                base = self.name(n)
            sup_t = f"^{{{sub}}}" if sub else ""
            factors.append((frozenset({n}), base.text + sup_t, base.tex + sup_t))
        return factors + extra

    # ---- the whole term -------------------------------------------------------------------
    def render(self) -> Formula:
        out = self.sig.output
        wrap = None
        if out.order >= 2 and out.symmetry != "none" and output_symmetry(self.term) != out.symmetry:
            wrap = ("Sym", r"\mathrm{Sym}") if out.symmetry == "sym" else ("Alt", r"\mathrm{Alt}")
        sign, text, tex = self.pretty()
        if wrap:
            text, tex = f"{wrap[0]}[{text}]", f"{wrap[1]}[{tex}]"
        if sign < 0:
            text, tex = "-" + text, "-" + tex
        return Formula(text, tex)

    def indexed(self, comps) -> _Piece:
        """The components in index notation (letters shared with the rest of the term)."""
        nodes = set().union(*comps)
        mine = [p for p in self.index_parts if p[0] <= nodes]
        return _Piece(" ".join(p[1] for p in mine), " ".join(p[2] for p in mine), False)

    @cached_property
    def index_parts(self):
        return self.index_factors()

    def pretty(self):
        """(sign, text, tex): readable factors, index notation for the components that need it.

        Scalar components that need index notation become parenthesized factors. When a
        component with output legs needs it (or the pretty factors would list the output legs
        out of order for a non-symmetric output), every output-carrying component is written in
        index notation together, after the scalar factors.
        """
        out = self.sig.output
        scalar_sign, tensor_sign, scalars, tensors, tensor_comps = 1, 1, [], [], []
        indexed_tensors = False
        for comp in sorted((set(c) for c in nx.connected_components(self.g)), key=lambda c: sorted(c)):
            f = self.component(comp)
            if any(self.kind(n) == "output" for n in comp):
                tensor_comps.append(comp)
                if f is None:
                    indexed_tensors = True
                else:
                    tensor_sign *= f.sign
                    tensors.append(f)
            elif f is None:
                p = self.indexed([comp])
                scalars.append(_Piece(f"({p.text})", f"({p.tex})", False))
            else:
                scalar_sign *= f.sign
                scalars.append(_Piece(f.text, f.tex, not f.compound))
        tensors.sort(key=lambda f: min(f.slots))
        order = [s for f in tensors for s in f.slots]
        if order != sorted(order):
            if out.symmetry == "none":
                indexed_tensors = True
            elif out.symmetry == "anti":
                tensor_sign *= perm_sign(order)
        scalars.sort(key=lambda p: (p.text, p.tex))
        pieces = [_power(run[0], len(run)) for run in (list(r) for _, r in groupby(scalars))]
        sign = scalar_sign
        if indexed_tensors:
            pieces.append(self.indexed(tensor_comps))
        else:
            sign *= tensor_sign
            if len(tensors) == 2 and out.order == 2 and all(f.column is not None for f in tensors):
                first, second = tensors[0].column, tensors[1].column
                pieces += [first, _transpose(second, not tensors[1].compound)]
            elif len(tensors) == 1:
                pieces.append(_Piece(tensors[0].text, tensors[0].tex, False))
            elif tensors:
                texts = [f"({f.text})" if f.compound else f.text for f in tensors]
                texs = [f"({f.tex})" if f.compound else f.tex for f in tensors]
                pieces.append(_Piece("⊗".join(texts), r" \otimes ".join(texs), False))
        if not pieces:
            return sign, "1", "1"
        only = pieces[0]
        if len(pieces) == 1 and only.text[:1] == "(" and only.text[-1:] == ")" and "^{" in only.text:
            return sign, only.text[1:-1], only.tex[1:-1]  # one index-notation factor: no parentheses
        return sign, " ".join(p.text for p in pieces), r" \, ".join(p.tex for p in pieces)


def output_symmetry(term) -> str | None:
    """'sym' / 'anti' when the unsymmetrized term is already (anti)symmetric in its output legs.

    Decided exactly with canonical keys of the term with its output legs transposed (family
    members: concrete ones compare by member number, index variables of a shape as distinct).
    """
    sig = term.signature
    k = sig.output.order
    if k < 2:
        return "sym"
    if sig.group.partition_diagrams:
        return partition_output_symmetry(term.diagram)
    d = term.diagram
    plain = Signature(sig.group, sig.inputs, TensorType(k, "none", sig.output.pseudo))
    tmpl = Template(plain, d.template.multidegree, d.template.epsilon)
    labels = d.labels
    if labels is not None and term.index_values is not None:
        labels = tuple(None if lab is None else term.index_values[lab] for lab in labels)
    oriented = sig.group.form_antisymmetric
    # set-family blocks are summed, so renaming them is a symmetry too (Σ_ij a_i a_jᵀ is symmetric)
    key_of = set_canonical_form if term.sums_members else canonical_form
    base = key_of(Diagram(tmpl, d.edges, labels), oriented)
    signs = set()
    for p in range(k - 1):
        swap = {p: p + 1, p + 1: p}
        edges, flips = [], 1
        for u, v in d.edges:
            u2, v2 = swap.get(u, u), swap.get(v, v)
            if u2 > v2:
                u2, v2 = v2, u2
                flips = -flips if oriented else flips
            edges.append((u2, v2))
        cf = key_of(Diagram(tmpl, tuple(sorted(edges)), labels), oriented)
        if cf.key != base.key:
            return None
        signs.add(flips * cf.sign * base.sign)
    if signs == {1}:
        return "sym"
    if signs == {-1}:
        return "anti"
    return None


def term_formula(term) -> Formula:
    """The readable formula of a term (plain text and LaTeX); S(n) partition terms in index
    notation with sums (partition_formulas.py)."""
    if term.signature.group.partition_diagrams:
        return Formula(*partition_formula(term))
    f = _Renderer(term).render()
    if term.sums_members:
        # set families: every block letter is summed over the members, even one that occurs once
        letters = term.graph.graph["summed_indices"]
        sub = ("," if any(len(x) > 1 for x in letters) else "").join(letters)
        sign, text, tex = ("-", f.text[1:], f.tex[1:]) if f.text.startswith("-") else ("", f.text, f.tex)
        return Formula(f"{sign}Σ_{sub} {text}", rf"{sign}\sum_{{{sub}}} {tex}")
    return f


def formula(term) -> str:
    """The readable plain-text formula of a term, e.g. 'Sym[a_i a_jᵀ]' or 'tr(X²)'."""
    return term_formula(term).text


def formula_latex(term) -> str:
    """The readable formula of a term in LaTeX math mode (no $), e.g. r'\\mathrm{tr}(X^{2})'."""
    return term_formula(term).tex


def term_kind(term) -> str:
    """'invariant' (no output legs), 'covariant' (every component touches an output) or 'mixed'."""
    return "invariant" if term.is_invariant else "covariant" if term.is_covariant else "mixed"


# --------------------------------------------------------------------------------------------
# Table, JSON, DOT, LaTeX
# --------------------------------------------------------------------------------------------


def summary_line(basis) -> str:
    """The statistics line under the table."""
    s = basis.stats
    sig = basis.signature
    where = f"every {sig.group.size_symbol} >= {sig.d}" if sig.group.size_symbol else f"d={sig.d}"
    return (
        f"{sig}, degree {basis.degree}: raw matchings {s.raw_matchings}, candidates {s.candidates}, "
        f"orbits {s.orbits}, zero dropped {s.zero_dropped}, independent at {where}: "
        f"{s.independent} ({s.seconds:.2f} s)"
    )


def slot_matters(term, g, node) -> bool:
    data = g.nodes[node]
    if data["kind"] == "epsilon":
        return True
    if data["kind"] != "input" or data["order"] < 2:
        return False
    return term.signature.input(data["input"]).type.symmetry != "sym"
