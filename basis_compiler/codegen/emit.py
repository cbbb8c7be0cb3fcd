"""Emit a standalone PyTorch module (imports torch only) from planned terms.

The source is deterministic: the same signature, degree, kind and GENERATOR_VERSION give the
same bytes, and the header carries a hash of the body so --check can name a stale file.
"""

from __future__ import annotations

import hashlib
import math
from itertools import permutations

from ..symbolic.canonical import perm_sign
from .kinds import CompiledKind
from ..symbolic.evaluate import levi_civita
from .planning import PLAN_BATCH, TermPlan

GENERATOR_VERSION = "1"

_HELPERS = '''

def _eta(x, sign, axis):
    """x with the metric's signs applied along one axis (eta contraction as an index identification)."""
    shape = [1] * x.dim()
    shape[axis] = -1
    return x * sign.view(shape)


def _omega(x, axis):
    """Omega applied along one axis: a signed swap of the two halves, no matrix product."""
    h = x.shape[axis] // 2
    return torch.cat((x.narrow(axis, h, h), -x.narrow(axis, 0, h)), dim=axis)


def _eps_contract(columns, free):
    """Levi-Civita contracted with vectors: det of the columns, or (free = slot) the cofactor
    vector c_a = det(columns with e_a inserted at that slot). No d**d tensor, so any d works."""
    m = torch.stack(torch.broadcast_tensors(*columns), dim=-1)
    if free is None:
        return torch.linalg.det(m)
    d = m.shape[-2]
    spread = m.unsqueeze(-3).expand(*m.shape[:-2], d, d, d - 1)
    unit = torch.eye(d, dtype=m.dtype, device=m.device).expand(*m.shape[:-2], d, d).unsqueeze(-1)
    return torch.linalg.det(torch.cat([spread[..., :free], unit, spread[..., free:]], dim=-1))


def _orbit_index(n, m, symmetry, offset, total):
    """Where each J in [n]^m reads its coefficient, and the size of each orbit.

    symmetry lists (permutation, sign) with term_J = sign * term_(J o perm). Orbits are numbered
    by their least J in lexicographic order, from `offset`; a J whose orbit maps it to minus its
    representative reads the negated copy (index + total + 1); a J fixed by a sign -1 relabelling
    is zero and reads slot `total`, which holds 0.
    """
    grid = torch.cartesian_prod(*[torch.arange(n)] * m).reshape(-1, m) if m > 1 else torch.arange(n)[:, None]
    grid = grid.double()
    powers = (n ** torch.arange(m - 1, -1, -1)).double()
    code = grid @ powers
    best = code.clone()
    best_sign = torch.ones_like(code)
    zero = torch.zeros_like(code, dtype=torch.bool)
    for start in range(0, len(symmetry), 64):
        chunk = symmetry[start:start + 64]
        # the code of J o perm is linear in J: one matrix product for a chunk of permutations
        weights = torch.zeros(m, len(chunk), dtype=torch.float64)
        for k, (perm, _) in enumerate(chunk):
            for i, j in enumerate(perm):
                weights[j, k] += powers[i]
        images = grid @ weights
        signs = torch.tensor([float(sign) for _, sign in chunk], dtype=torch.float64)
        zero |= ((images == code[:, None]) & (signs < 0)).any(1)
        low, arg = images.min(1)
        better = low < best
        best = torch.where(better, low, best)
        best_sign = torch.where(better, signs[arg], best_sign)
    reps, orbit, size = torch.unique(best[~zero], return_inverse=True, return_counts=True)
    index = torch.full(code.shape, total, dtype=torch.long)
    index[~zero] = orbit + offset + torch.where(best_sign[~zero] < 0, total + 1, 0)
    return index, size, len(reps)
'''


def _einsum_call(subs_in: list[str], batch_in: list[bool], out: str, out_batch: bool, args: list[str]) -> str:
    lhs = ",".join(("..." if b else "") + s for s, b in zip(subs_in, batch_in))
    rhs = ("..." if out_batch else "") + out
    return f'torch.einsum("{lhs}->{rhs}", {", ".join(args)})'


