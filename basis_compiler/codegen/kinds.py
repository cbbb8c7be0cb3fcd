"""What a generated module computes: which terms, how many coefficients each, and whether a
term's contraction still needs the output's symmetrization."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import opt_einsum as oe

from ..basis import covariant_basis, enumerate_basis, invariant_features, symbolic_families
from ..errors import CodegenError
from ..symbolic.evaluate import levi_civita, symmetrize_output
from ..exact.pruning import index_tuples
from ..symbolic.signature import Signature
from ..symbolic.terms import Term
from .ir import DeterminantOperand, EpsilonOperand, InputOperand

KINDS = ("polynomial", "covariant", "invariants")


def default_kind(signature: Signature) -> str:
    """The kind `generate` makes when none is named: covariant, or polynomial for S(n), whose
    modules are polynomial layers only."""
    return "polynomial" if signature.group.partition_diagrams else "covariant"


@dataclass(frozen=True)
class CompiledKind:
    """The terms of one generated module and the layout of its coefficients or features."""

    signature: Signature
    """Signature; family sizes may be symbols (a[n]:1), then the layout is computed at run time."""
    degree: int | tuple[int, ...]
    """Requested degree."""
    kind: str
    """'polynomial', 'covariant' or 'invariants'."""
    terms: tuple[Term, ...]
    """Terms, or shapes over index tuples J for families."""
    orbits: tuple[tuple[tuple[int, ...], ...] | None, ...]
    """Per term: its index tuples J (one per orbit, lexicographic); ((),) for a term without
    family; None for a family term of a symbolic size (its orbits are known only at run time)."""
    dropped: tuple[tuple[int, ...], ...] = ()
    """Per term (empty: none anywhere): the orbits the exact rank step dropped, as positions in
    the list of all nonzero orbits of the shape (lexicographic); they get no coefficient."""
    channels: int | None = None
    """Polynomial layers: the input channel count C fixed at generation time (the signature is
    then the family signature, every input a family of size C); None: no channel axis."""

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbolic sizes of indexed families (sorted), on which the coefficient layout
        depends at run time; empty when every size is concrete. Set families (a{n}:1) are not
        here: their terms sum over the members, so the layout is the same at every size."""
        return tuple(sorted({s.family for s in self.signature.inputs
                             if isinstance(s.family, str) and not s.is_set_family}))

    @property
    def member_symbols(self) -> tuple[str, ...]:
        """The symbolic sizes of set families (sorted): read from the inputs, never stored."""
        return tuple(sorted({s.family for s in self.signature.inputs if isinstance(s.family, str) and s.is_set_family}))

    @property
    def sums_members(self) -> bool:
        """Whether the terms sum over the members of set families (a{n}:1)."""
        return any(s.is_set_family for s in self.signature.inputs)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of coefficients (or features) per term (concrete sizes only)."""
        return tuple(len(o) for o in self.orbits)


def term_symbol(term: Term) -> str | int | None:
    """The size of the family a shape runs over (a symbol or an int); None without family.

    A shape over two families of different sizes would need one index grid per size: refused."""
    sizes = set(term.index_sizes.values())
    if not sizes:
        return None
    if len(sizes) > 1:
        raise CodegenError(f"{term!r} runs over families of different sizes {sorted(map(str, sizes))}; generated "
                           "modules need one size per term: give the families one size, e.g. a[n]:1, b[n]:1")
    return sizes.pop()


def probe_term(term: Term, sig: Signature) -> Term:
    """A symbolic shape at a small concrete size (one more than its family copies), for the
    generation-time checks that evaluate it: every pattern of equal and distinct indices occurs.
    A set-family term gets two more members than its blocks (at one member, say, the term
    Σ_ij |a_i|² a_i a_jᵀ would look symmetric)."""
    m = len(term.index_sizes)
    if term.sums_members:
        m = len({lab for lab in term.diagram.labels if lab is not None}) + 1
    sizes = {s.name: m + 1 for s in sig.inputs if isinstance(s.family, str)}
    return Term(_concrete(term.diagram, sig.with_family_sizes(**sizes)), None, term.index_symmetry)


def channel_signature(sig: Signature, channels: int) -> Signature:
    """The family signature of a polynomial layer with C input channels: every input a family of
    size C (O(3): v:1, X:2s -> 2s with C = 4 gives O(3): v[4]:1, X[4]:2s -> 2s)."""
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise CodegenError(f"channels must be an int >= 1 (or None for no channel axis), got {channels!r}; "
                           "e.g. compile_module('O(3): v:1, X:2s -> 2s', 2, 'polynomial', channels=4)")
    if any(s.is_set_family for s in sig.inputs):
        raise CodegenError(f"{sig} has a set family; channels make every input an indexed family of size C, which "
                           "a set family cannot be. A polynomial layer of a set family takes out_channels at "
                           "construction and no input channels, e.g. compile_module('O(3): a{n}:1 -> 2s', 2, "
                           "'polynomial')(out_channels=8)")
    family = [s.name for s in sig.inputs if s.is_family]
    if family:
        raise CodegenError(f"input {family[0]!r} of {sig} is already a family; channels make every input a family "
                           "of size C, so give plain inputs, e.g. 'O(3): v:1, X:2s -> 2s' with channels=4")
    return Signature(sig.group, tuple(replace(s, family=channels) for s in sig.inputs), sig.output)


def compile_kind(signature: Signature | str, degree, kind: str, channels: int | None = None) -> CompiledKind:
    """Select the terms of a module kind. With a symbolic family size (a[n]:1) the terms are the
    same shapes as at any concrete size; their index tuples are left to run time (orbits None).

    A polynomial layer with concrete family sizes (and one with channels, whose signature is the
    family signature) keeps exactly the (shape, J-orbit) pairs of the pruned basis, so its
    parameters are independent; the orbits the rank step drops are recorded per shape."""
    sig = Signature.parse(signature)
    if kind not in KINDS:
        raise CodegenError(f"unknown module kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    if channels is not None:
        if kind != "polynomial":
            raise CodegenError(f"channels are a property of polynomial layers, not of kind {kind!r}; e.g. "
                               "compile_module('O(3): v:1, X:2s -> 2s', 2, 'polynomial', channels=4)")
        sig = channel_signature(sig, channels)
    kept: dict | None = None
    if kind == "covariant":
        basis = covariant_basis(sig, degree)
    elif kind == "invariants":
        basis = invariant_features(sig, degree)
    elif any(s.is_set_family for s in sig.inputs):
        # set families: each term one weight column, the member sums inside it; a concrete size
        # keeps the terms independent at that size (exact rank step), a symbolic one lists all
        basis = enumerate_basis(sig, degree)
    elif any(isinstance(s.family, str) for s in sig.inputs):
        # symbolic sizes: learned weights over every index tuple, the shapes unexpanded (see README)
        basis = enumerate_basis(symbolic_families(sig), degree)
    elif any(s.is_family for s in sig.inputs):
        basis, kept = _shapes_of_pruned(enumerate_basis(sig, degree))
    else:
        basis = enumerate_basis(sig, degree)
    terms, orbits, dropped = [], [], []
    for term in basis:
        if kept is not None and term.diagram.labels is not None:
            every = index_tuples(term)
            keep = kept[term.diagram]
            orbits.append(tuple(keep))
            keep = set(keep)
            dropped.append(tuple(k for k, J in enumerate(every) if J not in keep))
            terms.append(Term(_concrete(term.diagram, sig), None, term.index_symmetry))
            continue
        term = Term(_concrete(term.diagram, sig), None, term.index_symmetry)
        if term.diagram.labels is None or term.sums_members:
            orbits.append(((),))
        elif isinstance(term_symbol(term), str):
            orbits.append(None)
        else:
            js = tuple(index_tuples(term))
            if not js:
                continue
            orbits.append(js)
        dropped.append(())
        terms.append(term)
    if kind == "invariants":
        sig = Signature(sig.group, sig.inputs, type(sig.output)(0))
    dropped = tuple(dropped) if any(dropped) else ()
    return CompiledKind(sig, degree, kind, tuple(terms), tuple(orbits), dropped, channels)


def _shapes_of_pruned(basis) -> tuple[list[Term], dict]:
    """The shapes of a pruned basis with concrete family sizes, in basis order, and the kept J of
    each (a shape's members are consecutive in the basis: expanded together, then pruned in order)."""
    shapes, kept = [], {}
    for term in basis:
        if term.diagram.labels is None:
            shapes.append(term)
            continue
        if term.diagram not in kept:
            kept[term.diagram] = []
            shapes.append(Term(term.diagram, None, term.index_symmetry))
        kept[term.diagram].append(tuple(term.index_values))
    return shapes, kept


def _concrete(diagram, sig: Signature):
    """The same diagram on the concrete signature (the symbolic one was used to enumerate)."""
    from ..symbolic.diagrams import Diagram, Template

    t = diagram.template
    out_sig = sig if t.signature.output == sig.output else Signature(sig.group, sig.inputs, t.signature.output)
    return Diagram(Template(out_sig, t.multidegree, t.epsilon), diagram.edges, diagram.labels)


def needs_symmetrization(term: Term, js: tuple, plan, rng: np.random.Generator) -> bool:
    """Whether the planned contraction, with coefficients spread over each orbit, is not already
    (anti)symmetric in the output: checked once, numerically, at generation time."""
    sig = term.signature
    out = sig.output
    if out.order < 2 or out.symmetry == "none":
        return False
    y = _evaluate_plan(term, js, plan, rng)
    target = symmetrize_output(y, out.symmetry, out.order, batch=y.ndim - out.order)
    return not np.allclose(y, target, rtol=1e-9, atol=1e-9 * max(1.0, float(np.abs(y).max())))


def _evaluate_plan(term: Term, js, plan, rng) -> np.ndarray:
    """float64 value of a plan (transforms, coefficients spread over orbits, free pairs)."""
    sig = term.signature
    g = sig.group
    d = sig.d
    arrays, subs = [], []
    values = {}
    for spec in sig.inputs:
        shape = ((spec.family,) if spec.is_family else ()) + (d,) * spec.type.order
        x = rng.normal(size=shape)
        if spec.type.symmetry != "none":
            x = symmetrize_output(x, spec.type.symmetry, spec.type.order, batch=x.ndim - spec.type.order)
        values[spec.name] = x
    for op in plan.operands:
        source = op.source
        if isinstance(source, InputOperand):
            x = values[source.name]
        elif isinstance(source, EpsilonOperand):
            x = levi_civita(d).astype(float)
        elif isinstance(source, DeterminantOperand):
            x = _determinant_numpy(source, values, g)
        else:
            x = _spread(term, js, rng)
            if "o" in op.letters:  # one output channel
                x = x[None]
        for axis in op.form_axes:
            if g.form_is_diagonal:
                shape = [1] * x.ndim
                shape[axis] = -1
                x = x * g.form().diagonal().reshape(shape)
            else:
                x = np.moveaxis(np.tensordot(g.form(), np.moveaxis(x, axis, 0), axes=(1, 0)), 0, axis)
        arrays.append(x)
        subs.append(op.letters)
    out_letters = plan.output
    y = oe.contract(",".join(subs) + "->" + out_letters, *arrays)
    lead = out_letters[: len(out_letters) - len([c for c in out_letters if c in plan.out_letters])]
    pair_subs, pair_arrays = [], []
    for pu, pv in plan.pairs:
        pair_subs.append(plan.out_letters[pu] + plan.out_letters[pv])
        pair_arrays.append(g.inverse_form().astype(float))
    full = lead + plan.out_letters
    return oe.contract(",".join([out_letters] + pair_subs) + "->" + full, y, *pair_arrays)


def _spread(term: Term, js, rng) -> np.ndarray:
    """A coefficient tensor over J: random orbit values c_O spread as c_O * sign / |O|."""
    if js == ((),):
        return np.array(rng.normal())
    m = len(js[0])
    sizes = term.index_sizes
    q = np.zeros(tuple(sizes[k] for k in sorted(sizes)))
    for rep in js:
        c = rng.normal()
        images = {}
        for perm, sign in term.index_symmetry:
            image = tuple(rep[perm[i]] for i in range(m))
            images.setdefault(image, sign)
        for image, sign in images.items():
            q[image] = c * sign / len(images)
    return q



def _determinant_numpy(source: DeterminantOperand, values: dict, group) -> np.ndarray:
    """numpy twin of the generated eps_contract: det of vector columns, or a cofactor vector."""
    columns, free = source.columns, source.free
    family = "".join(sorted(c.family_letter for c in columns if c.family_letter))
    cols = []
    for col in columns:
        x = values[col.input] * (group.form_signs() if col.form else 1)
        shape = [x.shape[0] if c == col.family_letter else 1 for c in family] + [x.shape[-1]]
        cols.append(x.reshape(shape))
    m = np.stack(np.broadcast_arrays(*cols), axis=-1)
    if free is None:
        return np.linalg.det(m)
    d = m.shape[-2]
    out = []
    for a in range(d):
        unit = np.zeros(m.shape[:-1] + (1,))
        unit[..., a, 0] = 1
        out.append(np.linalg.det(np.concatenate([m[..., :free], unit, m[..., free:]], axis=-1)))
    return np.stack(out, axis=-1)
