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
    """Inputs are (*batch, [channels,] *trailing); say which input is wrong and what it needs."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"input {name!r} must be a torch.Tensor, got {type(x).__name__}")
    k = len(trailing)
    if x.dim() < k + channels or tuple(x.shape[x.dim() - k:]) != tuple(trailing):
        raise ValueError(f"input {name!r} has shape {tuple(x.shape)}; it needs (*batch, "
                         f"{'channels, ' if channels else ''}{', '.join(map(str, trailing))})")


def check_coeffs(x, count):
    """The coefficients of a covariant layer are (*batch, count)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"coeffs must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 1 or x.shape[-1] != count:
        raise ValueError(f"coeffs must have {count} entries in its last axis, got {tuple(x.shape)}")


HELPERS = (eta, omega, eps_contract, orbit_index, check, check_coeffs)
"""Every helper a generated module may copy, in the order they are printed."""