class _Program:
    """Emits forward-pass lines, sharing sub-contractions between terms (common subexpressions)."""

    def __init__(self):
        self.lines: list[str] = []
        self.cache: dict[tuple, str] = {}
        self.count = 0

    def new(self, prefix: str = "t") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def value(self, key: tuple, expr: str) -> str:
        if key not in self.cache:
            var = self.new()
            self.lines.append(f"{var} = {expr}")
            self.cache[key] = var
        return self.cache[key]


def _canonical_step(subs: list[str], out: str) -> str:
    """Einsum text with letters renamed by first appearance (so equal steps compare equal)."""
    names: dict[str, str] = {}
    for c in "".join(subs) + out:
        names.setdefault(c, chr(ord("a") + len(names)))
    return ",".join("".join(names[c] for c in s) for s in subs) + "->" + "".join(names[c] for c in out)


def emit_term(prog: _Program, plan: TermPlan, operand_vars: list[tuple[str, tuple]]) -> tuple[str, str, bool]:
    """Lines computing one term's contraction; returns (variable, its letters, has batch)."""
    ops = []
    for op, (var, key) in zip(plan.operands, operand_vars):
        for form, axis in op.transforms:
            expr = f"_eta({var}, self.eta_sign.to(dtype), {axis})" if form == "eta" else f"_omega({var}, {axis})"
            key = (form, axis, key)
            var = prog.value(key, expr)
        ops.append([var, op.letters, op.batch, key])
    remaining_out = plan.output
    if len(ops) == 1:
        var, letters, batch, key = ops[0]
        if letters == remaining_out:
            return var, letters, batch
        step = _canonical_step([letters], remaining_out)
        var = prog.value(("step", step, batch, key), _einsum_call([letters], [batch], remaining_out, batch, [var]))
        return var, remaining_out, batch
    for n_step, step in enumerate(plan.path):
        rest = [o for k, o in enumerate(ops) if k not in step]
        if n_step == len(plan.path) - 1:
            res = remaining_out
        else:
            keep = set("".join(o[1] for o in rest) + remaining_out)
            res = "".join(dict.fromkeys(c for k in step for c in ops[k][1] if c in keep))
        if len(step) == 1:
            (a,) = [ops[k] for k in step]
            key = ("step", _canonical_step([a[1]], res), a[2], a[3])
            var = prog.value(key, _einsum_call([a[1]], [a[2]], res, a[2], [a[0]]))
            ops = rest + [[var, res, a[2], key]]
            continue
        a, b = (ops[k] for k in step)
        batch = a[2] or b[2]
        if n_step != len(plan.path) - 1:
            # torch.einsum lays the result out in this order: keep the larger operand's axes
            # first, in its own order, so the product needs no transposed copy
            big, small = (a, b) if _numel(a, plan.sizes) >= _numel(b, plan.sizes) else (b, a)
            res = "".join(dict.fromkeys(c for c in big[1] + small[1] if c in res))
        steps = [(_canonical_step([a[1], b[1]], res), a, b), (_canonical_step([b[1], a[1]], res), b, a)]
        text, x, y = min(steps, key=lambda s: (s[0], repr(s[1][3]), repr(s[2][3])))
        key = ("step", text, x[2], y[2], x[3], y[3])
        var = prog.value(key, _einsum_call([x[1], y[1]], [x[2], y[2]], res, batch, [x[0], y[0]]))
        ops = rest + [[var, res, batch, key]]
    var, letters, batch, _ = ops[0]
    return var, letters, batch


def _numel(op, sizes) -> int:
    n = 1
    for c in op[1]:
        n *= sizes.get(c, 1)
    return n * (PLAN_BATCH if op[2] else 1)


def symmetrization_terms(order: int, anti: bool) -> list[tuple[tuple[int, ...], int]]:
    """(axis permutation, sign) pairs of the output's (anti)symmetrizer."""
    return [(p, perm_sign(p) if anti else 1) for p in permutations(range(order))]


