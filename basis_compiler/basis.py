"""The symbolic stage's public entry points: enumerate, deduplicate and prune a basis."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import permutations, product

from .symbolic.canonical import canonical_form
from .symbolic.diagrams import OUT, Diagram
from .symbolic.enumeration import (at_generic_size, diagram_orbits, multidegree_count, multidegrees, raw_diagram_count,
                                   templates)
from .errors import DegreeError, UnsupportedError
from .exact.pruning import check_rank_step_fits, independent_terms, index_tuples
from .symbolic.set_families import check_set_families, member_components
from .symbolic.signature import InputSpec, Signature
from .symbolic.terms import Term

MAX_CONCRETE_TERMS = 200_000
"""Largest number of concrete family terms enumerate_basis expands before asking for shapes."""
MAX_FAMILY_COPIES = 7
"""Most copies of one family in a shape (the index symmetry is found by trying all m! relabellings)."""


@dataclass(frozen=True)
class BasisStats:
    """What the compilation did, for tables and benchmarks."""

    raw_matchings: int = 0
    """Sum over templates of (m-1)!!: the matchings a naive enumeration would visit."""
    candidates: int = 0
    """Matchings actually generated (after symmetry pruning)."""
    orbits: int = 0
    """Distinct nonzero terms (shapes for symbolic families)."""
    zero_dropped: int = 0
    """Distinct terms dropped because they are identically zero."""
    expanded: int = 0
    """Terms before the rank step (concrete family members expanded)."""
    independent: int = 0
    """Terms kept after the exact rank step."""
    seconds: float = 0.0
    """Wall time of the compilation."""


@dataclass(frozen=True)
class Basis:
    """An ordered sequence of terms with the signature, degree and statistics that produced it."""

    signature: Signature
    """The compiled signature."""
    degree: int | tuple[int, ...]
    """The requested degree or multidegree."""
    terms: tuple[Term, ...]
    """The basis terms, grouped by multidegree."""
    stats: BasisStats = field(default_factory=BasisStats)
    """Counts and time."""

    def __len__(self) -> int:
        return len(self.terms)

    def __iter__(self):
        return iter(self.terms)

    def __getitem__(self, i):
        return self.terms[i]

    def to_json(self, as_dict: bool = False):
        """The basis as JSON text (schema in docs/inspect.md), or as a dict with as_dict=True."""
        from .inspect.export import to_json; return to_json(self, as_dict=as_dict)  # noqa: E702

    def to_dot(self) -> str:
        """Graphviz text of every term's diagram, one cluster per term."""
        from .inspect.export import to_dot; return to_dot(self)  # noqa: E702

    def draw(self, path) -> None:
        """Write the diagrams as a PNG, one panel per term (at most 120 terms)."""
        from .inspect.export import draw; return draw(self, path)  # noqa: E702


MAX_MULTIDEGREES = 100_000
"""Most multidegrees a total degree may span (C(degree + inputs, inputs))."""


def _check_degree(sig: Signature, degree) -> int | tuple[int, ...]:
    if isinstance(degree, bool) or not isinstance(degree, (int, tuple, list)):
        raise DegreeError(f"degree {degree!r} is neither an int nor a tuple")
    if isinstance(degree, int):
        if degree < 0:
            raise DegreeError(f"degree {degree} is negative")
        count = multidegree_count(len(sig.inputs), degree)
        if count > MAX_MULTIDEGREES:
            raise DegreeError(
                f"degree {degree if degree < 10**6 else f'~10^{len(str(degree)) - 1}'} spans {count:.3g} "
                f"multidegrees of {len(sig.inputs)} inputs (limit {MAX_MULTIDEGREES:,}); lower the degree "
                "or ask for one exact multidegree"
            )
        return degree
    degree = tuple(degree)
    if len(degree) != len(sig.inputs):
        raise DegreeError(f"multidegree {degree} has {len(degree)} entries but {sig} has {len(sig.inputs)} inputs")
    if any(isinstance(a, bool) or not isinstance(a, int) or a < 0 for a in degree):
        raise DegreeError(f"multidegree {degree} must hold ints >= 0")
    return degree


def _index_symmetry(diagram: Diagram, oriented: bool) -> tuple[tuple[tuple[int, ...], int], ...]:
    """Relabellings of index variables (within each family) that map the shape to +-itself."""
    t = diagram.template
    labels = diagram.labels
    by_family: dict[int, list[int]] = {}
    for vi, lab in enumerate(labels):
        if lab is not None:
            by_family.setdefault(t.vertices[vi].input, []).append(lab)
    if any(len(v) > MAX_FAMILY_COPIES for v in by_family.values()):
        raise UnsupportedError(f"more than {MAX_FAMILY_COPIES} copies of one family in a term; lower the degree")
    n_labels = sum(len(v) for v in by_family.values())
    base = canonical_form(diagram, oriented)
    out = []
    for choice in product(*(permutations(v) for v in by_family.values())):
        perm = list(range(n_labels))
        for group, image in zip(by_family.values(), choice):
            for a, b in zip(group, image):
                perm[a] = b
        relabelled = Diagram(t, diagram.edges, tuple(None if lab is None else perm[lab] for lab in labels))
        cf = canonical_form(relabelled, oriented)
        if cf.key == base.key:
            out.append((tuple(perm), cf.sign * base.sign))
    return tuple(out)


