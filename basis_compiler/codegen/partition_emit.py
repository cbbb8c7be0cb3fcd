"""Generated S(n)-equivariant polynomial layers, printed from the terms' einsum specs.

S(n) terms are partition diagrams (symbolic/partitions.py): each block is one einsum letter that
may repeat within an operand (a diagonal, X_ii is 'aa') or sit on three or more operands. They
have no pairing edges, so they skip the planner and IR of pairing groups and are printed here:

- the input part of a term is one `torch.einsum` over the inputs and the term's weight column,
  whose result keeps one axis per output block that meets an input (diagonals and sums over
  blocks of input legs only are einsum's own repeated and dropped letters);
- except for linear terms of a layer with channels (one input each), where every distinct
  reduction of an input (a diagonal, row sums, a trace, ...) is computed once, a sum that keeps
  fewer axes from one that keeps more (the total from the row sums), and the reductions of terms
  with the same output blocks and axis order are stacked along the channel axis and mixed by one
  batched GEMM: the 2 -> 2 layer reads its input about five times, not once per term;
- an output block that meets no input (`ones`) is a size-1 axis, broadcast by the addition;
- an output block of k >= 2 output legs (a generalized delta) writes that axis onto the
  diagonal of its k output axes with index arrays (a diagonal embedding): no delta tensor is
  ever stored, whatever k.

So a term costs its einsum plus one pass over the output: `S(n): X:2 -> 2` costs O(n^2 C O)
per sample for C input and O output channels. The term list does not depend on n once n is at
least the largest number of legs of a term (the terms are then independent; docs/math.md), so
a module generated at such an n accepts every n >= that number at run time; one generated at a
smaller n (where the exact rank step dropped dependent terms) accepts only that n.

With channels=C (fixed at generation) every input is (*batch, C, n, ..., n) and the layer is
linear: each term of degree 1 gets one weight per (output channel, input channel), each term of
degree 0 (no input: a bias) one weight per output channel. Without channels every term of any
degree gets one weight per output channel.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import math

from ..basis import enumerate_basis
from ..errors import CodegenError
from ..inspect.formulas import formula
from ..symbolic.signature import Signature
from . import runtime

_LETTERS = "abdefghijklmnpqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
"""Einsum letters of a term's blocks ('c' is the input channel, 'o' the output channel)."""


