"""From a basis to a contraction program: letters, signed index swaps, coefficient tensors, and
pairwise contraction orders planned by opt_einsum from shapes alone.

Why one plan holds for every batch size: batch axes are Hadamard axes carried by every input
(and by the coefficients of a covariant layer). Each pairwise step in a plan involves at least
one batch-carrying operand (the only batch-free operands, weights or the epsilon buffer, never
meet each other), so every step's cost is B times its cost at B = 1, and the cheapest order at
one batch size is the cheapest at all of them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import opt_einsum as oe

from ..symbolic.diagrams import EPS, OUT
from ..errors import CodegenError
from ..exact.pruning import index_tuples
from ..symbolic.terms import Term
from .kinds import needs_symmetrization, probe_term
from .ir import CoefficientOperand, Column, DeterminantOperand, EpsilonOperand, InputOperand

PLAN_BATCH = 64
"""Batch size used for planning (any value gives the same plan, see the module docstring)."""
PLAN_FAMILY = 32
"""Size a symbolic family (a[n]:1) is planned at: the order chosen is the cheapest there, and
stays valid (only possibly less cheap) at every other size."""
EPSILON_BUFFER_MAX_D = 6
"""Largest d for which a generated module stores the Levi-Civita tensor."""
_LEG_LETTERS = "abdefghijklmnpqrstuvwxyzABCDEFGHIJKLMNOP"
_FAMILY_LETTERS = "QRSTUVWXYZ"
# 'o' is the output channel axis of a polynomial layer (its input channels are a family axis)
PLAN_MEMBERS = 100
"""Size a symbolic set family (a{n}:1) is planned at: its member letters are summed, and the
order must be linear in n (see _plan)."""
PLAN_MEMBERS_FALLBACK = 10**6
"""Size a set family is planned at again when the order found at PLAN_MEMBERS would have a step
meet two member letters (an n x n intermediate, or n^2 work)."""
PLAN_OUT_CHANNELS = 2
"""Output channels a polynomial layer without input channels is planned at; with C input
channels the plan assumes C output channels (out_channels is chosen at construction)."""


@dataclass(frozen=True)
class Operand:
    """One tensor entering a term's contraction."""

    source: InputOperand | CoefficientOperand | EpsilonOperand | DeterminantOperand
    """What it is (see codegen.ir)."""
    letters: str
    """Index letters in axis order (batch and channel axes excluded)."""
    form_axes: tuple[int, ...] = ()
    """Axes (negative, counted from the end) along which the group's form is applied first."""
    batch: bool = True
    """Whether the operand carries the leading batch axes."""


@dataclass(frozen=True)
class TermPlan:
    """One term (or shape over J) as a planned contraction."""

    operands: tuple[Operand, ...]
    """The tensors to contract."""
    output: str
    """Letters of the contraction's result (channel, family letters for invariants, output
    positions not taken by a free pair)."""
    out_letters: str
    """Letters of all output positions, in position order."""
    path: tuple[tuple[int, int], ...]
    """Pairwise contraction order from opt_einsum (indices into the running operand list)."""
    pairs: tuple[tuple[int, int], ...]
    """Free output pairs (position, position) joined by the group's inverse form at the end."""
    symmetrize: bool
    """Whether the result still needs the output's (anti)symmetrization."""
    flops: int
    """opt_einsum's FLOP count for this plan at PLAN_BATCH (the naive count is in naive_flops)."""
    naive_flops: int
    """FLOPs of a single einsum over all indices at once at PLAN_BATCH."""
    sizes: dict = field(default_factory=dict, compare=False)
    """Letter sizes used for planning."""


def family_letters(term: Term) -> dict[int, str]:
    """Letter for each index variable (family copy label), in label order."""
    labels = sorted({lab for lab in (term.diagram.labels or ()) if lab is not None})
    if len(labels) > len(_FAMILY_LETTERS):
        raise CodegenError(f"at most {len(_FAMILY_LETTERS)} family copies per term in generated code")
    return {lab: _FAMILY_LETTERS[k] for k, lab in enumerate(labels)}


