"""Runtime helpers of generated modules, as real (importable, testable) functions.

A generated module stays standalone (it imports torch only): the printer copies the source of
exactly the helpers it calls into the file, under a private name the module's namespace gives
it (``_eta``, ``_check``, ...; renamed when an input already uses that name). So these
functions may use nothing but torch and their own arguments, and never call each other.
"""

from __future__ import annotations

import torch


def eta(x, sign, axis):
    """x with the metric's signs applied along one axis (eta contraction as an index identification)."""
    shape = [1] * x.dim()
    shape[axis] = -1
    return x * sign.view(shape)


def omega(x, axis):
    """Omega applied along one axis: a signed swap of the two halves, no matrix product."""
    h = x.shape[axis] // 2
    return torch.cat((x.narrow(axis, h, h), -x.narrow(axis, 0, h)), dim=axis)


def eps_contract(columns, free):
    """Levi-Civita contracted with vectors: det of the columns, or (free = slot) the cofactor
    vector c_a = det(columns with e_a inserted at that slot). No d**d tensor, so any d works."""
    m = torch.stack(torch.broadcast_tensors(*columns), dim=-1)
    if free is None:
        return torch.linalg.det(m)
    d = m.shape[-2]
    spread = m.unsqueeze(-3).expand(*m.shape[:-2], d, d, d - 1)
    unit = torch.eye(d, dtype=m.dtype, device=m.device).expand(*m.shape[:-2], d, d).unsqueeze(-1)
    return torch.linalg.det(torch.cat([spread[..., :free], unit, spread[..., free:]], dim=-1))


def orbit_index(n, m, symmetry, offset, total):
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


def check(name, x, trailing, channels):
    """Inputs are (*batch, *trailing); say which input is wrong and what it needs. A str entry of
    trailing is a family size given at run time (any size >= 1); with channels, trailing starts
    with a polynomial layer's input channel count."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"input {name!r} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        # integer arithmetic would truncate the 1/orbit-size scales: refuse rather than be wrong
        raise TypeError(f"input {name!r} has dtype {x.dtype}; generated modules compute in real floating point: "
                        f"convert it with {name}.double() or {name}.float()")
    k = len(trailing)
    shape = tuple(x.shape[x.dim() - k:]) if x.dim() >= k else ()
    if x.dim() < k or any(s < 1 if isinstance(t, str) else s != t for s, t in zip(shape, trailing)):
        need = [f"{trailing[0]} channels"] + [str(t) for t in trailing[1:]] if channels else [str(t) for t in trailing]
        raise ValueError(f"input {name!r} has shape {tuple(x.shape)}; it needs (*batch, {', '.join(need)})")


def drop_orbits(index, size, dropped, offset, total):
    """An orbit_index result (called with offset 0 and total = its orbit count) with the orbits
    in `dropped` (positions among all orbits) given no coefficient: they read the zero slot
    `total`, the kept ones are renumbered from `offset` (negated copies at + total + 1)."""
    count = size.numel()
    gone = torch.zeros(count, dtype=torch.bool)
    gone[list(dropped)] = True
    position = offset + torch.cumsum((~gone).long(), 0) - 1
    table = torch.full((2 * count + 1,), total, dtype=torch.long)
    table[:count] = torch.where(gone, total, position)
    table[count + 1:] = torch.where(gone, total, position + total + 1)
    return table[index], size[~gone], int((~gone).sum())


def check_coeffs(x, count):
    """The coefficients of a covariant layer are (*batch, count)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"coeffs must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"coeffs has dtype {x.dtype}; generated modules compute in real floating point: "
                        "convert it with coeffs.double() or coeffs.float()")
    if x.dim() < 1 or x.shape[-1] != count:
        raise ValueError(f"coeffs must have {count} entries in its last axis, got {tuple(x.shape)}")


def common_dtype(named):
    """The one dtype of the named tensors [(name, tensor)]; no silent promotion between inputs."""
    first, x = named[0]
    for name, y in named[1:]:
        if y.dtype != x.dtype:
            raise TypeError(f"{first!r} has dtype {x.dtype} and {name!r} {y.dtype}; pass the inputs in one "
                            f"floating dtype, e.g. {name}.to({first}.dtype)")
    return x.dtype


def read_sizes(families, symbols):
    """The run-time family sizes, in the order of `symbols`: families lists (input name, size
    symbol, tensor, axis); families sharing a symbol must agree."""
    sizes, where = {}, {}
    for name, symbol, x, axis in families:
        n = x.shape[axis]
        if sizes.setdefault(symbol, n) != n:
            raise ValueError(f"inputs {where[symbol]!r} and {name!r} share the family size {symbol} but have "
                             f"{sizes[symbol]} and {n} members; pass families of equal size")
        where.setdefault(symbol, name)
    return tuple(sizes[s] for s in symbols)