def partition_layer_source(signature: Signature, degree, kind: str, name: str, channels, version: str):
    """(source, class name, number of terms, number of coefficients) of an S(n) polynomial layer."""
    if kind != "polynomial":
        raise CodegenError(f"{signature}: S(n) modules are generated as polynomial layers only, not kind {kind!r}; "
                           f"e.g. generate 'S(5): X:2 -> 2' --degree 1 --kind polynomial --name layer, or "
                           f"compile_module('S(5): X:2 -> 2', (1,), 'polynomial', channels=4)")
    if any(s.is_family for s in signature.inputs):
        raise CodegenError(f"{signature}: S(n) layers take plain inputs (no families); use channels=C for a channel "
                           "axis, e.g. compile_module('S(5): X:2 -> 2', (1,), 'polynomial', channels=4)")
    basis = enumerate_basis(signature, degree)
    terms = tuple(basis)
    degrees = [sum(t.multidegree) for t in terms]
    if channels is not None:
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise CodegenError(f"channels must be an int >= 1 (or None), got {channels!r}; e.g. "
                               "compile_module('S(5): X:2 -> 2', (1,), 'polynomial', channels=4)")
        if max(degrees, default=0) > 1:
            raise CodegenError(f"{signature} at degree {degree}: S(n) layers with channels are linear (terms of "
                               "degree 0 and 1); pass degree 1 or (1,), e.g. compile_module('S(5): X:2 -> 2', 1, "
                               "'polynomial', channels=4), or channels=None for higher degrees")
    sig = basis.signature  # S(n) with a symbolic n: at the size its terms were listed at
    k = sig.output.order
    if sig.group.size_symbol and k and not any(s.type.order for s in sig.inputs):
        raise CodegenError(f"{sig}: no input has an axis of size n, so a layer for every n cannot tell the size of "
                           f"its output; write the size, e.g. {'S(5)' + str(sig)[len(str(sig.group)):]}")
    legs = max((t.diagram.template.nlegs for t in terms), default=k)
    least, most = (legs, None) if sig.d >= legs else (sig.d, sig.d)
    widths = [channels if (channels is not None and dg == 1) else 1 for dg in degrees]
    offsets = [sum(widths[:i]) for i in range(len(terms))]
    total = sum(widths)
    names = [s.name for s in sig.inputs]
    reserved = set(names)
    local = {w: _fresh(w, reserved) for w in ("torch", "y", "z", "out", "w", "n", "ar", "batch", "size")}
    T = local["torch"]
    cls = "PolynomialLayer"
    lines = ['"""Generated by basis_compiler: see the class docstring. Imports torch only."""', "", "import torch"]
    if T != "torch":
        lines.append(f"import torch as {T}  # an input is named torch")
    helper = _fresh("_permutation_size", reserved)
    local["mix"] = _fresh("_channel_mix", reserved)
    lines += ["", ""]
    for func, alias in ((runtime.permutation_size, helper), (runtime.channel_mix, local["mix"])):
        src = inspect.getsource(func).replace(f"def {func.__name__}(", f"def {alias}(", 1)
        lines += [src.rstrip("\n"), "", ""]
    doc = _docstring(sig, degree, terms, offsets, widths, channels, least, most, total)
    sums = []
    for term, width in zip(terms, widths):
        lhs, out_letters = term.einsum.subscripts.split("->")
        sums += [len(set(lhs) - set(out_letters) - {","})] * width
    lines += [f"class {cls}({T}.nn.Module):", _indent(doc, 4), "",
              f"    signature = {str(sig)!r}", f"    degree = {degree!r}", "    kind = 'polynomial'",
              f"    n_terms = {len(terms)}", f"    in_channels = {channels!r}", f"    n_coeffs = {total}",
              f"    min_size = {least}", f"    max_size = {most!r}",
              "    # per coefficient: the number of indices its term sums over (scale weight[:, k] by",
              "    # n ** -coeff_sums[k] for means instead of sums)",
              f"    coeff_sums = {tuple(sums)!r}", ""]
    lines += ["    def __init__(self, in_channels=None, out_channels=None):", "        super().__init__()"]
    if channels is None:
        lines += ["        if in_channels is not None:",
                  "            raise ValueError(f'this layer was generated without input channels; for {in_channels} '",
                  "                             f\"channels generate it with channels={in_channels}\")"]
    else:
        lines += [f"        if in_channels is not None and in_channels != {channels}:",
                  f"            raise ValueError(f'this layer was generated for {channels} input channels, not "
                  "{in_channels}; generate one with channels={in_channels}')"]
    lines += ["        self.out_channels = out_channels",
              f"        self.weight = {T}.nn.Parameter({T}.randn(out_channels or 1, {total}) / {max(total, 1)} ** 0.5)", ""]
    args = ", ".join(["self"] + (["*"] + names if names else []))
    lines.append(f"    def forward({args}):")
    body = _forward(sig, terms, offsets, widths, channels, local, helper, least, most)
    lines += [_indent("\n".join(body), 8), ""]
    text = "\n".join(lines)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    command = (f"basis-compiler generate {str(sig)!r} --degree {_degree_text(degree)} --kind polynomial"
               f"{'' if channels is None else f' --channels {channels}'} --name {name}")
    header = [f"# DO NOT EDIT: generated by basis_compiler (generator version {version}).", f"# signature: {sig}",
              f"# degree: {degree}", "# kind: polynomial"]
    if channels is not None:
        header.append(f"# channels: {channels} (linear in the inputs: one weight per term and input channel)")
    header += [f"# terms: {len(terms)}", f"# content-hash: {digest}", f"# regenerate: {command}"]
    return "\n".join(header) + "\n" + text, cls, len(terms), total, digest


def _degree_text(degree) -> str:
    return ",".join(map(str, degree)) if isinstance(degree, tuple) else str(degree)


def _fresh(name: str, reserved: set) -> str:
    out = name
    while out in reserved:
        out += "_"
    reserved.add(out)
    return out


def _indent(text: str, n: int) -> str:
    return "\n".join((" " * n + line) if line else line for line in text.split("\n"))