def plan_term(term: Term, kind: str, shape_index: int, out_channels: int, symmetrize: bool) -> TermPlan:
    """Letters, operands, and the contraction order of one term. A polynomial layer's weight
    carries the output channel axis 'o' (planned at out_channels) and the term's family letters:
    with input channels a shape of degree k is one k-linear contraction with W[o, c1, ..., ck]."""
    t = term.diagram.template
    sig = t.signature
    group = sig.group
    if t.nlegs > 2 * len(_LEG_LETTERS):
        raise CodegenError(f"term {term!r} has too many indices for generated einsum code")
    used = iter(_LEG_LETTERS)
    out_letters = [next(used) for _ in range(sig.output.order)]
    letter: dict[int, str] = {}
    form_axes: dict[int, list[int]] = {}
    pairs = []
    for u, v in term.diagram.edges:
        ku, kv = t.is_tensor_leg(u), t.is_tensor_leg(v)
        if ku and kv:
            letter[u] = letter[v] = next(used)
            if not group.form_is_identity:
                # the form B[u, v] acts on v's tensor: a sign vector (eta) or a signed swap (Omega)
                vertex = t.vertices[t.leg_vertex[v]]
                form_axes.setdefault(t.leg_vertex[v], []).append(t.leg_slot[v] - vertex.nlegs)
        elif not (ku or kv):
            pu, pv = (t.vertices[t.leg_vertex[x]].input for x in (u, v))
            pairs.append((pu, pv))
        else:
            tensor_leg, out_leg = (u, v) if ku else (v, u)
            letter[tensor_leg] = out_letters[t.vertices[t.leg_vertex[out_leg]].input]
    fam = family_letters(term)
    by_vertex: dict[int, Operand] = {}
    for vi, vertex in enumerate(t.vertices):
        if vertex.kind == OUT:
            continue
        legs = "".join(letter[leg] for leg in t.vertex_legs[vi])
        trans = tuple(sorted(form_axes.get(vi, [])))
        if vertex.kind == EPS:
            by_vertex[vi] = Operand(EpsilonOperand(), legs, trans, batch=False)
            continue
        label = None if term.diagram.labels is None else term.diagram.labels[vi]
        prefix = fam[label] if label is not None else ""
        by_vertex[vi] = Operand(InputOperand(sig.inputs[vertex.input].name), prefix + legs, trans)
    if t.epsilon:
        _epsilon_as_determinant(term, by_vertex, letter, fam)
    operands = list(by_vertex.values())
    # a set family's member letters are summed inside the term: it has no index tuple J
    j_letters = "" if term.sums_members else "".join(fam[lab] for lab in sorted(fam))
    paired = {p for pair in pairs for p in pair}
    result_out = "".join(c for pos, c in enumerate(out_letters) if pos not in paired)
    if kind == "invariants":
        output = j_letters + result_out
    else:
        channel = "o" if kind == "polynomial" else ""
        operands.append(Operand(CoefficientOperand(shape_index), channel + j_letters, (), batch=(kind == "covariant")))
        output = channel + result_out
    sizes = _sizes(sig, operands, fam, term)
    sizes["o"] = out_channels
    members = set(fam.values()) if term.sums_members else set()
    path, flops, naive = _plan(operands, output, sizes, members)
    return TermPlan(tuple(operands), output, "".join(out_letters), path, tuple(pairs), symmetrize, flops, naive,
                    sizes)


def _sizes(sig, operands, fam, term) -> dict[str, int]:
    sizes = {c: sig.d for op in operands for c in op.letters}
    t = term.diagram.template
    for vi, lab in enumerate(term.diagram.labels or ()):
        if lab is not None:
            n = sig.inputs[t.vertices[vi].input].family
            sizes[fam[lab]] = n if isinstance(n, int) else PLAN_MEMBERS if term.sums_members else PLAN_FAMILY
    return sizes


_BATCH = "\u03b2"


