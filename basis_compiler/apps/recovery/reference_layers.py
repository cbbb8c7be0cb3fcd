"""Hand-written invariant features and O(d)-equivariant matrix layers for SVH and SVH-Diag.

The models use the compiler's generated layers (baselines.compiled_svh_layers); these
einsum-free formulas are kept only as an independent cross-check (tests compare the two).
Calling conventions: features(S) -> (batch, n_features), invariant under S ↦ S·O;
covariant(coeffs, S) -> (batch, d, d) symmetric, A(S·O) = Oᵀ A(S) O.
Coefficient order here: upper triangle row-major (i <= j), then the identity coefficient LAST
(the generated CovariantLayer puts the identity FIRST; a test permutes the MLP's last layer).
"""

from __future__ import annotations

import torch

from ...errors import DataError


def _check_coeffs(coeffs: torch.Tensor, S: torch.Tensor, expected: int) -> None:
    if coeffs.shape[-1] != expected or coeffs.shape[:-1] != S.shape[:-2]:
        raise DataError(
            f"coeffs has shape {tuple(coeffs.shape)}; expected {tuple(S.shape[:-2]) + (expected,)} for S of shape {tuple(S.shape)}"
        )


def diag_features(S: torch.Tensor) -> torch.Tensor:
    """(..., n) squared row norms ‖a_i‖² of S (..., n, d)."""
    return (S * S).sum(-1)


def diag_covariant(coeffs: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """A = Σ_i c_i a_i a_iᵀ + c_n I = Sᵀ diag(c_:n) S + c_n I from (..., n+1) coefficients."""
    n, d = S.shape[-2], S.shape[-1]
    _check_coeffs(coeffs, S, n + 1)
    A = S.transpose(-1, -2) @ (coeffs[..., :n].unsqueeze(-1) * S)
    return A + coeffs[..., n, None, None] * torch.eye(d, dtype=S.dtype, device=S.device)


def gram_features(S: torch.Tensor) -> torch.Tensor:
    """(..., n(n+1)/2) upper triangle (row-major, diagonal included) of the Gram matrix S Sᵀ."""
    n = S.shape[-2]
    i, j = torch.triu_indices(n, n, device=S.device)
    return (S @ S.transpose(-1, -2))[..., i, j]


def gram_covariant(coeffs: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """A = Σ_{i<=j} q_ij (a_i a_jᵀ + a_j a_iᵀ)/2 + q_0 I = Sᵀ Q S + q_0 I, O(n²d) per sample."""
    n, d = S.shape[-2], S.shape[-1]
    m = n * (n + 1) // 2
    _check_coeffs(coeffs, S, m + 1)
    i, j = torch.triu_indices(n, n, device=S.device)
    U = coeffs.new_zeros(coeffs.shape[:-1] + (n, n))
    U[..., i, j] = coeffs[..., :m]
    # (U + Uᵀ)/2 keeps q_ii on the diagonal and puts q_ij/2 at (i,j) and (j,i), matching the basis.
    Q = (U + U.transpose(-1, -2)) / 2
    A = S.transpose(-1, -2) @ Q @ S
    return A + coeffs[..., m, None, None] * torch.eye(d, dtype=S.dtype, device=S.device)
