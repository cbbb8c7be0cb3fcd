"""Spectral recovery: SOS matrices, top-eigenvector heads (robust to degenerate spectra), loss."""

from __future__ import annotations

import torch
from torch import nn

from ...errors import DataError

SOS_VARIANTS = ("I", "II")
"""SOS-I (Hopkins, Schramm, Shi, Steurer 2016) and SOS-II (the paper's code, after Mao & Wein 2022)."""

DEFAULT_MIN_GAP = 1e-6
"""Smallest eigenvalue gap (relative to max(1, max|λ|)) the backward pass divides by."""


def sos_matrix(S: torch.Tensor, variant: str = "I") -> torch.Tensor:
    """(..., d, d) SOS matrix Sᵀ diag(w) S, w_i = ‖a_i‖² − d/n (I) or ‖a_i‖² − (d−1)/n then − 3I (II)."""
    if variant not in SOS_VARIANTS:
        raise DataError(f"unknown SOS variant {variant!r}; valid: {', '.join(SOS_VARIANTS)}")
    n, d = S.shape[-2], S.shape[-1]
    shift = d / n if variant == "I" else (d - 1) / n
    w = (S * S).sum(-1) - shift
    A = S.transpose(-1, -2) @ (w.unsqueeze(-1) * S)
    if variant == "II":
        A = A - 3.0 * torch.eye(d, dtype=S.dtype, device=S.device)
    return A


def top_eigvec_recover(A: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """v̂ = S u with u the top eigenvector of the symmetric A (plain torch.linalg.eigh)."""
    _, vecs = torch.linalg.eigh(A)
    return (S @ vecs[..., -1:]).squeeze(-1)


class _TopEigvec(torch.autograd.Function):
    """Top eigenvector of a symmetric matrix with a gap-clamped backward.

    eigh's own backward divides by λ_i − λ_j and yields inf/NaN when the top two eigenvalues
    (nearly) coincide, which happens early in training (e.g. A ≈ c·I). Here 1/(λ_top − λ_j)
    uses max(gap, min_gap·max(1, max|λ|)), so gradients stay finite and keep their direction;
    the eigenvector itself is unchanged.
    """

    @staticmethod
    def forward(ctx, A, min_gap):
        finite = torch.isfinite(A).flatten(-2).all(-1)
        all_finite = bool(finite.all())
        if not all_finite:
            # eigh raises on NaN input; substitute I and report NaN so the trainer can skip the step.
            eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
            A = torch.where(finite[..., None, None], A, eye)
        evals, evecs = torch.linalg.eigh(A)
        ctx.save_for_backward(evals, evecs)
        ctx.min_gap = min_gap
        u = evecs[..., -1]
        if not all_finite:
            u = torch.where(finite[..., None], u, torch.full_like(u, float("nan")))
        return u

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_u):
        evals, evecs = ctx.saved_tensors
        u, rest = evecs[..., -1], evecs[..., :-1]
        floor = ctx.min_gap * evals.abs().amax(-1, keepdim=True).clamp_min(1.0)
        gaps = torch.maximum(evals[..., -1:] - evals[..., :-1], floor)
        # du = Σ_{j≠top} v_j v_jᵀ dA u / (λ_top − λ_j)  ⇒  ∂L/∂A = w uᵀ, w = Σ_j v_j (v_jᵀ g) / gap_j.
        coef = (rest.transpose(-1, -2) @ grad_u.unsqueeze(-1)) / gaps.unsqueeze(-1)
        G = (rest @ coef) @ u.unsqueeze(-2)
        # eigh only sees symmetric matrices, so only the symmetric part of the gradient is meaningful.
        return (G + G.transpose(-1, -2)) / 2, None


def robust_top_eigvec(A: torch.Tensor, min_gap: float = DEFAULT_MIN_GAP) -> torch.Tensor:
    """(..., d) top eigenvector of the symmetric (..., d, d) A; finite gradients even for degenerate spectra."""
    return _TopEigvec.apply(A, min_gap)


class EigenHead(nn.Module):
    """Maps (A, S) to v̂ = S u, u the top eigenvector of A, with the gap-clamped backward."""

    def __init__(self, min_gap: float = DEFAULT_MIN_GAP):
        super().__init__()
        self.min_gap = min_gap

    def forward(self, A: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        return (S @ robust_top_eigvec(A, self.min_gap).unsqueeze(-1)).squeeze(-1)


class SOSMethod(nn.Module):
    """Parameter-free SOS-I / SOS-II recovery as a module (same calling convention as the learned models)."""

    def __init__(self, variant: str = "I"):
        super().__init__()
        if variant not in SOS_VARIANTS:
            raise DataError(f"unknown SOS variant {variant!r}; valid: {', '.join(SOS_VARIANTS)}")
        self.variant = variant

    def forward(self, S: torch.Tensor) -> torch.Tensor:
        return top_eigvec_recover(sos_matrix(S, self.variant), S)


def recovery_loss(v_hat: torch.Tensor, v0: torch.Tensor) -> torch.Tensor:
    """mean(1 − ⟨v0, v̂⟩²): sign-blind, since ±v0 are both correct."""
    return (1 - (v0 * v_hat).sum(-1) ** 2).mean()


def accuracy(v_hat: torch.Tensor, v0: torch.Tensor) -> torch.Tensor:
    """mean ⟨v0, v̂⟩² (the paper's reported accuracy)."""
    return ((v0 * v_hat).sum(-1) ** 2).mean()