def _plan(operands, output: str, sizes: dict[str, int], members: set = frozenset()):
    """opt_einsum path from shapes only; the batch axis is one more letter of size PLAN_BATCH.

    members: the member letters of a set-family term (each summed over n members). The path is
    then made linear in n: a member letter that only one operand still carries is summed out of
    it on its own first (a unary step), and when a pairwise step would still meet two member
    letters the order is planned again with the members at PLAN_MEMBERS_FALLBACK, where any such
    step costs more than contracting each member block on its own (which always exists)."""
    subs = [(_BATCH if op.batch else "") + op.letters for op in operands]
    out = _BATCH + output
    if not any(op.batch for op in operands):
        out = output
    sizes = dict(sizes, **{_BATCH: PLAN_BATCH})
    shapes = [tuple(sizes[c] for c in s) for s in subs]
    if len(operands) == 1:
        size = math.prod(shapes[0]) if shapes[0] else 1
        return (), size, size
    eq = ",".join(subs) + "->" + out
    path, info = oe.contract_path(eq, *shapes, shapes=True, optimize="dp" if len(operands) <= 12 else "greedy")
    path = tuple(tuple(step) for step in path)
    if not members:
        return path, int(info.opt_cost), int(info.naive_cost)
    path, worst = _members_apart(path, subs, out, members)
    if worst > 1:
        big = dict(sizes, **{c: PLAN_MEMBERS_FALLBACK for c in members})
        again, _ = oe.contract_path(eq, *[tuple(big[c] for c in s) for s in subs], shapes=True,
                                    optimize="dp" if len(operands) <= 12 else "greedy")
        path, worst = _members_apart(tuple(tuple(step) for step in again), subs, out, members)
    if worst > 1:
        raise CodegenError(f"no contraction order for {eq} keeps the member sums apart; please report this "
                           "signature (set-family terms are contracted one member block at a time)")
    return path, _path_flops(path, subs, out, sizes), int(info.naive_cost)


def _steps(path, subs: list[str], out: str):
    """Each step of a path with its operands' letters and its result's letters."""
    ops = list(subs)
    for step in path:
        rest = [o for k, o in enumerate(ops) if k not in step]
        keep = set("".join(rest) + out)
        res = "".join(dict.fromkeys(c for k in step for c in ops[k] if c in keep))
        yield step, [ops[k] for k in step], res
        ops = rest + [res]


def _members_apart(path, subs: list[str], out: str, members: set):
    """The path with a unary step summing out, before each pairwise step, any member letter that
    only one of its operands carries; and the most member letters any step then meets."""
    ops = [(k, s) for k, s in enumerate(subs)]  # (id, letters)
    new_id = len(subs)
    original = list(range(len(subs)))  # ids in the positions of the given path
    result, worst = [], 0
    for step in path:
        ids = [original[k] for k in step]
        original = [i for k, i in enumerate(original) if k not in step] + [new_id]
        if len(step) == 2:
            for i in ids:
                pos = next(p for p, (j, _) in enumerate(ops) if j == i)
                others = "".join(s for j, s in ops if j != i) + out
                if any(c in members and c not in others for c in ops[pos][1]):
                    # the lowering keeps what later steps or the output need (so sums other
                    # lonely letters too)
                    letters = "".join(dict.fromkeys(c for c in ops[pos][1] if c in others))
                    result.append((pos,))
                    ops = ops[:pos] + ops[pos + 1:] + [(i, letters)]
        positions = tuple(next(p for p, (j, _) in enumerate(ops) if j == i) for i in ids)
        rest = [o for p, o in enumerate(ops) if p not in positions]
        keep = set("".join(s for _, s in rest) + out)
        involved = "".join(ops[p][1] for p in positions)
        worst = max(worst, len({c for c in involved if c in members}))
        ops = rest + [(new_id, "".join(dict.fromkeys(c for c in involved if c in keep)))]
        result.append(positions)
        new_id += 1
    return tuple(result), worst