def size_arguments(symbols, args, kwargs):
    """Family sizes given to n_coeffs_for / n_features_for / a constructor: one int when there is
    one size symbol, keywords by symbol (n=50), or one dict {symbol: size}; a tuple in symbol order."""
    if len(args) == 1 and isinstance(args[0], dict) and not kwargs:
        kwargs, args = dict(args[0]), ()
    if args and len(args) == len(symbols) and not kwargs:
        kwargs, args = dict(zip(symbols, args)), ()
    example = ", ".join(f"{s}=50" for s in symbols)
    if args or set(kwargs) != set(symbols):
        raise TypeError(f"give the family sizes by symbol: ({example}); got {args or ''}{kwargs or ''}")
    for s in symbols:
        if isinstance(kwargs[s], bool) or not isinstance(kwargs[s], int) or kwargs[s] < 1:
            raise ValueError(f"family size {s} must be an int >= 1, got {kwargs[s]!r}; e.g. ({example})")
    return tuple(kwargs[s] for s in symbols)


def coefficient_layout(terms, sizes, zero_slot, pick, device, orbit_index):
    """Where each term's coefficients (or features) sit at concrete family sizes.

    terms lists per term None (one coefficient) or (size symbol, copies m, index symmetry);
    sizes maps symbols to ints; orbit_index is the module's copy of that helper (helpers do not
    call each other by name). Returns (total, offsets, index per term or None, scale): index as
    orbit_index gives it (pick: one representative J per orbit, as the invariants read them),
    scale 1 / orbit size per coefficient (0 in the zero slot), float64.
    """
    counts = [1 if t is None else orbit_index(sizes[t[0]], t[1], t[2], 0, 0)[2] for t in terms]
    offsets, total = [], 0
    for count in counts:
        offsets.append(total)
        total += count
    scale = torch.ones(total + zero_slot, dtype=torch.float64)
    if zero_slot:
        scale[total] = 0
    indices = []
    for t, offset, count in zip(terms, offsets, counts):
        if t is None:
            indices.append(None)
            continue
        if pick:
            index = orbit_index(sizes[t[0]], t[1], t[2], 0, count)[0]
            keep = index < count
            index = torch.full((count,), index.numel()).scatter_reduce(
                0, index[keep], torch.arange(index.numel())[keep], "amin")
        else:
            index, size, _ = orbit_index(sizes[t[0]], t[1], t[2], offset, total)
            scale[offset:offset + count] = 1.0 / size.double()
        indices.append(index.to(device))
    return total, offsets, indices, scale.to(device)


def channel_mix(weight, x, m):
    """weight (O, C) times x (*batch, C, n, ..., n) (m axes of size n) over the channel axis ->
    (*batch, O, n, ..., n), as one batched GEMM on a view of x: torch.matmul and einsum would copy
    x into a channels-last layout first, which costs more than the product at these shapes."""
    batch, rest = x.shape[:x.dim() - m - 1], x.shape[x.dim() - m:]
    size = 1
    for s in rest:
        size *= s
    flat = x.reshape(-1, x.shape[x.dim() - m - 1], size)
    out = torch.bmm(weight.expand(flat.shape[0], *weight.shape), flat)
    return out.view(*batch, weight.shape[0], *rest)


HELPERS = (eta, omega, eps_contract, orbit_index, drop_orbits, check, check_coeffs, common_dtype, read_sizes, size_arguments, coefficient_layout)
"""Every helper a generated module may copy, in the order they are printed."""


def permutation_size(named, orders, channels, least, most, default):
    """S(n) layers: the one size n of every input axis (and the broadcast batch shape), checked:
    named is [(name, tensor)], orders the tensor order of each, channels the channel count or None,
    least/most the sizes the layer accepts (most None: no upper bound), default the n when no
    input has an axis (the group's own n)."""
    n, batches = None, []
    for (name, x), k in zip(named, orders):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input {name!r} must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"input {name!r} has dtype {x.dtype}; convert it with {name}.double() or {name}.float()")
        if x.dtype != named[0][1].dtype:
            raise TypeError(f"{named[0][0]!r} has dtype {named[0][1].dtype} and {name!r} {x.dtype}; pass the inputs "
                            f"in one floating dtype, e.g. {name}.to({named[0][0]}.dtype)")
        lead = 0 if channels is None else 1
        axes = tuple(x.shape[x.dim() - k:]) if k else ()
        size = axes[0] if axes else n
        need = ", ".join(([f"{channels} channels"] if channels else []) + ["n"] * k)
        if x.dim() < k + lead or len(set(axes)) > 1 or (lead and x.shape[x.dim() - k - 1] != channels) \
                or (n is not None and size is not None and size != n):
            raise ValueError(f"input {name!r} has shape {tuple(x.shape)}; it needs (*batch, {need}) with one size n "
                             "shared by every input axis")
        n = size if size is not None else n
        batches.append(tuple(x.shape[:x.dim() - k - lead]))
    if n is not None and (n < least or (most is not None and n != most)):
        allowed = f"n >= {least}" if most is None else f"n = {most}"
        raise ValueError(f"the inputs have size n = {n}; this layer accepts {allowed} (its terms are a basis there); "
                         "generate it at S(n) with n >= its number of legs for other sizes")
    return (default if n is None else n), torch.broadcast_shapes(*batches)