def _docstring(sig, degree, terms, offsets, widths, channels, least, most, total) -> str:
    k = sig.output.order
    shape = ", ".join(["n"] * k)
    lines = [f"Polynomial S(n) layer for {sig}, degree {degree}.", ""]
    if channels is None:
        lines.append("out[o] = sum_t weight[o, t] * term_t(inputs); weight (out_channels, n_coeffs). Inputs carry no channel axis.")
    else:
        lines += [f"{channels} input channels: every input is (*batch, {channels}, n, ...), the output",
                  f"(*batch, out_channels, {shape}); a term of degree 1 has one weight per input channel",
                  "(weight[o, offset + c]), a term of degree 0 (a bias) one weight per output channel."]
    lines.append("Without out_channels the output has no channel axis.")
    sizes = f"any n >= {least}" if most is None else f"only n = {most} (generated below the number of legs)"
    lines += [f"Sizes: the inputs' axes share one size n, read at each call: {sizes}.",
              "Deltas of output legs are written as diagonal embeddings (no n^k buffer).",
              "Coefficients (offset: formula, einsum as `basis-compiler show` prints it):"]
    for off, width, term in zip(offsets, widths, terms):
        span = f"{off}" if width == 1 else f"{off}..{off + width - 1}"
        lines.append(f"  {span}: {formula(term)}   {term.einsum.subscripts} {' '.join(term.einsum.operands)}")
    return ('"""' + "\n".join(lines) + '\n"""').replace("\\", "\\\\")


def _groups(term):
    """Output positions grouped by block (in order of least position), whether each block meets an
    input, the einsum letter of each, and the input operands as (name, subscript)."""
    spec = term.einsum
    lhs, out = spec.subscripts.split("->")
    subs = lhs.split(",")
    inputs = [(name, sub) for sub, name, ref in zip(subs, spec.operands, spec.refs) if ref.kind == "input"]
    group_of = {p: p for p in range(len(out))}
    for sub, ref in zip(subs, spec.refs):
        if ref.kind == "delta" and len(sub) > 1:
            first = out.index(sub[0])
            for c in sub[1:]:
                group_of[out.index(c)] = first
    groups = []
    for p in range(len(out)):
        if group_of[p] == p:
            groups.append([q for q in range(len(out)) if group_of[q] == p])
    used = set("".join(sub for _, sub in inputs))
    return groups, [out[g[0]] in used for g in groups], [out[g[0]] for g in groups], inputs