def _expand_family(term: Term) -> list[Term]:
    """Concrete family members: one term per orbit of index tuples."""
    total = 1
    for n in term.index_sizes.values():
        total *= n
    if total > MAX_CONCRETE_TERMS:
        raise UnsupportedError(
            f"expanding {term!r} over concrete family members gives ~{total} index tuples; "
            "use covariant_basis / invariant_features (shapes over J) or a symbolic family size like a[n]:1"
        )
    return [term.with_indices(J) for J in index_tuples(term)]


def _enumerate(sig: Signature, degree, keep) -> Basis:
    start = time.perf_counter()
    degree = _check_degree(sig, degree)
    sig = at_generic_size(sig, degree)
    oriented = sig.group.form_antisymmetric
    raw = cand = orbits = zeros = expanded = 0
    terms: list[Term] = []
    for md in multidegrees(sig, degree):
        group: list[Term] = []
        for tmpl in templates(sig, md):
            if sig.is_concrete:
                check_rank_step_fits(tmpl)
            reps, n_cand, n_zero = diagram_orbits(tmpl)
            raw += raw_diagram_count(tmpl)
            cand += n_cand
            zeros += n_zero
            for diagram, _ in reps:
                if not keep(diagram):
                    continue
                orbits += 1
                if diagram.labels is None or diagram.template.sums_members:
                    group.append(Term(diagram))
                    continue
                shape = Term(diagram, None, _index_symmetry(diagram, oriented))
                if sig.is_concrete:
                    group.extend(_expand_family(shape))
                else:
                    group.append(shape)
        expanded += len(group)
        # Greedy rank: epsilon-free terms first, so they are preferred when both would do.
        group.sort(key=lambda term: term.uses_epsilon)
        if sig.is_concrete and group:
            group = independent_terms(group)
        terms.extend(group)
    stats = BasisStats(raw, cand, orbits, zeros, expanded, len(terms), time.perf_counter() - start)
    return Basis(sig, degree, tuple(terms), stats)


def enumerate_basis(signature: Signature | str, degree: int | tuple[int, ...]) -> Basis:
    """A basis of the equivariant polynomial maps of the signature, of total degree <= degree
    (int) or of exactly one multidegree (tuple, one entry per input; a family counts all members).

    With concrete family sizes the terms are linearly independent at d (decided exactly) and
    their number is the dimension of the space. With a symbolic family size (a[n]:1) the result
    lists shapes: one term per diagram with free index tuple J and its index symmetry, not pruned.
    """
    return _enumerate(Signature.parse(signature), degree, lambda diagram: True)


def covariant_basis(signature: Signature | str, degree: int | tuple[int, ...]) -> Basis:
    """Generators of the learned layer (docs/math.md, "Corollary 1: the universal model"):
    diagrams whose every connected component touches an output leg; families stay shapes over J
    (never expanded or pruned). Set families (a{n}:1): every term is one generator (its member
    sums are inside it), and copies of one summed member count as connected (docs/math.md,
    "Set families")."""
    sig = symbolic_families(Signature.parse(signature))
    if any(s.is_set_family for s in sig.inputs):
        return _enumerate(sig, degree, lambda diagram: all(
            any(diagram.template.vertices[v].kind == OUT for v in comp) for comp in member_components(diagram)))
    return _enumerate(sig, degree, lambda diagram: Term(diagram).is_covariant)


def invariant_features(signature: Signature | str, degree: int | tuple[int, ...]) -> Basis:
    """Connected diagrams with no output leg (Gram entries, traces, v^T X w, ...), as shapes.
    Set families: connected through shared summed members too (Σ_ij ⟨a_i,a_j⟩² is one feature,
    Σ_i |a_i|² Σ_j |a_j|² a product of two)."""
    sig = symbolic_families(Signature.parse(signature))
    scalar = Signature(sig.group, sig.inputs, type(sig.output)(0))
    components = member_components if any(s.is_set_family for s in sig.inputs) else Diagram.components

    def connected(diagram: Diagram) -> bool:
        return len(components(diagram)) == 1 and sum(diagram.template.multidegree) > 0

    return _enumerate(scalar, degree, connected)


def symbolic_families(sig: Signature) -> Signature:
    """Families as symbols, so generators stay shapes over J (their sizes matter only at run time).

    Set families (a{n}:1, a{5}:1) become a{n}:1: their terms have no index tuple J (the member
    sums are inside each term), so they are the same at every size and listed unpruned. A
    signature mixing set families with indexed ones is refused (set_families.check_set_families)."""
    check_set_families(sig)
    inputs = tuple(InputSpec(s.name, s.type, "n", s.exchangeable) if s.is_family else s for s in sig.inputs)
    return Signature(sig.group, inputs, sig.output)
