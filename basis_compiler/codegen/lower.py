"""From planned terms to the IR of one module: the buffers it builds and its forward graph.

Everything about *what* is computed is decided here (which coefficients a term reads, how the
form is applied, which contraction steps, symmetrization, the result); the printer (emit.py)
only decides how it is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import CodegenError
from ..symbolic.signature import Signature
from . import ir, layouts
from .kinds import CompiledKind, term_symbol
from .planning import PLAN_BATCH, TermPlan

MAX_ELEMENTS = 2**26
"""Largest tensor (elements per sample, or buffer) a generated module may need; estimated
before planning, which itself evaluates each term once at generation time."""


@dataclass(frozen=True)
class ModuleIR:
    """One generated module, before printing."""

    compiled: CompiledKind
    requested: Signature
    """The signature as the user gave it (an invariants module's output type is kept here)."""
    offsets: tuple[int, ...]
    """Offset of each term's coefficients (features)."""
    count: int | None
    """n_coeffs or n_features; None when family sizes are symbolic (known at run time)."""
    graph: ir.Graph
    result: ir.Value


def check_sizes(compiled: CompiledKind) -> None:
    """Refuse, before anything is allocated, a module whose tensors would be too large."""
    sig = compiled.signature
    d = sig.d
    needs = [(f"an output of d^{sig.output.order} = {d}^{sig.output.order}", d ** sig.output.order, "d")]
    if sig.output.order >= 2:
        needs.append((f"a {d} x {d} form buffer", d * d, "d"))
    for s in sig.inputs:
        n = (s.family if isinstance(s.family, int) else 1) * d ** s.type.order
        needs.append((f"input {s.name!r} of {n} entries per sample", n, "d or the family size"))
    for term, js in zip(compiled.terms, compiled.orbits):
        if js and js[0]:  # symbolic sizes (js None): the grid is n^m at run time
            n = max(v for v in term.index_sizes.values())
            needs.append((f"an orbit index over {n}^{len(js[0])} index tuples", n ** len(js[0]),
                          "the family size or the degree"))
    for what, size, lower in needs:
        if size > MAX_ELEMENTS:
            raise CodegenError(f"a generated module for {sig} would need {what} ({size:.3g} elements, "
                               f"more than {MAX_ELEMENTS}); lower {lower}")


def form_application(group):
    """How generated code applies the group's form along an axis: 'signs' (diagonal form),
    'swap' (the form is [[0, I], [-I, 0]], a signed half swap) or None (the identity)."""
    if group.form_is_identity:
        return None
    if group.form_is_diagonal:
        return "signs"
    d = group.d
    h = d // 2
    swap = np.zeros((d, d), dtype=np.int64)
    swap[:h, h:] = np.eye(h, dtype=np.int64)
    swap[h:, :h] = -np.eye(h, dtype=np.int64)
    if d % 2 == 0 and np.array_equal(group.form(), swap):
        return "swap"
    raise CodegenError(f"the form of {group} is neither diagonal nor a signed half swap; "
                       "generated code cannot apply it yet")


def inverse_form_buffer(group) -> ir.MatrixBuffer:
    """The constant joining two free output legs, named after the group's inverse form."""
    hint = "eye" if group.form_is_identity else group.inverse_name
    return ir.MatrixBuffer(hint, tuple(tuple(int(v) for v in row) for row in group.inverse_form()))


class _Lowering:
    def __init__(self, compiled: CompiledKind, plans: list[TermPlan]):
        self.compiled, self.plans = compiled, plans
        self.sig = compiled.signature
        self.group = self.sig.group
        self.kind = compiled.kind
        self.g = ir.Graph()
        self.form = form_application(self.group)

    def apply_form(self, x: ir.Value, axis: int) -> ir.Value:
        if self.form == "signs":
            signs = self.g.add(ir.Cast(ir.SignBuffer(tuple(int(s) for s in self.group.form_signs())), self.dtype))
            return self.g.add(ir.FormSigns(x, signs, axis))
        return self.g.add(ir.HalfSwap(x, axis))

    def einsum(self, subs, batches, out: str, out_batch: bool, args) -> ir.Value:
        lhs = ",".join(("..." if b else "") + s for s, b in zip(subs, batches))
        equation = f"{lhs}->{'...' if out_batch else ''}{out}"
        names: dict[str, str] = {}
        for c in equation.replace("...", "").replace(",", "").replace("->", ""):
            names.setdefault(c, chr(ord("a") + len(names)))
        key = "".join(names.get(c, c) for c in equation)
        return self.g.add(ir.Einsum(key, tuple(args), equation))

    def run(self) -> ModuleIR:
        c, g, sig, kind = self.compiled, self.g, self.sig, self.kind
        offsets, total = [], 0
        for js in c.orbits:  # at concrete sizes (symbolic: only a placeholder, offsets are looked up)
            offsets.append(total)
            total += 1 if js is None else len(js)
        self.offsets, self.total = offsets, total
        # terms over index tuples J (a set family's terms sum over its members: one coefficient)
        family_terms = [i for i, t in enumerate(c.terms) if t.diagram.labels is not None and not t.sums_members]
        # Only a sign -1 relabelling can make an index tuple J vanish; then J reads an appended
        # zero slot (and negated copies), otherwise the coefficients are used as they come.
        negative = any(sign < 0 for i in family_terms for _, sign in c.terms[i].index_symmetry)
        # orbits the exact rank step dropped (a polynomial layer's dependent J) read it as well
        zero_slot = (negative or bool(c.dropped)) and kind != "invariants"
        symbolic = bool(c.symbols)
        self.inputs, first, families = {}, None, []
        for s in sig.inputs:
            x = g.add(ir.Input(s.name))
            trailing = ((s.family,) if s.is_family else ()) + (sig.d,) * s.type.order
            g.add(ir.CheckInput(x, s.name, trailing, c.channels is not None))
            if isinstance(s.family, str):
                families.append((s.name, s.family, x, -len(trailing)))
            self.inputs[s.name] = x
            first = first if first is not None else (x, len(trailing))
        if symbolic:
            g.add(ir.ReadSizes(tuple(families), c.symbols))
            g.add(ir.Layout(families[0][2]))
        coeffs = None
        named = [(s.name, self.inputs[s.name]) for s in sig.inputs]
        if kind == "covariant":
            coeffs = g.add(ir.Coefficients())
            g.add(ir.CheckCoefficients(coeffs, None if symbolic else total))
            named.append(("coeffs", coeffs))
        elif kind == "polynomial":
            coeffs = g.add(ir.Weight())
        # one dtype for all inputs, and the result in it: a polynomial layer casts its weight
        self.dtype = g.add(ir.DType(tuple(named), coeffs if kind == "polynomial" else None))
        if kind == "polynomial" and named:
            coeffs = g.add(ir.ToDType(coeffs, self.dtype))
        self.orbit = {}
        for i in family_terms:
            js = c.orbits[i]
            at_run_time = js is None
            offset = 0 if kind == "invariants" else offsets[i]
            self.orbit[i] = ir.OrbitBuffer(i, term_symbol(c.terms[i]), len(c.terms[i].index_sizes),
                                           tuple(c.terms[i].index_symmetry),
                                           None if at_run_time else offset, None if at_run_time else total,
                                           None if at_run_time else len(js), kind == "invariants",
                                           c.dropped[i] if c.dropped else ())
        self.ext = self.scaled = None
        if coeffs is not None:
            self.ext = g.add(ir.AppendZero(coeffs)) if zero_slot else coeffs
            if family_terms:
                scale = ir.ScaleBuffer(None if symbolic else total, zero_slot, tuple(self.orbit.values()))
                self.scaled = g.add(ir.Scaled(self.ext, scale))
                if negative and zero_slot:
                    self.scaled = g.add(ir.AppendNegated(self.scaled))
        outs = []
        for i, (term, js, plan) in enumerate(zip(c.terms, c.orbits, self.plans)):
            var, letters, batch = self.contract(i, plan)
            if kind == "invariants":
                pick = self.orbit.get(i)
                outs.append(g.add(ir.Features(var, pick.m if pick else 0, pick)))
            else:
                outs.append(self.finish(plan, var, letters, batch))
        result = self.combine(outs, first, coeffs)
        return ModuleIR(c, c.signature, tuple(offsets), None if symbolic else total, g, result)

    def combine(self, outs, first, coeffs) -> ir.Value:
        g, sig, kind = self.g, self.sig, self.kind
        if kind == "invariants":
            if not outs:
                like, drop = first if first else (None, 0)
                return g.add(ir.Zeros(like, drop, (0,), False, self.dtype))
            return outs[0] if len(outs) == 1 else g.add(ir.Concat(tuple(outs)))
        dims = (sig.d,) * sig.output.order
        if outs:
            out = outs[0] if len(outs) == 1 else g.add(ir.Sum(tuple(outs)))
        elif kind == "covariant":
            out = g.add(ir.Zeros(coeffs, 1, dims, False, self.dtype))
        else:
            like, drop = first if first else (None, 0)
            out = g.add(ir.Zeros(like, drop, dims, True, self.dtype))
        if kind == "polynomial":
            out = g.add(ir.DropChannels(out, sig.output.order))
        return out

    def operand(self, i: int, op) -> ir.Value:
        g, src = self.g, op.source
        if isinstance(src, ir.InputOperand):
            return self.inputs[src.name]
        if isinstance(src, ir.EpsilonOperand):
            return g.add(ir.Cast(ir.EpsilonBuffer(self.sig.d), self.dtype))
        if isinstance(src, ir.DeterminantOperand):
            family = sorted(col.family_letter for col in src.columns if col.family_letter)
            cols = []
            for col in src.columns:
                x = self.inputs[col.input]
                if col.form:
                    x = self.apply_form(x, -1)
                if family:
                    x = g.add(ir.Broadcast(x, tuple(f == col.family_letter for f in family)))
                cols.append(x)
            return g.add(ir.Determinant(tuple(cols), src.free))
        if i in self.orbit:
            o = self.orbit[i]
            return g.add(ir.Gather(self.scaled, o, o.n, o.m))
        return g.add(ir.Slot(self.ext, self.offsets[i], i))

    def contract(self, i: int, plan: TermPlan):
        """The term's pairwise contraction steps; returns (value, its letters, has batch)."""
        ops = []
        for op in plan.operands:
            x = self.operand(i, op)
            for axis in op.form_axes:
                x = self.apply_form(x, axis)
            ops.append((x, op.letters, op.batch))
        if len(ops) == 1:
            x, letters, batch = ops[0]
            if letters == plan.output:
                return x, letters, batch
            return self.einsum([letters], [batch], plan.output, batch, [x]), plan.output, batch
        chosen = self.layouts(plan, ops)
        if chosen is not None:
            return self.matmuls(plan, ops, chosen)
        for n_step, step in enumerate(plan.path):
            rest = [o for k, o in enumerate(ops) if k not in step]
            last = n_step == len(plan.path) - 1
            if last:
                res = plan.output
            else:
                keep = set("".join(o[1] for o in rest) + plan.output)
                res = "".join(dict.fromkeys(c for k in step for c in ops[k][1] if c in keep))
            if len(step) == 1:
                (x, letters, batch), = [ops[k] for k in step]
                ops = rest + [(self.einsum([letters], [batch], res, batch, [x]), res, batch)]
                continue
            a, b = (ops[k] for k in step)
            batch = a[2] or b[2]
            if not last:
                # torch.einsum lays the result out in this order: keep the larger operand's axes
                # first, in its own order, so the product needs no transposed copy
                big, small = (a, b) if _numel(a, plan.sizes) >= _numel(b, plan.sizes) else (b, a)
                res = "".join(dict.fromkeys(c for c in big[1] + small[1] if c in res))
            # of the two operand orders, the one with the smaller canonical key (so equal steps meet)
            x, y = min((a, b), (b, a), key=lambda p: (self._key(p, res), p[0][0].id, p[1][0].id))
            ops = rest + [(self.einsum([x[1], y[1]], [x[2], y[2]], res, batch, [x[0], y[0]]), res, batch)]
        return ops[0]

    def layouts(self, plan: TermPlan, ops):
        """Per step the matmul layout (layouts.choose), or None: then every step is an einsum.
        Symbolic family sizes keep einsum (splitting an axis needs its size at generation)."""
        if self.compiled.symbols or self.compiled.member_symbols:
            return None
        letters = [(o[1], o[2]) for o in ops]
        reslist = []
        for n_step, step in enumerate(plan.path):
            rest = [o for k, o in enumerate(letters) if k not in step]
            if n_step == len(plan.path) - 1:
                res = set(plan.output)
            else:
                keep = set("".join(o[0] for o in rest) + plan.output)
                res = {c for k in step for c in letters[k][0] if c in keep}
            reslist.append(res)
            merged = "".join(dict.fromkeys(c for k in step for c in letters[k][0] if c in res))
            letters = rest + [(merged, any(letters[k][1] for k in step))]
        return layouts.choose([(o[1], o[2]) for o in ops], tuple(plan.path), reslist, plan.output, plan.sizes)

    def matmuls(self, plan: TermPlan, ops, chosen):
        """The steps as torch.matmul in the chosen layouts; returns (value, letters, batch)."""
        for step, lay in zip(plan.path, chosen):
            rest = [o for k, o in enumerate(ops) if k not in step]
            pair = [ops[k] for k in step]
            x, y = pair[lay.first], pair[1 - lay.first]
            ax = layouts.arrange(x[1], lay.L, lay.M, lay.K)
            if not lay.L and x[2] and not y[2] and x[1] != lay.M + lay.K:
                # matmul folds the batch into the rows only when that is a view; otherwise it
                # would broadcast the weight over the batch (a copy B times its size): copy x
                ax = layouts.Arrange(ax.ops + (("contiguous",),))
            ay = layouts.arrange(y[1], lay.L, lay.K, lay.N)
            after = layouts.unarrange(lay.L, lay.M, lay.N, plan.sizes)
            batch = x[2] or y[2]
            lhs = ",".join(("..." if o[2] else "") + o[1] for o in (x, y))
            equation = f"{lhs}->{'...' if batch else ''}{lay.result}"
            names: dict[str, str] = {}
            for c in equation.replace("...", "").replace(",", "").replace("->", ""):
                names.setdefault(c, chr(ord("a") + len(names)))
            key = "".join(names.get(c, c) for c in equation) + repr((ax.ops, ay.ops, after))
            value = self.g.add(ir.MatMul(key, (x[0], y[0]), (ax.ops, ay.ops), after, equation))
            ops = rest + [(value, lay.result, batch)]
        return ops[0]

    @staticmethod
    def _key(pair, res: str) -> str:
        names: dict[str, str] = {}
        text = ",".join(("." if o[2] else "") + o[1] for o in pair) + ">" + res
        for c in text:
            if c not in ".,>":
                names.setdefault(c, chr(ord("a") + len(names)))
        return "".join(names.get(c, c) for c in text)

    def finish(self, plan: TermPlan, x: ir.Value, letters: str, batch: bool) -> ir.Value:
        """Multiply in free output pairs, put axes in output order, (anti)symmetrize."""
        full = ("o" if self.kind == "polynomial" else "") + plan.out_letters
        if plan.pairs:
            form = self.g.add(ir.Cast(inverse_form_buffer(self.group), self.dtype))
            subs = [letters] + [plan.out_letters[pu] + plan.out_letters[pv] for pu, pv in plan.pairs]
            x = self.einsum(subs, [batch] + [False] * len(plan.pairs), full, batch, [x] + [form] * len(plan.pairs))
        elif letters != full:
            x = self.einsum([letters], [batch], full, batch, [x])
        if plan.symmetrize:
            x = self.g.add(ir.Symmetrize(x, len(plan.out_letters), self.sig.output.symmetry == "anti"))
        return x


def _numel(op, sizes) -> int:
    return math.prod(sizes.get(c, 1) for c in op[1]) * (PLAN_BATCH if op[2] else 1)


def lower(compiled: CompiledKind, plans: list[TermPlan], requested: Signature) -> ModuleIR:
    """The IR of one module (plans from planning.plan_module)."""
    m = _Lowering(compiled, plans).run()
    return ModuleIR(m.compiled, requested, m.offsets, m.count, m.graph, m.result)