def _forward(sig, terms, offsets, widths, channels, local, helper, least, most) -> list[str]:
    T, y, z, out, w, n, ar, batch = (local[key] for key in ("torch", "y", "z", "out", "w", "n", "ar", "batch"))
    k = sig.output.order
    names = [s.name for s in sig.inputs]
    orders = [s.type.order for s in sig.inputs]
    body = []
    if names:
        named = "[" + ", ".join(f"({nm!r}, {nm})" for nm in names) + "]"
        body.append(f"{n}, {batch} = {helper}({named}, {orders}, {channels!r}, {least}, {most!r}, {sig.d})")
        first = names[0]
        body.append(f"{w} = self.weight.to({first}.dtype)")
        dev = f"{first}.device"
    else:
        body += [f"{n}, {batch} = {sig.d}, ()", f"{w} = self.weight"]
        dev = f"{w}.device"
    body.append(f"{out} = {T}.zeros({batch} + ({w}.shape[0],) + ({n},) * {k}, dtype={w}.dtype, device={dev})")
    needs_arange = False
    embedded: dict = {}
    taken = set(names) | set(local.values())
    linear: dict = {}  # output group -> {(input, broadcast axes, axis order): [(reduction, offset, width, formula)]}
    reductions: dict = {}  # (input, canonical subscript, kept letters) -> variable
    for i, (term, off, width) in enumerate(zip(terms, offsets, widths)):
        groups, tensor, reps, inputs = _groups(term)
        rename: dict[str, str] = {}
        pool = iter(_LETTERS)

        def ren(s: str) -> str:
            return "".join(rename.setdefault(c, next(pool)) for c in s)

        for rep in reps:
            ren(rep)
        key = ("broadcast", tuple(tensor)) if all(len(g) == 1 for g in groups) else tuple(map(tuple, groups))
        kept = "".join(ren(r) for r, t in zip(reps, tensor) if t)
        if channels is not None and len(inputs) == 1:
            # a linear term: a reduction of its input (diagonals and sums, shared with every other
            # term that needs it) times its weight slice; terms with the same output blocks are
            # mixed by one batched GEMM below
            name, sub = inputs[0]
            canon, keep, axes = _reduction(ren(sub), kept)
            rkey = (name, canon, keep)
            reductions.setdefault(rkey, None)
            members = linear.setdefault(key, {})
            members.setdefault((name, tuple(tensor), tuple(axes)), []).append((rkey, off, width, formula(term)))
            continue
        body.append(f"# term {i}: {formula(term)}")
        sliced = channels is not None and inputs  # a linear term keeps its input-channel axis, even for C = 1
        wcol = f"{w}[:, {off}:{off + width}]" if sliced else f"{w}[:, {off}]"
        if inputs:
            chan = "c" if channels is not None else ""
            subs = [f"...{chan}{ren(sub)}" for _, sub in inputs]
            wsub = "o" + chan
            eq = ",".join(subs + [wsub]) + f"->...o{kept}"
            ops = ", ".join([nm for nm, _ in inputs] + [wcol])
            core = f"{T}.einsum({eq!r}, {ops})"
        else:
            core = wcol
        _accumulate(body, embedded, key, core, tensor, groups, y, taken)
    body += _reduction_lines(reductions, T, taken, local["z"])
    stacked: dict = {}  # a concatenation of reductions -> its variable
    for key, members in linear.items():
        groups = [list(g) for g in key] if key[0] != "broadcast" else [[p] for p in range(k)]
        for (_, tensor, axes), parts in members.items():
            body.append("# " + " + ".join(formula for *_, formula in parts))
            core = _mix_line(parts, axes, reductions, w, T, local["mix"], stacked, body, taken)
            _accumulate(body, embedded, key, core, list(tensor), groups, y, taken)
    full = next((acc for g, acc in embedded.items() if g == ("broadcast", (True,) * k)), None) \
        if k and len(names) == 1 else None
    if full is not None:  # the output starts as the full-size sum (no zeros buffer to add to)
        at = next(j for j, line in enumerate(body) if line.startswith(f"{out} = {T}.zeros("))
        body.pop(at)
        body.append(f"{out} = {full}")
    body += _fold_broadcasts(embedded, full)
    for groups, acc in embedded.items():
        if acc == full:
            continue
        if groups[0] == "broadcast":
            view = ", ".join(":" if t else "None" for t in groups[1])
            body.append(f"{out} += {acc}[..., {view}]" if view and not all(groups[1]) else f"{out} += {acc}")
            continue
        m = len(groups)
        pairs = [g for g in groups if len(g) == 2]
        if len(pairs) == 1 and all(len(g) <= 2 for g in groups):
            # one block of two output legs: add onto a diagonal view of the output, whose last
            # axis is that block (cheaper than index arrays, forward and backward)
            (p, q), at = pairs[0], groups.index(pairs[0])
            moved = acc if at == m - 1 else f"{acc}.movedim({at - m}, -1)"
            body += [f"# diagonal embedding of the output blocks {[list(g) for g in groups]}",
                     f"{out}.diagonal(0, {p - k}, {q - k}).add_({moved})"]
            continue
        needs_arange = True
        index = []
        for p in range(k):
            gi = next(j for j, g in enumerate(groups) if p in g)
            shape = ", ".join("-1" if j == gi else "1" for j in range(m))
            index.append(f"{ar}.view({shape})" if m > 1 else ar)
        body += [f"# diagonal embedding of the output blocks {[list(g) for g in groups]}",
                 f"{out}[(..., {', '.join(index)})] = {out}[(..., {', '.join(index)})] + {acc}"]
    if needs_arange:
        at = next(j for j, line in enumerate(body) if line.startswith(f"{w} = "))
        body.insert(at + 1, f"{ar} = {T}.arange({n}, device={w}.device)")
    if sig.output.symmetry != "none" and k > 1:
        perms = list(itertools.permutations(range(k)))
        anti = sig.output.symmetry == "anti"
        parts = []
        for p in perms:
            sign = _sign(p) if anti else 1
            axes = ", ".join(str(a - k) for a in p)
            term = f"{out}.permute(*range({out}.dim() - {k}), *[{out}.dim() + a for a in ({axes},)])"
            parts.append(("- " if sign < 0 else "+ ") + term)
        joined = " ".join(parts).lstrip("+ ")
        body.append(f"{out} = ({joined}) / {math.factorial(k)}  # the output's (anti)symmetrization")
    body += [f"return {out} if self.out_channels is not None else {out}.select({out}.dim() - {k + 1}, 0)"]
    return body


def _accumulate(body, embedded, key, core, tensor, groups, y, taken) -> None:
    """Add a term's compact result to its output group's sum: terms with the same output blocks
    (and the same broadcast axes, when no block has two output legs) are summed at their compact
    size first, and broadcast or embedded once."""
    view = ", ".join(":" if t else "None" for t in tensor)
    if key[0] != "broadcast":
        core = f"({core})[..., {view}]" if view and not all(tensor) else core
    if key not in embedded:
        embedded[key] = _fresh(f"{y}{len(embedded)}", taken)
        body.append(f"{embedded[key]} = {core}")
    else:
        body.append(f"{embedded[key]} = {embedded[key]} + {core}")