def finish_term(prog: _Program, plan: TermPlan, var: str, letters: str, batch: bool, lead: str, out_sym: str) -> str:
    """Multiply in free output pairs, put axes in output order, (anti)symmetrize."""
    full = lead + plan.out_letters
    if plan.pairs:
        subs, args = [letters], [var]
        for pu, pv, kind in plan.pairs:
            subs.append(plan.out_letters[pu] + plan.out_letters[pv])
            args.append({"delta": "self.eye", "eta": "self.eta_matrix", "omega_inverse": "self.inv_omega"}[kind] + ".to(dtype)")
        var = prog.new()
        prog.lines.append(f"{var} = {_einsum_call(subs, [batch] + [False] * len(plan.pairs), full, batch, args)}")
    elif letters != full:
        var2 = prog.new()
        prog.lines.append(f"{var2} = {_einsum_call([letters], [batch], full, batch, [var])}")
        var = var2
    if plan.symmetrize:
        k = len(plan.out_letters)
        parts = []
        for perm, sign in symmetrization_terms(k, out_sym == "anti"):
            moved = ", ".join(f"{var}.dim() - {k - p}" for p in perm)
            term = var if perm == tuple(range(k)) else f"{var}.permute(*range({var}.dim() - {k}), {moved})"
            parts.append(("- " if sign < 0 else "+ ") + term)
        sym = prog.new()
        body = " ".join(parts)
        body = body[2:] if body.startswith("+ ") else body
        prog.lines.append(f"{sym} = ({body}) / {math.factorial(k)}")
        var = sym
    return var


def header(compiled: CompiledKind, body: str, command: str) -> str:
    """The DO-NOT-EDIT header with the content hash of the body."""
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    return (
        f"# DO NOT EDIT: generated by basis_compiler (generator version {GENERATOR_VERSION}).\n"
        f"# signature: {compiled.signature}\n"
        f"# degree: {compiled.degree}\n"
        f"# kind: {compiled.kind}\n"
        f"# terms: {len(compiled.terms)}\n"
        f"# content-hash: {digest}\n"
        f"# regenerate: {command}\n"
    )


def constant_buffers(compiled: CompiledKind, plans: list[TermPlan]) -> list[str]:
    """__init__ lines registering the constants the forward pass uses."""
    g = compiled.signature.group
    lines = []
    used_transforms = {form for p in plans for op in p.operands for form, _ in op.transforms}
    if any(op.source[0] == "det" and any(eta for _, _, eta in op.source[1]) for p in plans for op in p.operands):
        used_transforms.add("eta")
    used_pairs = {kind for p in plans for _, _, kind in p.pairs}
    if "eta" in used_transforms:
        lines.append(f"self.register_buffer('eta_sign', torch.tensor({g.form().diagonal().tolist()}, "
                     "dtype=torch.get_default_dtype()), persistent=False)")
    if "delta" in used_pairs:
        lines.append(f"self.register_buffer('eye', torch.eye({g.d}), persistent=False)")
    if "eta" in used_pairs:
        lines.append(f"self.register_buffer('eta_matrix', torch.diag(torch.tensor({g.form().diagonal().tolist()}, "
                     "dtype=torch.get_default_dtype())), persistent=False)")
    if "omega_inverse" in used_pairs:
        lines.append(f"self.register_buffer('inv_omega', torch.tensor({g.inverse_form().tolist()}, "
                     "dtype=torch.get_default_dtype()), persistent=False)")
    if any(op.source == ("eps",) for p in plans for op in p.operands):
        eps = levi_civita(g.d)
        nz = [(tuple(int(i) for i in idx), int(eps[idx])) for idx in zip(*eps.nonzero())]
        lines.append(f"eps = torch.zeros({(g.d,) * g.d})")
        lines.append(f"for idx, sign in {nz}:")
        lines.append("    eps[idx] = sign")
        lines.append("self.register_buffer('eps', eps, persistent=False)")
    return lines
