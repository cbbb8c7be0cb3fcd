"""Turn a diagram into an einsum, and evaluate it: float64 reference, and exactly modulo a prime."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple
from itertools import permutations

import numpy as np
import opt_einsum as oe

from .canonical import perm_sign
from .diagrams import EPS, OUT, Diagram
from ..errors import UnsupportedError

EPSILON_MAX_D = 8
"""Largest d for which the Levi-Civita tensor (d**d entries) is materialized by the reference."""


class OperandRef(NamedTuple):
    """What one einsum operand of a term is: an input copy, the form, its inverse, or ε."""

    kind: str
    """'input', 'form' (between two tensor legs), 'inverse' (a free output pair), 'epsilon', or
    'delta' (S(n): a generalized Kronecker delta on output letters; order 1 is the all-ones vector)."""
    input: int = -1
    """Input index in signature order ('input' only)."""
    vertex: int = -1
    """Vertex index in the diagram's template ('input' only; finds a family copy's label)."""
    order: int = 0
    """Number of indices ('delta' only)."""


@dataclass(frozen=True)
class EinsumSpec:
    """Subscripts and operands that compute one (unsymmetrized) term."""

    subscripts: str
    """opt_einsum subscripts, output indices in output-position order."""
    operands: tuple[str, ...]
    """Readable names: 'x' for an input x, 'a[i]' for a family copy with index variable i (for a
    set family a{n}: the whole stack, whose member axis is the operand's first letter i, shared
    by the copies of one block and summed), the
    group's form name ('eta', 'omega'), its inverse's name for a free output pair ('delta',
    'eta', 'omega_inverse') and 'epsilon'; for S(n) 'delta' (a generalized delta tying output
    letters) and 'ones' (the all-ones vector on an output letter that meets no input)."""
    refs: tuple[OperandRef, ...]
    """What each operand is, for evaluation."""


def einsum_spec(diagram) -> EinsumSpec:
    """The einsum of a diagram; delta contractions become shared letters."""
    if diagram.template.signature.group.partition_diagrams:
        return partition_einsum_spec(diagram)
    t = diagram.template
    sig = t.signature
    group = sig.group
    letter: dict[int, str] = {}
    n_sym = 0

    def new() -> str:
        nonlocal n_sym
        n_sym += 1
        return oe.get_symbol(n_sym - 1)

    out_letters = [new() for _ in range(sig.output.order)]
    extra_ops, extra_refs, extra_subs = [], [], []
    for u, v in diagram.edges:
        ku, kv = t.is_tensor_leg(u), t.is_tensor_leg(v)
        if ku and kv:
            if group.form_is_identity:
                letter[u] = letter[v] = new()
            else:
                letter[u], letter[v] = new(), new()
                extra_ops.append(group.form_name)
                extra_refs.append(OperandRef("form"))
                extra_subs.append(letter[u] + letter[v])
        elif not ku and not kv:
            lu = out_letters[t.vertices[t.leg_vertex[u]].input]
            lv = out_letters[t.vertices[t.leg_vertex[v]].input]
            extra_ops.append(group.inverse_name)
            extra_refs.append(OperandRef("inverse"))
            extra_subs.append(lu + lv)
        else:
            tensor_leg, out_leg = (u, v) if ku else (v, u)
            letter[tensor_leg] = out_letters[t.vertices[t.leg_vertex[out_leg]].input]
    member = member_letters(diagram, n_sym)
    ops, refs, subs = [], [], []
    for vi, vertex in enumerate(t.vertices):
        if vertex.kind == OUT:
            continue
        sub = "".join(letter[leg] for leg in t.vertex_legs[vi])
        if vertex.kind == EPS:
            ops.append("epsilon")
            refs.append(OperandRef("epsilon"))
        else:
            name = sig.inputs[vertex.input].name
            label = None if diagram.labels is None else diagram.labels[vi]
            if label is not None and label in member:
                # a set family copy: the whole stack, its member axis summed with its block
                sub = member[label] + sub
                ops.append(f"{name}[{member[label]}]")
            else:
                ops.append(name if label is None else f"{name}[{index_name(label)}]")
            refs.append(OperandRef("input", vertex.input, vi))
        subs.append(sub)
    return EinsumSpec(
        ",".join(subs + extra_subs) + "->" + "".join(out_letters),
        tuple(ops + extra_ops),
        tuple(refs + extra_refs),
    )


def member_letters(diagram, n_tensor_letters: int) -> dict[int, str]:
    """Set families (a{n}:1): the einsum letter of each block's member axis, by block id. The
    tensor indices use the first `n_tensor_letters` opt_einsum symbols (a, b, c, ...), so the
    blocks take i, j, k, ... unless a tensor index has that letter already, then fresh symbols."""
    t = diagram.template
    if diagram.labels is None or not t.sums_members:
        return {}
    taken = {oe.get_symbol(k) for k in range(n_tensor_letters)}
    free = [c for c in INDEX_NAMES if c not in taken]
    blocks = sorted({lab for lab in diagram.labels if lab is not None})
    extra = n_tensor_letters
    out = {}
    for b in blocks:
        if free:
            out[b] = free.pop(0)
        else:
            out[b] = oe.get_symbol(extra)
            extra += 1
    return out


def partition_einsum_spec(diagram) -> EinsumSpec:
    """The einsum of a partition diagram (S(n)): one letter per block, shared by all its legs, so a
    letter may sit on several operands and repeat within one (X_ii is 'aa').

    Output letters cannot repeat in an einsum output, so every output position has its own
    letter; a block with several output legs ties their letters with a 'delta' operand of that
    order (the tensor legs of the block take the first one), and a block of one output leg and
    no tensor leg gets the all-ones vector ('ones'). A block of tensor legs only is summed."""
    t = diagram.template
    sig = t.signature
    k = sig.output.order
    out_letters = [oe.get_symbol(i) for i in range(k)]
    n_sym = k
    letter: dict[int, str] = {}
    extra_ops, extra_refs, extra_subs = [], [], []
    for block in diagram.blocks:
        outs = [t.vertices[t.leg_vertex[leg]].input for leg in block if not t.is_tensor_leg(leg)]
        tensor = [leg for leg in block if t.is_tensor_leg(leg)]
        if outs:
            shared = out_letters[outs[0]]
            if len(outs) > 1 or not tensor:
                extra_ops.append("delta" if len(outs) > 1 else "ones")
                extra_refs.append(OperandRef("delta", order=len(outs)))
                extra_subs.append("".join(out_letters[p] for p in outs))
        else:
            shared = oe.get_symbol(n_sym)
            n_sym += 1
        for leg in tensor:
            letter[leg] = shared
    ops, refs, subs = [], [], []
    for vi, vertex in enumerate(t.vertices):
        if vertex.kind == OUT:
            continue
        subs.append("".join(letter[leg] for leg in t.vertex_legs[vi]))
        ops.append(sig.inputs[vertex.input].name)
        refs.append(OperandRef("input", vertex.input, vi))
    return EinsumSpec(",".join(subs + extra_subs) + "->" + "".join(out_letters), tuple(ops + extra_ops),
                      tuple(refs + extra_refs))


def generalized_delta(d: int, order: int) -> np.ndarray:
    """δ_{i1..ik} = 1 when all k indices are equal (int64, shape (d,)*k); order 1 is all ones."""
    delta = np.zeros((d,) * order, dtype=np.int64)
    delta[(np.arange(d),) * order] = 1
    return delta


def constant_operand(ref: OperandRef, consts: dict, d: int) -> np.ndarray:
    """The array of a non-input operand: consts by kind, generalized deltas built by order."""
    if ref.kind == "delta":
        return generalized_delta(d, ref.order)
    return consts[ref.kind]


INDEX_NAMES = "ijklmnopqrstuvwxyz"
"""Names of a family term's index variables (label 0 is i, 1 is j, ...)."""


