"""Random smooth curves and their signatures (the data of `basis-compiler signatures`).

A curve is X(t) = Σ_{p<=5} c_p t^p on [-1, 1] with every coefficient uniform in [-1, 1], one
polynomial per coordinate of R^D. It is evaluated on a fine grid (FINE points): the fine path is
the piecewise-linear curve through those points, and its signature is the target. The model
sees the curve at a coarse grid of `steps` points.

The signature of a piecewise-linear path is the tensor product of the exponentials of its
increments (Chen's identity): after one more segment Δ the level-k term becomes
S_k + Σ_{j=1..k} S_{k-j} ⊗ Δ^{⊗j} / j!. Summing that update over the segments with cumulative
sums (each level only needs the running lower levels) vectorizes it over the segments and over
the batch, so no Python loop runs over the 1000 points.

Everything here is float64 and deterministic in its seed; nothing depends on torch's global RNG.
"""

from __future__ import annotations

import numpy as np
import torch

from ...errors import DataError

POLY_DEGREE = 5
"""Degree of the random polynomial curves."""

FINE = 1000
"""Points of the fine grid whose piecewise-linear path defines the target signature."""

CHUNK_BYTES = 64 * 2**20
"""Memory per chunk of paths in signature(): the running levels hold (chunk, segments, D^(depth-1))."""