def _fold_broadcasts(embedded: dict, full) -> list[str]:
    """Add each broadcast sum whose output axes are a subset of another's (not the full one) into
    that one at its compact size, so the output takes one pass per remaining sum: a bias into the
    row terms before they are broadcast over n x n. Folded sums leave `embedded`."""
    lines = []
    keys = sorted((g for g in embedded if g[0] == "broadcast" and embedded[g] != full), key=lambda g: sum(g[1]))
    for g in keys:
        into = next((h for h in keys if h in embedded and sum(h[1]) > sum(g[1])
                     and all(a or not b for a, b in zip(h[1], g[1]))), None)
        if into is None:
            continue
        view = ", ".join(":" if b else "None" for a, b in zip(into[1], g[1]) if a)
        lines.append(f"{embedded[into]} = {embedded[into]} + {embedded.pop(g)}[..., {view}]")
    return lines


def _reduction(sub: str, kept: str) -> tuple[str, str, list[int]]:
    """A linear term's input subscript relabelled by first appearance (so 'ac' and 'ab' with the
    first letter kept are one reduction: row sums), the kept letters so relabelled (the
    reduction's axes, by first appearance), and for each kept letter in the term's output order
    its axis in the reduction."""
    order = list(dict.fromkeys(sub))
    canon = "".join(_LETTERS[order.index(c)] for c in sub)
    keep = [c for c in order if c in kept]
    return canon, "".join(_LETTERS[order.index(c)] for c in keep), [keep.index(c) for c in kept]


def _reduction_lines(reductions: dict, T: str, taken: set, prefix: str) -> list[str]:
    """Compute every reduction once, the ones that keep more axes first; a reduction that sums
    more of the same subscript is a sum over an earlier one's axes (total sums from row sums)."""
    lines = []
    for rkey in sorted(reductions, key=lambda r: (-len(r[2]), r)):
        name, canon, keep = rkey
        source = min((r for r in reductions if r[:2] == rkey[:2] and reductions[r] and set(keep) < set(r[2])),
                     key=lambda r: len(r[2]), default=None)
        if canon == keep:  # the input itself (every axis kept, no diagonal)
            reductions[rkey] = name
            continue
        var = reductions[rkey] = _fresh(f"{prefix}{len(lines)}", taken)
        if source is None:
            expr = f"{T}.einsum('...c{canon}->...c{keep}', {name})"
        else:
            dims = tuple(j - len(source[2]) for j, a in enumerate(source[2]) if a not in keep)
            expr = f"{reductions[source]}.sum(dim={dims})"
        lines.append(f"{var} = {expr}  # {name}: {canon} -> {keep or 'scalar'} per channel")
    return lines


def _mix_line(parts, axes, reductions, w, T, mix, stacked, body, taken) -> str:
    """One batched GEMM over the channels of the stacked reductions of terms with the same output
    blocks, axes and axis order: weight columns (out, C x members) times (*batch, C x members,
    n^m) -> (*batch, out, n^m), then the term's axis order."""
    m = len(axes)
    rs = [reductions[rkey] for rkey, *_ in parts]
    spans: list[list[int]] = []  # weight column ranges, adjacent ones merged (one slice, no cat)
    for _, off, width, _ in parts:
        if spans and spans[-1][1] == off:
            spans[-1][1] = off + width
        else:
            spans.append([off, off + width])
    ws = [f"{w}[:, {a}:{b}]" for a, b in spans]
    r = rs[0]
    if len(rs) > 1:
        cat = f"{T}.cat([{', '.join(rs)}], dim={-(m + 1)})"
        if cat not in stacked:
            stacked[cat] = _fresh(f"{rs[0]}s", taken)
            body.append(f"{stacked[cat]} = {cat}")
        r = stacked[cat]
    wt = ws[0] if len(ws) == 1 else f"{T}.cat([{', '.join(ws)}], dim=1)"
    core = f"{mix}({wt}, {r}, {m})"
    if list(axes) != sorted(axes):  # reduction axis axes[j] goes to the term's output axis j
        core = f"{T}.movedim({core}, {tuple(a - m for a in axes)}, {tuple(j - m for j in range(m))})"
    return core


def _sign(p) -> int:
    s = 1
    for a, b in itertools.combinations(range(len(p)), 2):
        if p[a] > p[b]:
            s = -s
    return s


__all__ = ["partition_layer_source"]
