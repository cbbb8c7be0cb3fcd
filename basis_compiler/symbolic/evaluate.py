"""Turn a diagram into an einsum, and evaluate it: float64 reference, and exactly modulo a prime."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import permutations

import numpy as np
import opt_einsum as oe

from .canonical import perm_sign
from .diagrams import EPS, IN, OUT, Diagram
from ..errors import UnsupportedError

EPSILON_MAX_D = 8
"""Largest d for which the Levi-Civita tensor (d**d entries) is materialized by the reference."""


@dataclass(frozen=True)
class EinsumSpec:
    """Subscripts and operand names that compute one (unsymmetrized) term."""

    subscripts: str
    """opt_einsum subscripts, output indices in output-position order."""
    operands: tuple[str, ...]
    """'x' for an input x, 'a[i]' for a family copy with index variable i, 'eta', 'omega', 'delta'
    (free output pair), 'inv_form' (free pair under Sp: -omega), 'epsilon'."""
    keys: tuple[tuple, ...]
    """Machine form of the operands: ('in', input, vertex) / ('form',) / ('inv',) / ('eps',)."""


def einsum_spec(diagram: Diagram) -> EinsumSpec:
    """The einsum of a diagram; delta contractions become shared letters."""
    t = diagram.template
    sig = t.signature
    form = sig.group.form_name
    letter: dict[int, str] = {}
    n_sym = 0

    def new() -> str:
        nonlocal n_sym
        n_sym += 1
        return oe.get_symbol(n_sym - 1)

    out_letters = [new() for _ in range(sig.output.order)]
    extra_ops, extra_keys, extra_subs = [], [], []
    for u, v in diagram.edges:
        ku, kv = t.is_tensor_leg(u), t.is_tensor_leg(v)
        if ku and kv:
            if form == "delta":
                letter[u] = letter[v] = new()
            else:
                letter[u], letter[v] = new(), new()
                extra_ops.append(form)
                extra_keys.append(("form",))
                extra_subs.append(letter[u] + letter[v])
        elif not ku and not kv:
            lu = out_letters[t.vertices[t.leg_vertex[u]].input]
            lv = out_letters[t.vertices[t.leg_vertex[v]].input]
            extra_ops.append({"delta": "delta", "eta": "eta", "omega": "inv_form"}[form])
            extra_keys.append(("inv",))
            extra_subs.append(lu + lv)
        else:
            tensor_leg, out_leg = (u, v) if ku else (v, u)
            letter[tensor_leg] = out_letters[t.vertices[t.leg_vertex[out_leg]].input]
    ops, keys, subs = [], [], []
    for vi, vertex in enumerate(t.vertices):
        if vertex.kind == OUT:
            continue
        subs.append("".join(letter[leg] for leg in t.vertex_legs[vi]))
        if vertex.kind == EPS:
            ops.append("epsilon")
            keys.append(("eps",))
        else:
            name = sig.inputs[vertex.input].name
            label = None if diagram.labels is None else diagram.labels[vi]
            ops.append(name if label is None else f"{name}[{'ijklmnopqrstuvwxyz'[label % 18]}{label // 18 or ''}]")
            keys.append((IN, vertex.input, vi))
    return EinsumSpec(
        ",".join(subs + extra_subs) + "->" + "".join(out_letters),
        tuple(ops + extra_ops),
        tuple(keys + extra_keys),
    )


def levi_civita(d: int) -> np.ndarray:
    """The Levi-Civita symbol as an int64 array of shape (d,)*d."""
    if d > EPSILON_MAX_D:
        raise UnsupportedError(
            f"materializing the Levi-Civita tensor needs d <= {EPSILON_MAX_D} ({d}**{d} entries at d={d})"
        )
    eps = np.zeros((d,) * d, dtype=np.int64)
    for p in permutations(range(d)):
        eps[p] = perm_sign(p)
    return eps


def operand_arrays(diagram: Diagram, spec: EinsumSpec, values, consts) -> list:
    """Arrays for the operands: `values(input, vertex)` gives an input copy, consts the constants."""
    arrays = []
    for key in spec.keys:
        if key[0] == IN:
            arrays.append(values(key[1], key[2]))
        else:
            arrays.append(consts[key[0]])
    return arrays


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


def float_constants(group) -> dict:
    """float64 constants for the reference evaluation."""
    return {
        "form": group.form().astype(np.float64),
        "inv": group.inverse_form().astype(np.float64),
        "eps": None,
    }


def reference_value(diagram: Diagram, inputs: dict, index_values: dict | None = None) -> np.ndarray:
    """Slow float64 evaluation of one term on concrete inputs (families: index_values label -> member)."""
    t = diagram.template
    sig = t.signature
    spec = einsum_spec(diagram)
    consts = float_constants(sig.group)
    if t.epsilon:
        consts["eps"] = levi_civita(sig.d).astype(np.float64)

    def values(i: int, vi: int):
        x = np.asarray(inputs[sig.inputs[i].name], dtype=np.float64)
        if sig.inputs[i].is_family:
            return x[index_values[diagram.labels[vi]]]
        return x

    arrays = operand_arrays(diagram, spec, values, consts)
    if not arrays:
        return np.ones(()) if sig.output.order == 0 else np.zeros((sig.d,) * sig.output.order)
    y = oe.contract(spec.subscripts, *arrays)
    return symmetrize_output(np.asarray(y, dtype=np.float64), sig.output.symmetry, sig.output.order)