def curve_coefficients(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """(n, POLY_DEGREE + 1, dim) coefficients, uniform in [-1, 1]; row p multiplies t^p."""
    return rng.uniform(-1.0, 1.0, size=(n, POLY_DEGREE + 1, dim))


def evaluate_curves(coefficients: np.ndarray, points: int) -> torch.Tensor:
    """(n, points, dim): the curves at `points` equally spaced times in [-1, 1] (both ends included)."""
    t = np.linspace(-1.0, 1.0, points)
    powers = t[:, None] ** np.arange(coefficients.shape[1])[None, :]          # (points, P+1)
    return torch.from_numpy(np.einsum("tp,npd->ntd", powers, coefficients))


def draw_curves(n: int, dim: int, steps: int, seed: int, fine: int = FINE) -> np.ndarray:
    """(n, POLY_DEGREE + 1, dim) coefficients of n random curves in R^dim drawn from `seed`."""
    for name, value, low in (("n", n, 0), ("dim", dim, 1), ("steps", steps, 2), ("fine", fine, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise DataError(f"{name} must be an int >= {low}, got {value!r}; e.g. draw_curves(100, 3, 10, seed=0)")
    return curve_coefficients(n, dim, np.random.default_rng(seed))


def curve_signature(coefficients: np.ndarray, points: int, depth: int) -> list[torch.Tensor]:
    """Levels 1..depth of the signature of the piecewise-linear path through each curve at `points` times.

    Every curve is the linear image X(t_i) = Cᵀ m(t_i) of the one monomial path m(t) = (1, t, ...,
    t^5) in R^6, and the signature of a linear image is the image of the signature: S_k(X) =
    C^{⊗k} · S_k(m). So the 1000-point recursion runs once, on m, and each curve costs one
    contraction per level. (tests check this against signature() on the points themselves.)
    """
    monomial = evaluate_curves(np.eye(coefficients.shape[1])[None], points)        # (1, points, P+1)
    basis = [s[0] for s in signature(monomial, depth)]
    c = torch.from_numpy(coefficients)                                              # (n, P+1, D)
    levels = []
    for k, s in enumerate(basis, start=1):
        mono, axes = "pqrstu"[:k], "abcdef"[:k]                  # e.g. "pqr,npa,nqb,nrc->nabc"
        spec = mono + "," + ",".join(f"n{m}{a}" for m, a in zip(mono, axes)) + "->n" + axes
        levels.append(torch.einsum(spec, s, *([c] * k)))
    return levels


def increments(points: torch.Tensor) -> torch.Tensor:
    """(..., L - 1, D): the segments of a path given by (..., L, D) points (translation invariant)."""
    return points[..., 1:, :] - points[..., :-1, :]


def signature(points: torch.Tensor, depth: int) -> list[torch.Tensor]:
    """Levels 1..depth of the signature of the piecewise-linear path through `points` (..., L, D).

    Returns [S_1 (..., D), S_2 (..., D, D), ..., S_depth (..., D^depth)]: S_k is the k-fold
    iterated integral ∫_{t1<...<tk} dX_t1 ⊗ ... ⊗ dX_tk. Computed in chunks of paths so that
    the per-segment terms (at most D^(depth-1) numbers per segment) fit in CHUNK_BYTES.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise DataError(f"depth must be an int >= 1, got {depth!r}; e.g. signature(points, 3)")
    if points.dim() < 2 or points.shape[-2] < 1:
        raise DataError(f"points must be (..., L, D) with L >= 1, got shape {tuple(points.shape)}; "
                        "e.g. torch.zeros(8, 10, 3)")
    lead, (length, dim) = points.shape[:-2], points.shape[-2:]
    flat = points.reshape(-1, length, dim)
    per_path = max(1, (length - 1) * dim ** (depth - 1) * points.element_size() * 4)
    chunk = max(1, CHUNK_BYTES // per_path)
    parts = [_signature(flat[i:i + chunk], depth) for i in range(0, flat.shape[0], chunk)]
    levels = [torch.cat([p[k] for p in parts]) if parts else flat.new_zeros((0,) + (dim,) * (k + 1))
              for k in range(depth)]
    return [s.reshape(lead + s.shape[1:]) for s in levels]


def _signature(points: torch.Tensor, depth: int) -> list[torch.Tensor]:
    delta = increments(points)                                   # (B, T, D)
    batch, segments, dim = delta.shape
    ones = delta.new_ones(batch, segments, 1)
    # powers[j] = Δ^{⊗j} / j! per segment, only for j < depth: the top power is never formed
    powers = [ones]
    for j in range(1, depth):
        powers.append(_outer(powers[-1], delta) / j)
    before = [ones]  # before[k]: level k of the path up to (excluding) each segment, (B, T, D^k)
    levels = []
    for k in range(1, depth + 1):
        # Chen: the update of level k over a segment is Σ_j before[k-j] ⊗ Δ^{⊗j}/j! = A ⊗ Δ with
        # A = Σ_j before[k-j] ⊗ Δ^{⊗(j-1)}/(j-1)! / j, so only (B, T, D^{k-1}) is ever stored
        a = sum(_outer(before[k - j], powers[j - 1]) / j for j in range(1, k + 1))
        levels.append(torch.bmm(a.transpose(1, 2), delta).reshape((batch,) + (dim,) * k))
        if k < depth:
            step = _outer(a, delta)
            before.append(step.cumsum(1) - step)
    return levels


def _outer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-segment tensor product of flattened tensors: (B, T, m) x (B, T, n) -> (B, T, m n)."""
    return (a[..., :, None] * b[..., None, :]).reshape(a.shape[0], a.shape[1], -1)


def act_on_levels(g: torch.Tensor, levels: list[torch.Tensor]) -> list[torch.Tensor]:
    """g·S for per-sample matrices g (B, D, D): level k is contracted with g on each of its k axes."""
    out = []
    for s in levels:
        for axis in range(1, s.dim()):
            s = _apply(g, s, axis)
        out.append(s)
    return out


def _apply(g: torch.Tensor, y: torch.Tensor, axis: int) -> torch.Tensor:
    """Contract g (B, D, D) with axis `axis` of y (B, D, ..., D): y_..a.. -> g_ab y_..b.."""
    moved = y.movedim(axis, -1)                                  # (B, ..., D)
    shape = moved.shape
    z = torch.bmm(moved.reshape(shape[0], -1, shape[-1]), g.transpose(1, 2))
    return z.reshape(shape).movedim(-1, axis)