def index_name(label: int) -> str:
    """Readable name of index variable `label`: i, j, ..., z, then i1, j1, ..."""
    return f"{INDEX_NAMES[label % len(INDEX_NAMES)]}{label // len(INDEX_NAMES) or ''}"


def levi_civita(d: int) -> np.ndarray:
    """The Levi-Civita symbol as an int64 array of shape (d,)*d."""
    if d > EPSILON_MAX_D:
        raise UnsupportedError(
            f"terms with epsilon are evaluated (and pruned exactly) with the full Levi-Civita tensor, which "
            f"needs d <= {EPSILON_MAX_D} ({d}**{d} entries at d={d}); lower d, or drop the pseudo types / SO(d) "
            "that bring epsilon in"
        )
    eps = np.zeros((d,) * d, dtype=np.int64)
    for p in permutations(range(d)):
        eps[p] = perm_sign(p)
    return eps


def operand_arrays(diagram: Diagram, spec: EinsumSpec, values, consts) -> list:
    """Arrays for the operands: `values(input, vertex)` gives an input copy, consts the constants by kind."""
    d = diagram.template.signature.d
    return [values(ref.input, ref.vertex) if ref.kind == "input" else constant_operand(ref, consts, d)
            for ref in spec.refs]


def symmetrize_output(y: np.ndarray, symmetry: str, order: int, batch: int = 0) -> np.ndarray:
    """Average over permutations of the last `order` axes (with signs for 'anti')."""
    if symmetry == "none" or order < 2:
        return y
    acc = np.zeros_like(y)
    for p in permutations(range(order)):
        axes = tuple(range(batch)) + tuple(batch + i for i in p)
        s = perm_sign(p) if symmetry == "anti" else 1
        acc = acc + s * np.transpose(y, axes)
    return acc / math.factorial(order)


def float_constants(group, epsilon: bool) -> dict:
    """float64 constants for the reference evaluation, by OperandRef kind."""
    return {
        "form": group.form().astype(np.float64),
        "inverse": group.inverse_form().astype(np.float64),
        "epsilon": levi_civita(group.d).astype(np.float64) if epsilon else None,
    }


def reference_value(diagram: Diagram, inputs: dict, index_values: dict | None = None) -> np.ndarray:
    """Slow float64 evaluation of one term on concrete inputs (families: index_values label -> member;
    set families: the einsum sums every block over the members)."""
    t = diagram.template
    sig = t.signature
    spec = einsum_spec(diagram)
    consts = float_constants(sig.group, t.epsilon)

    def values(i: int, vi: int):
        x = np.asarray(inputs[sig.inputs[i].name], dtype=np.float64)
        if sig.inputs[i].is_family and not sig.inputs[i].is_set_family:
            return x[index_values[diagram.labels[vi]]]
        return x

    arrays = operand_arrays(diagram, spec, values, consts)
    if not arrays:
        return np.ones(()) if sig.output.order == 0 else np.zeros((sig.d,) * sig.output.order)
    y = oe.contract(spec.subscripts, *[np.asarray(a, dtype=np.float64) for a in arrays])
    return symmetrize_output(np.asarray(y, dtype=np.float64), sig.output.symmetry, sig.output.order)