def _path_flops(path, subs: list[str], out: str, sizes: dict[str, int]) -> int:
    """opt_einsum's FLOP count of a given path (unary steps included)."""
    total = 0
    for step, letters, res in _steps(path, subs, out):
        involved = set("".join(letters))
        total += oe.helpers.flop_count(involved, bool(involved - set(res)), len(step), sizes)
    return total


def _epsilon_as_determinant(term: Term, by_vertex: dict, letter: dict, fam: dict) -> None:
    """Replace epsilon and the vectors on its legs by one determinant (or cofactor) operand.

    Works at any d when at most one epsilon leg meets something other than an order-1 input;
    otherwise epsilon is stored as a buffer, which generated modules allow up to d = 6.
    """
    t = term.diagram.template
    sig = t.signature
    (e,) = [vi for vi, v in enumerate(t.vertices) if v.kind == EPS]
    columns, free, vectors = [], [], []
    for slot, leg in enumerate(t.vertex_legs[e]):
        w = t.leg_vertex[term.diagram.partner[leg]]
        vertex = t.vertices[w]
        if vertex.kind == "in" and vertex.nlegs == 1:
            label = None if term.diagram.labels is None else term.diagram.labels[w]
            columns.append(Column(sig.inputs[vertex.input].name, fam[label] if label is not None else "",
                                  not sig.group.form_is_identity))
            vectors.append(w)
        else:
            free.append(slot)
    # a set-family term whose columns are members of two blocks would need the determinant on
    # an (n, n, ...) grid of column choices: epsilon is then a buffer, contracted after each
    # block is summed on its own (linear in n)
    blocks = {c.family_letter for c in columns if c.family_letter} if term.sums_members else set()
    if len(blocks) > 1 and len(free) <= 1:
        if sig.d > EPSILON_BUFFER_MAX_D:
            raise CodegenError(
                f"term {term!r} contracts epsilon with members of {len(blocks)} summed blocks at d = {sig.d}; "
                f"generated modules store epsilon only up to d = {EPSILON_BUFFER_MAX_D} (a determinant over "
                f"every choice of members would cost n^{len(blocks)}); lower d, e.g. \"SO(3): a{{n}}:1 -> 1\""
            )
        return
    if len(free) > 1:
        if sig.d > EPSILON_BUFFER_MAX_D:
            raise CodegenError(
                f"term {term!r} contracts epsilon with {len(free)} legs that are not vectors at d = {sig.d}; "
                f"generated modules store epsilon only up to d = {EPSILON_BUFFER_MAX_D}"
            )
        return
    family = "".join(sorted(c.family_letter for c in columns if c.family_letter))
    free_letter = letter[t.vertex_legs[e][free[0]]] if free else ""
    # the cofactor vector stands where epsilon's free leg was: it keeps that leg's form
    trans = (-1,) if free and free[0] - sig.d in by_vertex[e].form_axes else ()
    for w in vectors:
        del by_vertex[w]
    source = DeterminantOperand(tuple(columns), free[0] if free else None)
    by_vertex[e] = Operand(source, family + free_letter, trans)


def plan_module(compiled) -> list[TermPlan]:
    """One contraction plan per term of a CompiledKind, with the symmetrization decided at
    generation time (numerically, see kinds.needs_symmetrization)."""
    rng = np.random.default_rng(0)
    plans = []
    channels = compiled.channels or PLAN_OUT_CHANNELS
    for i, (term, js) in enumerate(zip(compiled.terms, compiled.orbits)):
        plan = plan_term(term, compiled.kind, i, channels, symmetrize=False)
        probe, probe_plan = term, plan
        if compiled.symbols or compiled.member_symbols:  # symbolic sizes: check at a small concrete size
            probe = probe_term(term, compiled.signature)
            js = tuple(index_tuples(probe)) if js is None else js
            probe_plan = plan_term(probe, compiled.kind, i, channels, symmetrize=False)
        if compiled.kind != "invariants" and needs_symmetrization(probe, js, probe_plan, rng):
            plan = dataclasses.replace(plan, symmetrize=True)
        plans.append(plan)
    return plans
